package inventory

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf string
		want []string
	}{
		{
			name: "valid",
			conf: "nodeprofiles:\n  default: {}\nnodes:\n  n1: {profiles: [default], network devices: {default: {hwaddr: aa:bb:cc:dd:ee:ff, ipaddr: 10.0.0.1, netmask: 255.255.255.0}}}\n",
		},
		{
			name: "bad values name node, field and value",
			conf: "nodes:\n  n1:\n    network devices:\n      default: {hwaddr: aa:bb:cc:dd:ee, ipaddr: 10.0.0.300, netmask: 255.0.255.0, ipaddr6: 10.0.0.1, prefixlen6: \"129\", mtu: \"12\"}\n    ipmi: {port: \"70000\", write: maybe}\n    discoverable: perhaps\n",
			want: []string{
				`node "n1": Discoverable: "perhaps" is not a boolean (true, false, yes, no)`,
				`node "n1": Ipmi.Port: "70000" is not a port number (1-65535)`,
				`node "n1": Ipmi.Write: "maybe" is not a boolean (true, false, yes, no)`,
				`node "n1": NetDevs[default].Hwaddr: "aa:bb:cc:dd:ee" is not a hardware address (expected aa:bb:cc:dd:ee:ff)`,
				`node "n1": NetDevs[default].Ipaddr: "10.0.0.300" is not an IPv4 address`,
				`node "n1": NetDevs[default].Ipaddr6: "10.0.0.1" is not an IPv6 address`,
				`node "n1": NetDevs[default].MTU: "12" is not an MTU (68-65536)`,
				`node "n1": NetDevs[default].Netmask: "255.0.255.0" is not a valid netmask (the one bits must be contiguous)`,
				`node "n1": NetDevs[default].PrefixLen6: "129" is not an IPv6 prefix length (0-128)`,
			},
		},
		{
			name: "duplicate MAC across nodes, in any notation",
			conf: "nodes:\n  n1: {network devices: {default: {hwaddr: aa:bb:cc:dd:ee:ff}}}\n  n2: {network devices: {eth: {hwaddr: AA-BB-CC-DD-EE-FF}}}\n",
			want: []string{
				`node "n1": NetDevs[default].Hwaddr: "aa:bb:cc:dd:ee:ff" is also used by node "n2" (NetDevs[eth].Hwaddr)`,
				`node "n2": NetDevs[eth].Hwaddr: "aa:bb:cc:dd:ee:ff" is also used by node "n1" (NetDevs[default].Hwaddr)`,
			},
		},
		{
			name: "duplicate IP between a netdev and a BMC",
			conf: "nodes:\n  n1: {network devices: {default: {ipaddr: 10.0.0.1}}}\n  n2: {ipmi: {ipaddr: 10.0.0.1}}\n",
			want: []string{
				`node "n1": NetDevs[default].Ipaddr: "10.0.0.1" is also used by node "n2" (Ipmi.Ipaddr)`,
				`node "n2": Ipmi.Ipaddr: "10.0.0.1" is also used by node "n1" (NetDevs[default].Ipaddr)`,
			},
		},
		{
			name: "BMCs share an address on different ports",
			conf: "nodes:\n  n1: {ipmi: {ipaddr: 10.0.0.9}}\n  n2: {ipmi: {ipaddr: 10.0.0.9, port: \"624\"}}\n  n3: {ipmi: {ipaddr: 10.0.0.9, port: \"625\"}}\n",
		},
		{
			name: "BMCs on one address and port, the default one unset",
			conf: "nodes:\n  n1: {ipmi: {ipaddr: 10.0.0.9}}\n  n2: {ipmi: {ipaddr: 10.0.0.9, port: \"623\"}}\n  n3: {ipmi: {ipaddr: 10.0.0.9, port: \"624\"}}\n",
			want: []string{
				`node "n1": Ipmi.Ipaddr: "10.0.0.9" is also used by node "n2" (Ipmi.Ipaddr, port 623)`,
				`node "n2": Ipmi.Ipaddr: "10.0.0.9" is also used by node "n1" (Ipmi.Ipaddr, port 623)`,
			},
		},
		{
			name: "BMC on another node's device address, whatever its port",
			conf: "nodes:\n  n1: {ipmi: {ipaddr: 10.0.0.1, port: \"700\"}}\n  n2: {network devices: {default: {ipaddr: 10.0.0.1}}}\n",
			want: []string{
				`node "n1": Ipmi.Ipaddr: "10.0.0.1" is also used by node "n2" (NetDevs[default].Ipaddr)`,
				`node "n2": NetDevs[default].Ipaddr: "10.0.0.1" is also used by node "n1" (Ipmi.Ipaddr)`,
			},
		},
		{
			name: "inherited hardware address collides",
			conf: "nodeprofiles:\n  p: {network devices: {default: {hwaddr: aa:bb:cc:dd:ee:ff}}}\nnodes:\n  n1: {profiles: [p]}\n  n2: {profiles: [p]}\n",
			want: []string{
				`node "n1": NetDevs[default].Hwaddr: "aa:bb:cc:dd:ee:ff" is also used by node "n2" (NetDevs[default].Hwaddr)`,
				`node "n2": NetDevs[default].Hwaddr: "aa:bb:cc:dd:ee:ff" is also used by node "n1" (NetDevs[default].Hwaddr)`,
			},
		},
		{
			name: "missing profiles, negated or not",
			conf: "nodes:\n  n1: {profiles: [nope, ~gone]}\n",
			want: []string{
				`node "n1": Profiles: "nope" is not an existing profile`,
				`node "n1": Profiles: "gone" is not an existing profile`,
			},
		},
		{
			name: "profile cycle",
			conf: "nodeprofiles:\n  a: {profiles: [b]}\n  b: {profiles: [c]}\n  c: {profiles: [a]}\n",
			want: []string{`profile "a": Profiles: includes itself: a -> b -> c -> a`},
		},
		{
			name: "bad names",
			conf: "nodeprofiles:\n  -p: {}\nnodes:\n  \"n 1\": {network devices: {\"a/b\": {}}}\n",
			want: []string{
				`profile "-p": name may only contain letters, digits, '.', '_' and '-', starting with a letter or digit`,
				`node "n 1": name may only contain letters, digits, '.', '_' and '-', starting with a letter or digit`,
				`node "n 1": NetDevs[a/b]: network name may only contain letters, digits, '.', '_', ':' and '-'`,
			},
		},
		{
			name: "explicit empty values are valid",
			conf: "nodes:\n  n1: {ipmi: {ipaddr: \"\"}, network devices: {default: {ipaddr: \"\", hwaddr: \"\"}}}\n  n2: {ipmi: {ipaddr: \"\"}}\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse([]byte(tc.conf), "nodes.conf")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range inv.Validate() {
				got = append(got, p.String())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		conf string
		want string
	}{
		{name: "syntax", conf: "nodes:\n  n1: [\n", want: "nodes.conf: yaml: line 2"},
		{name: "list where a value belongs", conf: "nodes:\n  n1:\n    comment: [a, b]\n", want: `nodes.conf:3: node "n1": "comment" must be a single value`},
		{name: "mapping where a list belongs", conf: "nodes:\n  n1:\n    profiles: {a: b}\n", want: `nodes.conf:3: node "n1": "profiles" must be a list`},
		{name: "scalar document", conf: "hello\n", want: `nodes.conf:1: expected a mapping`},
		{name: "nodes is a list", conf: "nodes:\n  - n1\n", want: `nodes.conf:2: expected a mapping of node names`},
		{name: "duplicate key", conf: "nodes:\n  n1: {}\n  n1: {}\n", want: `nodes.conf:3: node "n1" is defined twice (first at line 2)`},
		{name: "bad value of an old key", conf: "nodes:\n  n1:\n    network devices:\n      eth0: {ipcidr: 10.0.0.1}\n", want: `"ipcidr": "10.0.0.1" is not an IPv4 address with a prefix length`},
		{name: "bad primary flag", conf: "nodes:\n  n1:\n    network devices:\n      eth0: {default: maybe}\n", want: `"default": "maybe" is not a boolean`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.conf), "nodes.conf")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Parse error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestEmptyInputs(t *testing.T) {
	for _, conf := range []string{"", "\n", "# only a comment\n", "nodes:\n", "nodeprofiles: ~\nnodes: {}\n", "---\n"} {
		inv, err := Parse([]byte(conf), "nodes.conf")
		if err != nil {
			t.Errorf("Parse(%q): %v", conf, err)
			continue
		}
		if len(inv.Nodes)+len(inv.Profiles) != 0 {
			t.Errorf("Parse(%q) is not empty", conf)
		}
	}
}

// FuzzParse checks that no input panics the loader, and that whatever it
// accepts survives a write and re-read unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "nodes: {}", "nodeprofiles:\n  default: {comment: x}\nnodes:\n  n1: {profiles: [default]}\n",
		"nodes:\n  n1:\n    network devices:\n      default: {hwaddr: aa:bb:cc:dd:ee:ff, ipaddr: 10.0.0.1}\n",
		"nodes:\n  n1:\n    kernel: {args: [quiet]}\n    ipmi: {ipaddr: 1.2.3.4, tags: {a: b}}\n    disks: {/dev/sda: {partitions: {p: {number: \"1\"}}}}\n",
		"nodes:\n  n1:\n    resources: {fstab: [{spec: a}]}\n    filesystems: {/dev/x: {options: [-q]}}\n",
		// Unknown keys and forms of Warewulf 4.2-4.5.
		"WW_INTERNAL: 45\nx: 1\nnodeprofiles:\n  p: {discoverable: true, keys: {a: b}, tagsdel: [a], ipmi netmask: 255.0.0.0, y: [1]}\n",
		"nodes:\n  n1:\n    kernel override: k\n    kernel args: quiet\n    network devices:\n      eth0: {default: true, ip6addr: 'fd00::1', ipcidr: 10.0.0.1/8, prefix: 1, z: {}}\n",
		"nodes:\n  n1:\n    container name: a\n    image name: b\n    filesystems: {/dev/x: {mount_options: [a, b], q: 1}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := Parse(data, "fuzz")
		if err != nil {
			return
		}
		inv.Validate()
		for _, name := range inv.NodeNames() {
			if _, err := inv.Merge(name); err != nil {
				t.Fatal(err)
			}
		}
		out, err := inv.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := Parse(out, "fuzz")
		if err != nil {
			t.Fatalf("re-read of written file: %v\n%s", err, out)
		}
		out2, err := again.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("write is not stable:\n%s\n---\n%s", out, out2)
		}
	})
}
