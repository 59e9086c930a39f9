// Package harness holds what the benchmark programs share.
package harness

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildWwctl builds ./cmd/wwctl of the enclosing module into path.
func BuildWwctl(ctx context.Context, path string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return errors.New("not inside a Go module: run from the repository or give -wwctl")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./cmd/wwctl")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/wwctl: %w\n%s", err, out)
	}
	return nil
}
