package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSiteFile46(t *testing.T) {
	c, warnings, err := Load(filepath.Join("testdata", "site-4.6.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	want := Default()
	want.Comment = "hpc1 provisioning"
	want.Ipaddr = "10.0.0.1"
	want.Netmask = "255.255.252.0"
	want.Network = "10.0.0.0"
	want.Fqdn = "head.hpc1.example.org"
	want.Warewulf.Secure = false
	want.Warewulf.SecureFiles = false
	want.Warewulf.SystemdName = "warewulfd"
	want.Dhcp.RangeStart = "10.0.1.1"
	want.Dhcp.RangeEnd = "10.0.1.255"
	want.Nfs.ExportPaths = []ExportPath{
		{Path: "/home", ExportOptions: "rw,sync"},
		{Path: "/opt", ExportOptions: "ro,sync,no_root_squash"},
	}
	want.ImageMounts = []MountEntry{{Source: "/etc/resolv.conf", Dest: "/etc/resolv.conf", ReadOnly: true}}
	want.SSH.KeyTypes = []string{"ed25519", "ecdsa", "rsa", "dsa"}
	want.Paths.Ipxesource = "/usr/share/ipxe"
	want.Paths.Srvdir = "/var/lib"
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLegacyKeys(t *testing.T) {
	path := filepath.Join("testdata", "site-4.5.conf")
	c, warnings, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	hint := " (" + UpgradeHint + ")"
	wantWarnings := []string{
		path + `:1: WW_INTERNAL is no longer used; ignored` + hint,
		path + `:11: warewulf.syslog is no longer used; ignored` + hint,
		path + `:12: warewulf.datastore is the old form; read as "paths.datadir" if that is not set` + hint,
		path + `:31: nfs.export paths[0].mount options is no longer used; ignored` + hint,
		path + `:32: nfs.export paths[0].mount is no longer used; ignored` + hint,
		path + `:35: nfs.export paths[1].mount options is no longer used; ignored` + hint,
		path + `:36: nfs.export paths[1].mount is no longer used; ignored` + hint,
		path + `:38: "container mounts" is the old name of "image mounts"; read as "image mounts"` + hint,
	}
	if diff := cmp.Diff(wantWarnings, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	want := Default()
	want.Ipaddr = "192.168.200.1"
	want.Netmask = "255.255.255.0"
	want.Network = "192.168.200.0"
	want.Warewulf.Secure = false
	want.Warewulf.SecureFiles = false
	want.Dhcp.RangeStart = "192.168.200.50"
	want.Dhcp.RangeEnd = "192.168.200.99"
	want.Nfs.ExportPaths = []ExportPath{
		{Path: "/home", ExportOptions: "rw,sync"},
		{Path: "/opt", ExportOptions: "ro,sync,no_root_squash"},
	}
	want.ImageMounts = []MountEntry{{Source: "/etc/resolv.conf", Dest: "/etc/resolv.conf", ReadOnly: true}}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A legacy key is recognised only where older releases wrote it:
// elsewhere it is an unknown key, not "no longer used".
func TestLegacyOnlyAtTheirPlace(t *testing.T) {
	_, warnings, err := Parse(text("dhcp:", "  datastore: /x", "mount: true"), "test.conf")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`test.conf:2: unknown key "dhcp.datastore"; ignored`, `test.conf:3: unknown key "mount"; ignored`}
	if diff := cmp.Diff(want, warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestCIDR(t *testing.T) {
	type net struct {
		Ipaddr, Netmask, Network, Ipaddr6 string
		Prefixlen6                        int
	}
	tests := []struct {
		name string
		file []byte
		want net
	}{
		{"plain address", text("ipaddr: 10.0.0.1"), net{Ipaddr: "10.0.0.1"}},
		{"ipv4 cidr", text("ipaddr: 10.0.0.1/24"), net{"10.0.0.1", "255.255.255.0", "10.0.0.0", "", 0}},
		{"ipv4 cidr /22", text("ipaddr: 10.0.2.1/22"), net{"10.0.2.1", "255.255.252.0", "10.0.0.0", "", 0}},
		{"ipv4 cidr /32", text("ipaddr: 10.0.0.1/32"), net{"10.0.0.1", "255.255.255.255", "10.0.0.1", "", 0}},
		{"ipv4 cidr /0", text("ipaddr: 10.0.0.1/0"), net{"10.0.0.1", "0.0.0.0", "0.0.0.0", "", 0}},
		{
			"explicit netmask and network win",
			text("ipaddr: 10.0.0.1/24", "netmask: 255.255.0.0", "network: 10.0.0.0"),
			net{"10.0.0.1", "255.255.0.0", "10.0.0.0", "", 0},
		},
		{"ipv6 cidr", text("ipaddr6: fd00::1/64"), net{Ipaddr6: "fd00::1", Prefixlen6: 64}},
		{"ipv6 plain", text("ipaddr6: fd00::1"), net{Ipaddr6: "fd00::1"}},
		{"explicit prefixlen6 wins", text("ipaddr6: fd00::1/64", "prefixlen6: 56"), net{Ipaddr6: "fd00::1", Prefixlen6: 56}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.file)
			got := net{c.Ipaddr, c.Netmask, c.Network, c.Ipaddr6, c.Prefixlen6}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestScalarForms(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want func(*Config)
	}{
		{"yes", text("api:", "  enabled: yes"), func(c *Config) { c.API.Enabled = true }},
		{"quoted true", text("api:", "  enabled: \"true\""), func(c *Config) { c.API.Enabled = true }},
		{"True", text("api:", "  enabled: True"), func(c *Config) { c.API.Enabled = true }},
		{"no", text("dhcp:", "  enabled: no"), func(c *Config) { c.Dhcp.Enabled = false }},
		{"quoted false", text("nfs:", "  enabled: 'false'"), func(c *Config) { c.Nfs.Enabled = false }},
		{"quoted number", text("warewulf:", "  port: \"8080\""), func(c *Config) { c.Warewulf.Port = 8080 }},
		{"number as text", text("comment: 42"), func(c *Config) { c.Comment = "42" }},
		{"unquoted arch codes", text("tftp:", "  ipxe:", "    00:09: a.efi", "    00:0b: b.efi"), func(c *Config) {
			c.Tftp.IpxeBinaries = map[string]string{"00:09": "a.efi", "00:0b": "b.efi"}
		}},
		{"empty ipxe map keeps defaults", text("tftp:", "  ipxe: {}"), func(*Config) {}},
		{"export options default", text("nfs:", "  export paths:", "    - path: /scratch"), func(c *Config) {
			c.Nfs.ExportPaths = []ExportPath{{Path: "/scratch", ExportOptions: DefaultExportOptions}}
		}},
		{"empty list", text("api:", "  allowed subnets: []"), func(c *Config) { c.API.AllowedSubnets = []string{} }},
		{"limits", text("dhcp:", "  offers per second: 50", "tftp:", "  max transfers: 1024", "  transfers per client: 4"), func(c *Config) {
			c.Dhcp.OffersPerSecond, c.Tftp.MaxTransfers, c.Tftp.TransfersPerClient = 50, 1024, 4
		}},
		{"redfish ca", text("ipmi:", "  redfish ca: /etc/warewulf/redfish-ca.pem"), func(c *Config) {
			c.IPMI.RedfishCA = "/etc/warewulf/redfish-ca.pem"
		}},
		{"redfish insecure", text("ipmi:", "  redfish insecure: true"), func(c *Config) { c.IPMI.RedfishInsecure = true }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := Default()
			tc.want(want)
			if diff := cmp.Diff(want, mustParse(t, tc.file)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestAliasIsFollowed(t *testing.T) {
	c := mustParse(t, text(
		"dhcp:",
		"  systemd name: &svc dnsmasq",
		"tftp:",
		"  systemd name: *svc",
	))
	if c.Tftp.SystemdName != "dnsmasq" {
		t.Errorf("tftp.systemd name = %q, want dnsmasq", c.Tftp.SystemdName)
	}
}

func TestValidateZeroConfig(t *testing.T) {
	if err := (&Config{}).Validate(); err == nil {
		t.Error("Validate() of a zero Config = nil, want an error")
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "warewulf.conf"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) error = %v, want fs.ErrNotExist", err)
	}
}

func TestLoadNamesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warewulf.conf")
	if err := os.WriteFile(path, text("warewulf:", "  port: abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Load(path)
	want := path + `:2: warewulf.port: "abc" is not a number`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"default is valid", func(*Config) {}, ""},
		{"port", func(c *Config) { c.Warewulf.Port = 0 }, "warewulf.port: 0 is out of range 1-65535"},
		{"derived path", func(c *Config) { c.Paths.Wwoverlaydir = "" }, `paths.wwoverlaydir: "" is not an absolute path`},
		{"mode", func(c *Config) { c.Dhcp.Mode = "" }, `dhcp.mode: "" is not one of embedded, proxy, external`},
		{"image import limit", func(c *Config) { c.ImageImport.MaxDepth = 0 }, "image import.max depth: 0 is below the minimum of 1"},
		{"ipmi timeout", func(c *Config) { c.IPMI.Timeout = 0 }, "ipmi.timeout: 0 is below the minimum of 1"},
		{"redfish ca relative", func(c *Config) { c.IPMI.RedfishCA = "ca.pem" }, `ipmi.redfish ca: "ca.pem" is not an absolute path`},
		{"redfish ca and insecure", func(c *Config) { c.IPMI.RedfishCA = "/etc/ca.pem"; c.IPMI.RedfishInsecure = true },
			"ipmi.redfish insecure: true skips the verification that ipmi.redfish ca (/etc/ca.pem) is for: set one of them"},
		{"redfish ca", func(c *Config) { c.IPMI.RedfishCA = "/etc/ca.pem" }, ""},
		{"redfish insecure", func(c *Config) { c.IPMI.RedfishInsecure = true }, ""},
		{"ipaddr in cidr form", func(c *Config) { c.Ipaddr = "10.0.0.1/24" }, `ipaddr: "10.0.0.1/24" is not an IPv4 address`},
		{"offer hold", func(c *Config) { c.Dhcp.OfferHold = 0 }, "dhcp.offer hold: 0 is below the minimum of 1"},
		{"offer rates", func(c *Config) {
			c.Dhcp.OffersPerSecond = -1
			c.Dhcp.ClientOffersPerMinute = 0
		}, "dhcp.offers per second: -1 is below the minimum of 1\ndhcp.client offers per minute: 0 is below the minimum of 1"},
		{"tftp transfers", func(c *Config) { c.Tftp.MaxTransfers = 0 }, "tftp.max transfers: 0 is below the minimum of 1"},
		{"tftp transfers per client above the total", func(c *Config) { c.Tftp.TransfersPerClient = 600 },
			"tftp.transfers per client: 600 is more than tftp.max transfers (512): one client could take every transfer"},
		{"several", func(c *Config) {
			c.Tftp.Mode = "proxy"
			c.Wwclient.Port = 65536
		}, "tftp.mode: \"proxy\" is not one of embedded, external\nwwclient.port: 65536 is out of range 0-65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.change(c)
			got := ""
			if err := c.Validate(); err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate() (-want +got):\n%s", diff)
			}
		})
	}
}

// An unknown or misspelt key is a warning naming its line and key, as in
// Warewulf, and the rest of the file still applies.
func TestUnknownKeysWarn(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		warnings []string
		port     int
	}{
		{"misspelt key in a section", "warewulf:\n  prot: 9999\n  port: 9874\n",
			[]string{`test.conf:2: unknown key "warewulf.prot"; ignored`}, 9874},
		{"unknown top-level key", "ipadr: 10.0.0.1\n",
			[]string{`test.conf:1: unknown key "ipadr"; ignored`}, 9873},
		{"unknown key in a list item", "image mounts:\n  - source: /a\n    readonly: true\n    rw: false\n",
			[]string{`test.conf:4: unknown key "image mounts[0].rw"; ignored`}, 9873},
		{"a newer release's section", "warewulf:\n  port: 9875\nfuture:\n  key: value\n",
			[]string{`test.conf:3: unknown key "future"; ignored`}, 9875},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, warnings, err := Parse([]byte(tc.file), "test.conf")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.warnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if c.Warewulf.Port != tc.port {
				t.Errorf("warewulf.port = %d, want %d", c.Warewulf.Port, tc.port)
			}
		})
	}
}

// TestUpgradeOldFiles converts warewulf.conf files of Warewulf 4.2 and
// 4.5: they load with warnings naming "wwctl upgrade config", and the
// converted file loads without a warning to the same configuration.
func TestUpgradeOldFiles(t *testing.T) {
	for _, version := range []string{"4.2", "4.5"} {
		t.Run(version, func(t *testing.T) {
			file := filepath.Join("testdata", "site-"+version+".conf")
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			old, warnings, err := Parse(data, "warewulf.conf")
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) == 0 {
				t.Fatal("no warnings")
			}
			for _, w := range warnings {
				if !strings.HasSuffix(w, "("+UpgradeHint+")") {
					t.Errorf("warning does not name the upgrade: %s", w)
				}
			}
			u, err := Upgrade(data, "warewulf.conf")
			if err != nil {
				t.Fatal(err)
			}
			goldenFile(t, filepath.Join("testdata", "site-"+version+".upgraded.conf"), u.Data)
			goldenFile(t, filepath.Join("testdata", "site-"+version+".changes"), []byte(strings.Join(u.Changes, "\n")+"\n"))
			current, warnings, err := Parse(u.Data, "warewulf.conf")
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) > 0 || len(u.Warnings) > 0 {
				t.Errorf("the upgraded file warns: %q", warnings)
			}
			if diff := cmp.Diff(old, current); diff != "" {
				t.Errorf("configuration (-old +upgraded):\n%s", diff)
			}
		})
	}
}

func TestLegacyNFSMounts(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []LegacyMount
	}{
		{"site-4.2.conf", []LegacyMount{{Path: "/home"}, {Path: "/var/warewulf"}}},
		{"site-4.5.conf", []LegacyMount{{Path: "/home", MountOptions: "defaults"}}},
		{"site-4.6.conf", nil},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := LegacyNFSMounts(data, tc.file)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.file, diff)
		}
	}
}

