// Package harness holds what the benchmark programs share.
package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// BuildWwctl builds ./cmd/wwctl of the enclosing module into path, and
// wwclient beside it, where wwctl finds the binary the wwclient overlay
// ships (static, as make build makes it).
func BuildWwctl(ctx context.Context, path string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	if root == "." || root == "" {
		return errors.New("not inside a Go module: run from the repository or give -wwctl")
	}
	for _, b := range []struct{ pkg, out, cgo string }{
		{"./cmd/wwctl", path, ""},
		{"./cmd/wwclient", filepath.Join(filepath.Dir(path), "wwclient"), "CGO_ENABLED=0"},
	} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", b.out, b.pkg)
		cmd.Dir = root
		if b.cgo != "" {
			cmd.Env = append(os.Environ(), b.cgo)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %w\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// Median returns the middle of ds (the mean of the two middles when even).
func Median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// FmtDur prints d in seconds or milliseconds.
func FmtDur(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

// Main runs a benchmark program's run with its arguments and standard
// output, cancelled by SIGINT or SIGTERM, and exits 1 with the error
// prefixed by name when it fails.
func Main(name string, run func(ctx context.Context, args []string, out io.Writer) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
