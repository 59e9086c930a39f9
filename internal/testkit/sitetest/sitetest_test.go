package sitetest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEverythingUnderRoot(t *testing.T) {
	in := New(t, "warewulf:\n  port: 9999\n")
	c := in.Config
	if c.Warewulf.Port != 9999 || c.Ipaddr != "" {
		t.Errorf("conf not applied: port %d ipaddr %q", c.Warewulf.Port, c.Ipaddr)
	}
	for name, p := range map[string]string{"sysconfdir": c.Paths.Sysconfdir, "localstatedir": c.Paths.Localstatedir,
		"datadir": c.Paths.Datadir, "cachedir": c.Paths.Cachedir, "wwoverlaydir": c.Paths.Wwoverlaydir,
		"wwchrootdir": c.Paths.Wwchrootdir, "wwprovisiondir": c.Paths.Wwprovisiondir, "nodes.conf": c.NodesConf()} {
		if !strings.HasPrefix(p, in.Root+string(filepath.Separator)) {
			t.Errorf("%s = %s, not under %s", name, p, in.Root)
		}
	}
	in.WriteNodes(t, "nodes: {}\n")
	p := in.SiteOverlay(t, "o", "etc/x", "x\n")
	data, err := os.ReadFile(p)
	if err != nil || string(data) != "x\n" {
		t.Errorf("overlay file: %q %v", data, err)
	}
	if diff := cmp.Diff(filepath.Join(c.Paths.Wwoverlaydir, "o", "rootfs", "etc", "x"), p); diff != "" {
		t.Error(diff)
	}
}

func TestWriteModeIgnoresUmask(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a", "b")
	WriteMode(t, p, "s", 0o600)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
}
