package site

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// openSite opens a site laid out in a temporary directory, and returns
// that directory.
func openSite(t *testing.T, env map[string]string) (*Site, string) {
	t.Helper()
	in := sitetest.New(t, "")
	s, err := Open(Options{Config: in.Config, Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	return s, in.Root
}

func TestPathsFollowTheConfiguration(t *testing.T) {
	s, root := openSite(t, nil)
	got := map[string]string{
		"nodes.conf": s.NodesConf(), "auth.conf": s.AuthConf(), "bootstrap.conf": s.BootstrapConf(),
		"keys": s.KeysDir(), "node keys": s.NodeKeysDir("n1"), "tls key": s.TLSKey(), "tls cert": s.TLSCert(),
		"ipxe": s.IpxeTemplateDir(), "known hosts": s.KnownHosts(), "passwd": s.HostPasswd(), "group": s.HostGroup(),
		"token": s.TokenKey(), "status": s.StatusFile(), "leases": s.LeaseFile(), "overlay images": s.OverlayImageDir(),
		"cache": s.CacheDir(), "chroots": s.Images().Chroots, "site overlays": s.Overlays().Site,
		"dist overlays": s.Overlays().Dist,
	}
	want := map[string]string{
		"nodes.conf": root + "/etc/warewulf/nodes.conf", "auth.conf": root + "/etc/warewulf/auth.conf",
		"bootstrap.conf": root + "/etc/warewulf/bootstrap.conf", "keys": root + "/etc/warewulf/keys",
		"node keys": root + "/etc/warewulf/keys/nodes/n1", "tls key": root + "/etc/warewulf/tls/warewulf.key",
		"tls cert": root + "/etc/warewulf/tls/warewulf.crt", "ipxe": root + "/etc/warewulf/ipxe",
		"known hosts": root + "/etc/ssh/ssh_known_hosts", "passwd": root + "/etc/passwd", "group": root + "/etc/group",
		"token": root + "/var/warewulf/token.key", "status": root + "/var/warewulf/status.json",
		"leases": root + "/var/warewulf/dhcp.leases", "overlay images": root + "/var/warewulf/provision/overlays",
		"cache": root + "/cache", "chroots": root + "/var/warewulf/chroots", "site overlays": root + "/var/warewulf/overlays",
		"dist overlays": root + "/share/warewulf/overlays",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}

func TestRenderOptionsEpoch(t *testing.T) {
	tests := []struct {
		name    string
		epoch   string
		want    int64
		wantErr bool
	}{
		{name: "unset"},
		{name: "set", epoch: "1700000000", want: 1700000000},
		{name: "not a number", epoch: "yesterday", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openSite(t, map[string]string{"SOURCE_DATE_EPOCH": tt.epoch})
			opts, err := s.RenderOptions()
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			var got int64
			if opts.Epoch != nil {
				got = opts.Epoch.Unix()
			}
			if got != tt.want {
				t.Errorf("epoch %d, want %d", got, tt.want)
			}
		})
	}
}

// TestSysconfdirKeepsHostFilesAtRoot: as in Warewulf, paths.sysconfdir
// (/usr/local/etc in a source install) locates only warewulf/; the
// server's own files stay in /etc unless paths.hostroot moves them.
func TestSysconfdirKeepsHostFilesAtRoot(t *testing.T) {
	tests := []struct {
		name, paths, etc string
	}{
		{"source install", "paths:\n  sysconfdir: /usr/local/etc\n", "/etc"},
		{"trial under a prefix", "paths:\n  sysconfdir: /usr/local/etc\n  hostroot: /tmp/trial\n", "/tmp/trial/etc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, warnings, err := config.Parse([]byte(tc.paths), "warewulf.conf")
			if err != nil || len(warnings) > 0 {
				t.Fatalf("Parse: %v %q", err, warnings)
			}
			s, err := Open(Options{Config: cfg})
			if err != nil {
				t.Fatal(err)
			}
			hosts, err := s.hostPath("etc/hosts")
			if err != nil {
				t.Fatal(err)
			}
			opts, err := s.RenderOptions()
			if err != nil {
				t.Fatal(err)
			}
			got := []string{s.NodesConf(), hosts, s.HostExports(), s.KnownHosts(), s.HostPasswd(), s.HostGroup(), opts.HostRoot}
			hostRoot := ""
			if tc.etc != "/etc" {
				hostRoot = filepath.Dir(tc.etc)
			}
			want := []string{"/usr/local/etc/warewulf/nodes.conf", tc.etc + "/hosts", tc.etc + "/exports",
				tc.etc + "/ssh/ssh_known_hosts", tc.etc + "/passwd", tc.etc + "/group", hostRoot}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
}
