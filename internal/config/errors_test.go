package config

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want []string // one line per problem, without the "test.conf:" prefix
	}{
		// Syntax.
		{"syntax: bad indentation", text("warewulf:", "  port: 1", " secure: true"),
			[]string{"3: did not find expected key"}},
		{"syntax: unclosed flow list", text("ssh:", "  key types: [rsa", "nfs:"),
			[]string{"2: did not find expected ',' or ']'"}},
		{"syntax: list item in mapping", text("a: 1", "b: 2", "- x"),
			[]string{"3: did not find expected key"}},
		{"syntax: error on first line", text("[a, b}"),
			[]string{"1: did not find expected ',' or ']'"}},
		{"syntax: mapping in plain value", text("comment: a", "fqdn: b: c"),
			[]string{"2: mapping values are not allowed in this context"}},
		{"syntax: tab indentation", text("warewulf:", "\tport: 1"),
			[]string{"2: found character that cannot start any token"}},
		{"syntax: second document", text("ipaddr: 10.0.0.1", "---", "ipaddr: 10.0.0.2"),
			[]string{"2: only one YAML document is allowed"}},
		{"syntax: third document", text("ipaddr: 10.0.0.1", "---", "---", "ipaddr: 10.0.0.2"),
			[]string{"3: only one YAML document is allowed"}},
		{"syntax: unknown anchor", text("comment: x", "fqdn: *nothing"),
			[]string{"2: unknown anchor 'nothing' referenced"}},

		// Shape of the document.
		{"duplicate section", text("warewulf:", "  port: 1", "dhcp:", "  enabled: true", "warewulf:", "  tls: true"),
			[]string{`5: duplicate key "warewulf" (first on line 1)`}},
		{"unknown key in list item", text("nfs:", "  export paths:", "    - path: /home", "    - pth: /opt"),
			[]string{`4: nfs.export paths[1].path: "" is not an absolute path`}},
		{"duplicate key", text("warewulf:", "  port: 1", "  port: 2"),
			[]string{`3: duplicate key "warewulf.port" (first on line 2)`}},
		{"duplicate ipxe code", text("tftp:", "  ipxe:", "    \"00:07\": a", "    00:07: b"),
			[]string{`4: duplicate key "tftp.ipxe.00:07" (first on line 3)`}},
		{"top level not a mapping", text("- a", "- b"),
			[]string{`1: the top level: expected a mapping, got a list`}},
		{"section not a mapping", text("warewulf: 9873"),
			[]string{`1: warewulf: expected a mapping, got "9873"`}},
		{"list expected", text("ssh:", "  key types: rsa"),
			[]string{`2: ssh.key types: expected a list, got "rsa"`}},
		{"single value expected", text("comment:", "  - a"),
			[]string{`2: comment: expected a single value, got a list`}},
		{"ipxe not a mapping", text("tftp:", "  ipxe: [a]"),
			[]string{`2: tftp.ipxe: expected a mapping, got a list`}},
		{"ipxe value not a value", text("tftp:", "  ipxe:", "    \"00:07\": [a]"),
			[]string{`3: tftp.ipxe.00:07: expected a single value, got a list`}},
		{"ipxe empty value", text("tftp:", "  ipxe:", "    \"00:07\":"),
			[]string{`3: tftp.ipxe.00:07: empty value`}},
		{"key not plain text", text("warewulf:", "  [a]: 1"),
			[]string{`2: warewulf: a key must be plain text, got a list`}},

		// Types.
		{"not a number", text("ipaddr: 10.0.0.1", "netmask: 255.255.255.0", "dhcp:", "  enabled: true",
			"warewulf:", "  port: abc"), []string{`6: warewulf.port: "abc" is not a number`}},
		{"fraction is not a number", text("warewulf:", "  update interval: 1.5"),
			[]string{`2: warewulf.update interval: "1.5" is not a number`}},
		{"not a boolean", text("warewulf:", "  secure: maybe"),
			[]string{`2: warewulf.secure: "maybe" is not a boolean (true or false)`}},
		{"boolean in list item", text("image mounts:", "  - source: /a", "    copy: 1"),
			[]string{`3: image mounts[0].copy: "1" is not a boolean (true or false)`}},

		// Addresses.
		{"bad ipaddr", text("ipaddr: 10.0.0.300"), []string{`1: ipaddr: "10.0.0.300" is not an IPv4 address`}},
		{"ipv6 ipaddr", text("ipaddr: fd00::1"), []string{`1: ipaddr: "fd00::1" is not an IPv4 address`}},
		{"bad ipaddr cidr", text("ipaddr: 10.0.0.1/33"), []string{`1: ipaddr: "10.0.0.1/33" is not an IPv4 address`}},
		{"bad netmask", text("netmask: 255.255.256.0"), []string{`1: netmask: "255.255.256.0" is not a valid netmask`}},
		{"non-contiguous netmask", text("netmask: 255.0.255.0"), []string{`1: netmask: "255.0.255.0" is not a valid netmask`}},
		{"bad network", text("network: 10.0.0"), []string{`1: network: "10.0.0" is not an IPv4 address`}},
		{"bad ipaddr6", text("ipaddr6: fd00::g"), []string{`1: ipaddr6: "fd00::g" is not an IPv6 address`}},
		{"ipv4 ipaddr6", text("ipaddr6: 10.0.0.1"), []string{`1: ipaddr6: "10.0.0.1" is not an IPv6 address`}},
		{"zoned ipaddr6", text("ipaddr6: fe80::1%eth0"), []string{`1: ipaddr6: "fe80::1%eth0" is not an IPv6 address`}},
		{"bad range start", text("dhcp:", "  range start: 10.0.1", "  range end: 10.0.1.9"),
			[]string{`2: dhcp.range start: "10.0.1" is not an IPv4 address`}},
		{"bad range6 end", text("dhcp:", "  range6 start: fd00::10", "  range6 end: 10.0.0.1"),
			[]string{`3: dhcp.range6 end: "10.0.0.1" is not an IPv6 address`}},
		{"bad allowed subnet", text("api:", "  allowed subnets:", "    - 10.0.0.0/8", "    - 192.168.1.1"),
			[]string{`4: api.allowed subnets[1]: "192.168.1.1" is not a CIDR subnet like 10.0.0.0/8`}},

		// Ranges.
		{"range start after end", text("dhcp:", "  range start: 10.0.1.9", "  range end: 10.0.1.1"),
			[]string{`2: dhcp.range start: 10.0.1.9 is after dhcp.range end 10.0.1.1`}},
		{"networks: overlapping", text("network: 10.0.0.0", "netmask: 255.255.0.0", "dhcp:", "  networks:",
			"    - network: 10.1.0.0", "      netmask: 255.255.255.0",
			"    - network: 10.0.5.0", "      netmask: 255.255.255.0",
			"    - network: 10.1.0.128", "      netmask: 255.255.255.128"),
			[]string{`7: dhcp.networks[1].network: 10.0.5.0/24 overlaps network (10.0.0.0/16): a request could not tell which network it is from`,
				`9: dhcp.networks[2].network: 10.1.0.128/25 overlaps dhcp.networks[0] (10.1.0.0/24): a request could not tell which network it is from`}},
		{"networks: range and gateway outside the network", text("dhcp:", "  networks:",
			"    - network: 10.1.0.0", "      netmask: 255.255.255.0", "      range start: 10.1.0.10", "      range end: 10.1.1.10",
			"      gateway: 10.2.0.1"),
			[]string{`6: dhcp.networks[0].range end: 10.1.1.10 is outside the network 10.1.0.0/24`,
				`7: dhcp.networks[0].gateway: 10.2.0.1 is outside the network 10.1.0.0/24`}},
		{"networks: missing netmask, half a range, host bits", text("dhcp:", "  networks:",
			"    - network: 10.1.0.0", "      range start: 10.1.0.10",
			"    - network: 10.2.0.1", "      netmask: 255.255.0.0"),
			[]string{`3: dhcp.networks[0].netmask: must be set`, `4: dhcp.networks[0].range end: must be set when dhcp.networks[0].range start is`,
				`5: dhcp.networks[1].network: 10.2.0.1 is not the first address of its network with netmask 255.255.0.0 (10.2.0.0/16)`}},
		{"interfaces: bad name, listed twice", text("dhcp:", "  interface: eth0, eth0.1000 eth0 averyveryverylongname"),
			[]string{`2: dhcp.interface: "eth0" is listed twice`,
				`2: dhcp.interface: "averyveryverylongname" is not an interface name (at most 15 characters, no / or :)`}},
		{"range without start", text("dhcp:", "  enabled: true", "  range end: 10.0.1.1"),
			[]string{`3: dhcp.range start: must be set when dhcp.range end is`}},
		{"range without end", text("dhcp:", "  range start: 10.0.1.1"),
			[]string{`2: dhcp.range end: must be set when dhcp.range start is`}},
		{"range6 start after end", text("dhcp:", "  range6 start: fd00::ff", "  range6 end: fd00::1"),
			[]string{`2: dhcp.range6 start: fd00::ff is after dhcp.range6 end fd00::1`}},

		// Numbers out of range.
		{"port zero", text("warewulf:", "  port: 0"), []string{`2: warewulf.port: 0 is out of range 1-65535`}},
		{"tls port too big", text("warewulf:", "  tls port: 65536"), []string{`2: warewulf.tls port: 65536 is out of range 1-65535`}},
		{"wwclient port negative", text("wwclient:", "  port: -1"), []string{`2: wwclient.port: -1 is out of range 0-65535`}},
		{"prefixlen6", text("prefixlen6: 129"), []string{`1: prefixlen6: 129 is out of range 0-128`}},
		{"update interval", text("warewulf:", "  update interval: -5"),
			[]string{`2: warewulf.update interval: -5 is negative (0 means wwclient's default of 300 s)`}},
		{"connection limits", text("warewulf:", "  max connections: 0", "  max connections per client: -1",
			"  idle connections per client: -2", "  idle timeout: 0"), []string{
			`2: warewulf.max connections: 0 is below the minimum of 1`,
			`3: warewulf.max connections per client: -1 is below the minimum of 1`,
			`4: warewulf.idle connections per client: -2 is below the minimum of 0`,
			`5: warewulf.idle timeout: 0 is below the minimum of 1`,
		}},
		{"login limits", text("api:", "  max failed logins: 0", "  failed login window: -60"), []string{
			`2: api.max failed logins: 0 is below the minimum of 1`,
			`3: api.failed login window: -60 is below the minimum of 1`,
		}},

		// Enumerations.
		{"dhcp mode", text("dhcp:", "  mode: relay"), []string{`2: dhcp.mode: "relay" is not one of embedded, proxy, external`}},
		{"tftp mode", text("tftp:", "  mode: proxy"), []string{`2: tftp.mode: "proxy" is not one of embedded, external`}},
		{"shim empty value", text("tftp:", "  shim:", "    \"00:07\": \"\""),
			[]string{`3: tftp.shim.00:07: empty value`}},

		// Paths.
		{"relative path", text("paths:", "  sysconfdir: etc"), []string{`2: paths.sysconfdir: "etc" is not an absolute path`}},
		{"relative localstatedir is reported once", text("paths:", "  localstatedir: var/lib"),
			[]string{`2: paths.localstatedir: "var/lib" is not an absolute path`}},
		{"relative derived path", text("paths:", "  wwchrootdir: chroots"),
			[]string{`2: paths.wwchrootdir: "chroots" is not an absolute path`}},
		{"relative tftproot", text("tftp:", "  tftproot: tftpboot"),
			[]string{`2: tftp.tftproot: "tftpboot" is not an absolute path`}},
		{"relative export path", text("nfs:", "  export paths:", "    - path: home"),
			[]string{`3: nfs.export paths[0].path: "home" is not an absolute path`}},
		{"relative mount", text("image mounts:", "  - source: etc/hosts", "    dest: /etc/hosts"),
			[]string{`2: image mounts[0].source: "etc/hosts" is not an absolute path`}},

		// Everything is reported, in line order.
		{"several problems", text(
			"ipaddr: 10.0.0.1/24",
			"warewulf:",
			"  prot: 9873",
			"  port: abc",
			"  secure: maybe",
			"dhcp:",
			"  mode: relay",
			"  range start: 10.0.0.50",
			"  range end: 10.0.5.1",
			"paths:",
			"  sysconfdir: etc",
		), []string{
			`4: warewulf.port: "abc" is not a number`,
			`5: warewulf.secure: "maybe" is not a boolean (true or false)`,
			`7: dhcp.mode: "relay" is not one of embedded, proxy, external`,
			`11: paths.sysconfdir: "etc" is not an absolute path`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Parse(tc.file, "test.conf")
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q", tc.want)
			}
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			var want []string
			for _, w := range tc.want {
				if w[0] >= '0' && w[0] <= '9' {
					want = append(want, "test.conf:"+w)
				} else {
					want = append(want, "test.conf: "+w)
				}
			}
			if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWarewulfForms: values and forms Warewulf's warewulf.conf reader
// takes load here too, those that only matter to one part of the server
// with a warning that names the key and says what is done with it.
func TestWarewulfForms(t *testing.T) {
	tests := []struct {
		name     string
		file     []byte
		warnings []string // without the "test.conf:" prefix
		check    func(*Config) string
	}{
		{"range outside the network", text("ipaddr: 10.0.0.1/24", "dhcp:", "  range start: 10.0.0.100", "  range end: 10.0.1.1"),
			[]string{`4: dhcp.range end: 10.0.1.1 is outside the network 10.0.0.0/24`},
			func(c *Config) string { return c.Dhcp.RangeEnd }},
		{"range6 outside the prefix", text("ipaddr6: fd00:1::1/64", "dhcp:", "  range6 start: fd00:1::10", "  range6 end: fd00:2::1"),
			[]string{`4: dhcp.range6 end: fd00:2::1 is outside the network fd00:1::/64`},
			func(c *Config) string { return c.Dhcp.Range6End }},
		{"other dhcp template", text("dhcp:", "  template: dynamic"),
			[]string{`2: dhcp.template: "dynamic" is not default or static; read as default`},
			func(c *Config) string { return c.Dhcp.Template }},
		{"other ssh key types", text("ssh:", "  key types: [ed25519, dsb]", "  shared host keys: true"),
			[]string{`2: ssh.key types[1]: "dsb" is not one of ed25519, ecdsa, rsa, dsa; wwctl configure ssh skips it`},
			func(c *Config) string { return strings.Join(c.SSH.KeyTypes, ",") }},
		{"empty ssh key type", text("ssh:", "  key types:", "    - rsa", "    -"),
			[]string{`4: ssh.key types[1]: "" is not one of ed25519, ecdsa, rsa, dsa; wwctl configure ssh skips it`},
			func(c *Config) string { return strings.Join(c.SSH.KeyTypes, ",") }},
		{"netmask as a prefix length", text("ipaddr: 10.0.0.1", "netmask: 24"),
			[]string{`2: netmask: "24" is a prefix length; read as 255.255.255.0`},
			func(c *Config) string { return c.Netmask + " " + c.Network }},
		{"netmask as /bits", text("ipaddr: 10.0.0.1", "network: 10.0.0.0", "netmask: /16"),
			[]string{`3: netmask: "/16" is a prefix length; read as 255.255.0.0`},
			func(c *Config) string { return c.Netmask + " " + c.Network }},
		{"ipxe key that is no architecture code", text("tftp:", "  ipxe:", "    \"00:07\": a.efi", "    \"7\": b.efi"),
			[]string{`4: tftp.ipxe: "7" is not an architecture code like "00:0B"; left out`},
			func(c *Config) string { return fmt.Sprint(c.Tftp.IpxeBinaries) }},
		{"grub key that is no architecture code", text("tftp:", "  grub:", "    \"x64\": grubx64.efi", "    \"00:0b\": grubaa64.efi"),
			[]string{`3: tftp.grub: "x64" is not an architecture code like "00:0B"; left out`},
			func(c *Config) string { return fmt.Sprint(c.Tftp.GrubBinaries) }},
		{"container mounts after image mounts", text("image mounts:", "  - source: /a", "container mounts:", "  - source: /b"),
			[]string{
				`3: "container mounts" is the old name of "image mounts"; read as "image mounts" (` + UpgradeHint + `)`,
				`3: container mounts is ignored: image mounts (line 1) is given too`,
			},
			func(c *Config) string { return c.ImageMounts[0].Source }},
		{"container mounts before image mounts", text("container mounts:", "  - source: /b", "image mounts:", "  - source: /a"),
			[]string{
				`1: "container mounts" is the old name of "image mounts"; read as "image mounts" (` + UpgradeHint + `)`,
				`1: container mounts is ignored: image mounts (line 3) is given too`,
			},
			func(c *Config) string { return fmt.Sprintf("%d %s", len(c.ImageMounts), c.ImageMounts[0].Source) }},
		{"yaml 1.1 booleans", text("warewulf:", "  secure: n", "  tls: Y", "api:", "  enabled: off"), nil,
			func(c *Config) string { return fmt.Sprint(c.Warewulf.Secure, c.Warewulf.TLS, c.API.Enabled) }},
		{"integers with a base", text("warewulf:", "  port: 0x2691", "  update interval: 0o17", "  tls port: 0b1000000000000000", "wwclient:", "  port: 0987"), nil,
			func(c *Config) string {
				return fmt.Sprint(c.Warewulf.Port, c.Warewulf.UpdateInterval, c.Warewulf.TLSPort, c.Wwclient.Port)
			}},
		{"merge keys", text(
			"defaults: &port",
			"  port: 9999",
			"  secure: false",
			"extra: &tls",
			"  tls: true",
			"  port: 1",
			"warewulf:",
			"  <<: [*port, *tls]",
			"  secure: true",
		), []string{`1: unknown key "defaults"; ignored`, `4: unknown key "extra"; ignored`},
			func(c *Config) string { return fmt.Sprint(c.Warewulf.Port, c.Warewulf.Secure, c.Warewulf.TLS) }},
		{"trailing document markers", text("ipaddr: 10.0.0.1", "---", "---"), nil,
			func(c *Config) string { return c.Ipaddr }},
	}
	want := map[string]string{
		"range outside the network":             "10.0.1.1",
		"range6 outside the prefix":             "fd00:2::1",
		"other dhcp template":                   "dynamic",
		"other ssh key types":                   "ed25519,dsb",
		"empty ssh key type":                    "rsa,",
		"netmask as a prefix length":            "255.255.255.0 10.0.0.0",
		"netmask as /bits":                      "255.255.0.0 10.0.0.0",
		"ipxe key that is no architecture code": "map[00:07:a.efi]",
		"grub key that is no architecture code": "map[00:0b:grubaa64.efi]",
		"container mounts after image mounts":   "/a",
		"container mounts before image mounts":  "1 /a",
		"yaml 1.1 booleans":                     "false true false",
		"integers with a base":                  "9873 15 32768 987",
		"merge keys":                            "9999 true true",
		"trailing document markers":             "10.0.0.1",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, warnings, err := Parse(tc.file, "test.conf")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			wantWarnings := []string{}
			for _, w := range tc.warnings {
				wantWarnings = append(wantWarnings, "test.conf:"+w)
			}
			if diff := cmp.Diff(wantWarnings, append([]string{}, warnings...)); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want[tc.name], tc.check(c)); diff != "" {
				t.Errorf("value (-want +got):\n%s", diff)
			}
		})
	}
}
