package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n1")
	if out := tr.mustRun("clean"); out != "Nothing to clean\n" {
		t.Errorf("clean of a clean tree: %q", out)
	}
	stale := filepath.Join(tr.root, "var/warewulf/provision/overlays/gone.pack")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := tr.mustRun("clean", "--dry-run")
	if !strings.HasPrefix(out, "Would remove "+stale+" (overlay images of a node no longer in nodes.conf)") {
		t.Errorf("clean --dry-run: %q", out)
	}
	if out := tr.mustRun("clean"); !strings.HasPrefix(out, "Removed "+stale) {
		t.Errorf("clean: %q", out)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("not removed")
	}
}
