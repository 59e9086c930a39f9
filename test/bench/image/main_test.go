package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunSmallTree runs the whole benchmark once on a tiny tree: every
// step must succeed and appear in the table. Its times mean nothing.
func TestRunSmallTree(t *testing.T) {
	for _, tool := range []string{"pigz", "zstd", "cpio", "tar", "find"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	root := t.TempDir()
	for name, body := range map[string]string{"etc/hostname": "node1\n", "usr/bin/tool": strings.Repeat("x", 100000)} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out strings.Builder
	if err := run(context.Background(), []string{"-root", root, "-runs", "1"}, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tree: " + root, "STEP", "tar | zstd", "Build zstd", "find | cpio", "Build gzip", "one walk", "nothing changed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
