package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files")

// text joins lines into a file's content.
func text(lines ...string) []byte {
	return []byte(strings.Join(lines, "\n") + "\n")
}

// mustParse parses data that is expected to be valid.
func mustParse(t *testing.T, data []byte) *Config {
	t.Helper()
	c, _, err := Parse(data, "test.conf")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

func TestDefault(t *testing.T) {
	c := Default()
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"warewulf.port", c.Warewulf.Port, 9873},
		{"warewulf.tls port", c.Warewulf.TLSPort, 9874},
		{"warewulf.tls", c.Warewulf.TLS, false},
		{"warewulf.secure", c.Warewulf.Secure, true},
		{"warewulf.secure files", c.Warewulf.SecureFiles, true},
		{"warewulf.update interval", c.Warewulf.UpdateInterval, 60},
		{"warewulf.autobuild overlays", c.Warewulf.AutobuildOverlays, true},
		{"warewulf.host overlay", c.Warewulf.HostOverlay, true},
		{"warewulf.grubboot", c.Warewulf.GrubBoot, false},
		{"warewulf.systemd name", c.Warewulf.SystemdName, ""},
		{"warewulf.max connections", c.Warewulf.MaxConnections, 32768},
		{"warewulf.max connections per client", c.Warewulf.MaxClientConnections, 64},
		{"warewulf.idle connections per client", c.Warewulf.IdleClientConnections, 4},
		{"warewulf.idle timeout", c.Warewulf.IdleTimeout, 120},
		{"api.enabled", c.API.Enabled, false},
		{"api.allowed subnets", c.API.AllowedSubnets, []string{"127.0.0.0/8", "::1/128"}},
		{"api.max failed logins", c.API.MaxFailedLogins, 5},
		{"api.failed login window", c.API.FailedLoginWindow, 60},
		{"dhcp.enabled", c.Dhcp.Enabled, true},
		{"dhcp.mode", c.Dhcp.Mode, "embedded"},
		{"dhcp.interface", c.Dhcp.Interface, ""},
		{"dhcp.template", c.Dhcp.Template, "default"},
		{"dhcp.systemd name", c.Dhcp.SystemdName, "dhcpd"},
		{"dhcp.offer hold", c.Dhcp.OfferHold, 10},
		{"dhcp.offers per second", c.Dhcp.OffersPerSecond, 20},
		{"dhcp.client offers per minute", c.Dhcp.ClientOffersPerMinute, 10},
		{"tftp.max transfers", c.Tftp.MaxTransfers, 512},
		{"tftp.transfers per client", c.Tftp.TransfersPerClient, 8},
		{"tftp.enabled", c.Tftp.Enabled, true},
		{"tftp.mode", c.Tftp.Mode, "embedded"},
		{"tftp.tftproot", c.Tftp.TftpRoot, "/var/lib/tftpboot"},
		{"tftp.systemd name", c.Tftp.SystemdName, "tftp"},
		{"tftp.ipxe", c.Tftp.IpxeBinaries, map[string]string{
			"00:00": "undionly.kpxe",
			"00:07": "ipxe-snponly-x86_64.efi",
			"00:09": "ipxe-snponly-x86_64.efi",
			"00:0B": "arm64-efi/snponly.efi",
		}},
		{"tftp.shim", c.Tftp.ShimBinaries, map[string]string{"00:07": "shimx64.efi", "00:09": "shimx64.efi", "00:0B": "shimaa64.efi"}},
		{"tftp.grub", c.Tftp.GrubBinaries, map[string]string{"00:07": "grubx64.efi", "00:09": "grubx64.efi", "00:0B": "grubaa64.efi"}},
		{"nfs.enabled", c.Nfs.Enabled, true},
		{"nfs.export paths", c.Nfs.ExportPaths, []ExportPath{}},
		{"nfs.systemd name", c.Nfs.SystemdName, "nfs-server"},
		{"ssh.key types", c.SSH.KeyTypes, []string{"ed25519", "ecdsa", "rsa"}},
		{"ssh.shared host keys", c.SSH.SharedHostKeys, false},
		{"image mounts", c.ImageMounts, []MountEntry{{Source: "/etc/resolv.conf", Dest: "/etc/resolv.conf"}}},
		{"image import.max size gib", c.ImageImport.MaxSizeGiB, 64},
		{"image import.max entries", c.ImageImport.MaxEntries, 10_000_000},
		{"image import.max path length", c.ImageImport.MaxPathLength, 4096},
		{"image import.max depth", c.ImageImport.MaxDepth, 256},
		{"ipmi.timeout", c.IPMI.Timeout, 10},
		{"ipmi.redfish ca", c.IPMI.RedfishCA, ""},
		{"ipmi.redfish insecure", c.IPMI.RedfishInsecure, false},
		{"wwclient.port", c.Wwclient.Port, 0},
		{"paths.sysconfdir", c.Paths.Sysconfdir, "/etc"},
		{"paths.localstatedir", c.Paths.Localstatedir, "/var/lib"},
		{"paths.datadir", c.Paths.Datadir, "/usr/share"},
		{"paths.cachedir", c.Paths.Cachedir, "/var/cache"},
		{"paths.bindir", c.Paths.Bindir, "/usr/bin"},
		{"paths.srvdir", c.Paths.Srvdir, "/srv"},
		{"paths.firewallddir", c.Paths.Firewallddir, "/usr/lib/firewalld/services"},
		{"paths.systemddir", c.Paths.Systemddir, "/usr/lib/systemd/system"},
		{"paths.ipxesource", c.Paths.Ipxesource, "/usr/lib/ipxe"},
		{"paths.wwclientdir", c.Paths.Wwclientdir, "/warewulf"},
		{"paths.wwoverlaydir", c.Paths.Wwoverlaydir, "/var/lib/warewulf/overlays"},
		{"paths.wwchrootdir", c.Paths.Wwchrootdir, "/var/lib/warewulf/chroots"},
		{"paths.wwprovisiondir", c.Paths.Wwprovisiondir, "/var/lib/warewulf/provision"},
		{"paths.wwfilesdir", c.Paths.Wwfilesdir, "/var/lib/warewulf/files"},
		{"ConfDir", c.ConfDir(), "/etc/warewulf"},
		{"NodesConf", c.NodesConf(), "/etc/warewulf/nodes.conf"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("default (-want +got):\n%s", diff)
			}
		})
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
}

