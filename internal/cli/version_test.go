package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestVersionFull(t *testing.T) {
	tr := newTree(t, "")
	if out := tr.mustRun("version"); out != "wwctl version: devel\n" {
		t.Errorf("version: %q", out)
	}
	out := tr.mustRun("version", "--full")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	got := map[string]string{}
	for _, l := range lines {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Fatalf("line %q is not KEY=VALUE", l)
		}
		got[k] = v
	}
	for k, want := range map[string]string{
		"VERSION": "devel", "BASEVERSION": "devel", "RELEASE": "",
		"WWCHROOTDIR":    filepath.Join(tr.root, "var/warewulf/chroots"),
		"WWPROVISIONDIR": filepath.Join(tr.root, "var/warewulf/provision"),
		"WWOVERLAYDIR":   filepath.Join(tr.root, "var/warewulf/overlays"),
	} {
		if got[k] != want {
			t.Errorf("%s=%q, want %q", k, got[k], want)
		}
	}
	if len(lines) != 16 {
		t.Errorf("%d lines, want 16:\n%s", len(lines), out)
	}
}