func goldenFile(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestDhcpNetworks checks that dhcp.networks and a dhcp.interface of
// several names are read.
func TestDhcpNetworks(t *testing.T) {
	c := mustParse(t, text("ipaddr: 10.0.0.1/24", "dhcp:", "  interface: eth0, eth0.1000  eth1",
		"  range start: 10.0.0.100", "  range end: 10.0.0.199", "  networks:",
		"    - network: 10.0.16.0", "      netmask: 255.255.255.0", "      interface: eth0.1000", "      gateway: 10.0.16.254",
		"    - network: 10.2.0.0", "      netmask: 255.255.0.0", "      range start: 10.2.1.0", "      range end: 10.2.1.255"))
	want := []DhcpNetwork{
		{Network: "10.0.16.0", Netmask: "255.255.255.0", Gateway: "10.0.16.254", Interface: "eth0.1000"},
		{Network: "10.2.0.0", Netmask: "255.255.0.0", RangeStart: "10.2.1.0", RangeEnd: "10.2.1.255"},
	}
	if diff := cmp.Diff(want, c.Dhcp.Networks); diff != "" {
		t.Errorf("dhcp.networks (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"eth0", "eth0.1000", "eth1"}, c.Dhcp.Interfaces()); diff != "" {
		t.Errorf("dhcp.interface (-want +got):\n%s", diff)
	}
	p, err := c.Dhcp.Networks[1].Prefix()
	if err != nil || p.String() != "10.2.0.0/16" {
		t.Errorf("Prefix() = %v, %v; want 10.2.0.0/16", p, err)
	}
}

// A file without content upgrades to itself, as Warewulf's upgrade of
// an empty file gives an empty configuration.
func TestUpgradeEmptyFile(t *testing.T) {
	for _, tc := range []struct{ name, file string }{
		{"empty", ""},
		{"comments only", "# nothing set yet\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Upgrade([]byte(tc.file), "warewulf.conf")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.file, string(u.Data)); diff != "" {
				t.Errorf("upgraded (-want +got):\n%s", diff)
			}
			if len(u.Changes) > 0 || len(u.Warnings) > 0 {
				t.Errorf("changes %q, warnings %q", u.Changes, u.Warnings)
			}
		})
	}
}