func TestDefaultIsFresh(t *testing.T) {
	a := Default()
	a.Tftp.IpxeBinaries["00:00"] = "changed"
	a.SSH.KeyTypes[0] = "changed"
	if diff := cmp.Diff(Default(), mustParse(t, nil)); diff != "" {
		t.Errorf("Default() shares state between calls (-want +got):\n%s", diff)
	}
}

func TestEmptyFile(t *testing.T) {
	tests := []struct {
		name string
		data string
	}{
		{"nothing", ""},
		{"comments only", "# nothing set\n"},
		{"null document", "~\n"},
		{"empty sections", "warewulf:\ndhcp:\ntftp:\npaths:\n"},
		{"empty values", "ipaddr:\nwarewulf:\n  port:\n  secure:\npaths:\n  localstatedir: \"\"\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustParse(t, []byte(tc.data))
			if diff := cmp.Diff(Default(), got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestShippedFileIsDefault(t *testing.T) {
	c, warnings, err := Parse(DefaultFile(), "warewulf.conf")
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Parse(shipped) warnings %q, error %v", warnings, err)
	}
	if diff := cmp.Diff(Default(), c); diff != "" {
		t.Errorf("shipped warewulf.conf differs from Default() (-want +got):\n%s", diff)
	}
}

func TestDerivedPaths(t *testing.T) {
	type paths struct {
		Overlay, Chroot, Provision, Files, TftpRoot, ConfDir, NodesConf string
	}
	tests := []struct {
		name string
		file []byte
		want paths
	}{
		{
			name: "defaults",
			want: paths{
				"/var/lib/warewulf/overlays", "/var/lib/warewulf/chroots", "/var/lib/warewulf/provision",
				"/var/lib/warewulf/files", "/var/lib/tftpboot", "/etc/warewulf", "/etc/warewulf/nodes.conf",
			},
		},
		{
			name: "relocated under a prefix",
			file: text(
				"paths:",
				"  sysconfdir: /opt/ww/etc",
				"  localstatedir: /opt/ww/var/lib",
				"  datadir: /opt/ww/share",
				"  cachedir: /opt/ww/cache",
			),
			want: paths{
				"/opt/ww/var/lib/warewulf/overlays", "/opt/ww/var/lib/warewulf/chroots",
				"/opt/ww/var/lib/warewulf/provision", "/opt/ww/var/lib/warewulf/files",
				"/opt/ww/var/lib/tftpboot", "/opt/ww/etc/warewulf", "/opt/ww/etc/warewulf/nodes.conf",
			},
		},
		{
			name: "trailing slash is cleaned",
			file: text("paths:", "  localstatedir: /srv/state/"),
			want: paths{
				"/srv/state/warewulf/overlays", "/srv/state/warewulf/chroots", "/srv/state/warewulf/provision",
				"/srv/state/warewulf/files", "/srv/state/tftpboot", "/etc/warewulf", "/etc/warewulf/nodes.conf",
			},
		},
		{
			name: "explicit derived paths win",
			file: text(
				"tftp:",
				"  tftproot: /srv/tftpboot",
				"paths:",
				"  localstatedir: /data",
				"  wwoverlaydir: /site/overlays",
				"  wwchrootdir: /site/chroots",
			),
			want: paths{
				"/site/overlays", "/site/chroots", "/data/warewulf/provision",
				"/data/warewulf/files", "/srv/tftpboot", "/etc/warewulf", "/etc/warewulf/nodes.conf",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.file)
			got := paths{
				c.Paths.Wwoverlaydir, c.Paths.Wwchrootdir, c.Paths.Wwprovisiondir, c.Paths.Wwfilesdir,
				c.Tftp.TftpRoot, c.ConfDir(), c.NodesConf(),
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRelocationLeavesOnlyPrefixedPaths(t *testing.T) {
	c := mustParse(t, text(
		"paths:",
		"  bindir: /p/bin",
		"  sysconfdir: /p/etc",
		"  localstatedir: /p/var/lib",
		"  cachedir: /p/cache",
		"  datadir: /p/share",
		"  srvdir: /p/srv",
		"  firewallddir: /p/firewalld",
		"  systemddir: /p/systemd",
		"  ipxesource: /p/ipxe",
	))
	p := c.Paths
	all := []string{
		p.Bindir, p.Sysconfdir, p.Localstatedir, p.Cachedir, p.Ipxesource, p.Srvdir, p.Firewallddir,
		p.Systemddir, p.Datadir, p.Wwoverlaydir, p.Wwchrootdir, p.Wwprovisiondir, p.Wwfilesdir,
		c.Tftp.TftpRoot, c.ConfDir(), c.NodesConf(),
	}
	for _, path := range all {
		if !strings.HasPrefix(path, "/p/") {
			t.Errorf("%q is not under the prefix /p", path)
		}
	}
}

func TestSecureFilesInheritsSecure(t *testing.T) {
	tests := []struct {
		name        string
		file        []byte
		secure      bool
		secureFiles bool
	}{
		{"unset", nil, true, true},
		{"secure false", text("warewulf:", "  secure: false"), false, false},
		{"explicit secure files", text("warewulf:", "  secure: false", "  secure files: true"), false, true},
		{"explicit both true", text("warewulf:", "  secure: true", "  secure files: false"), true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.file)
			got := [2]bool{c.Warewulf.Secure, c.Warewulf.SecureFiles}
			if diff := cmp.Diff([2]bool{tc.secure, tc.secureFiles}, got); diff != "" {
				t.Errorf("[secure, secure files] (-want +got):\n%s", diff)
			}
		})
	}
}

// TestUpdateIntervalZero: Warewulf sites may set 0, which wwclient takes
// as 300 s; the file keeps its 0.
func TestUpdateIntervalZero(t *testing.T) {
	for _, tc := range []struct {
		name      string
		file      []byte
		set, poll int
	}{
		{"unset", nil, 60, 60},
		{"zero", text("warewulf:", "  update interval: 0"), 0, 300},
		{"ten", text("warewulf:", "  update interval: 10"), 10, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.file)
			if diff := cmp.Diff([2]int{tc.set, tc.poll}, [2]int{c.Warewulf.UpdateInterval, c.Warewulf.PollSeconds()}); diff != "" {
				t.Errorf("[update interval, poll seconds] (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMarshalDefaultGolden(t *testing.T) {
	got, err := Default().Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "default.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("Marshal(Default()) (-golden +got):\n%s", diff)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		file []byte
	}{
		{"default", nil},
		{"shipped", DefaultFile()},
		{"site 4.6", readFile(t, "testdata/site-4.6.conf")},
		{"site 4.5", readFile(t, "testdata/site-4.5.conf")},
		{"everything set", text(
			"comment: \"all: keys\"",
			"ipaddr: 10.1.0.1/16",
			"ipaddr6: fd00:1::1/48",
			"fqdn: head",
			"warewulf:",
			"  tls: true",
			"  secure: no",
			"  systemd name: warewulfd",
			"api:",
			"  enabled: yes",
			"  allowed subnets: []",
			"dhcp:",
			"  mode: proxy",
			"  interface: eth1",
			"  template: static",
			"  range start: 10.1.1.1",
			"  range end: 10.1.1.200",
			"  range6 start: fd00:1::100",
			"  range6 end: fd00:1::1ff",
			"tftp:",
			"  mode: external",
			"  ipxe:",
			"    \"00:07\": /srv/ipxe/custom.efi",
			"nfs:",
			"  export paths:",
			"    - path: /home",
			"ssh:",
			"  key types: []",
			"  shared host keys: true",
			"image mounts: []",
			"wwclient:",
			"  port: 987",
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := mustParse(t, tc.file)
			out, err := first.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			second, warnings, err := Parse(out, "marshalled")
			if err != nil || len(warnings) > 0 {
				t.Fatalf("Parse(Marshal()) warnings %q, error %v\n%s", warnings, err, out)
			}
			if diff := cmp.Diff(first, second); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
			again, err := second.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, again) {
				t.Errorf("Marshal is not stable:\n%s\n---\n%s", out, again)
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
