package inventory

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// unknownConf has a key the format does not have at every level.
const unknownConf = `colour: blue
nodeprofiles:
  default:
    comment: base
    speed: fast
nodes:
  n1:
    comment: first
    rack: 12
    kernel:
      version: "6.1"
      flavour: rt
    ipmi:
      ipaddr: 10.1.0.1
      vendor: acme
    network devices:
      default:
        ipaddr: 10.0.0.1
        speed: 10G
    disks:
      /dev/sda:
        wipe_table: true
        partitions:
          scratch:
            number: "1"
            align: 4
        vendor: acme
    filesystems:
      /dev/disk/by-partlabel/scratch:
        format: ext4
        compress: zstd
`

func TestUnknownKeysWarnAndStay(t *testing.T) {
	inv, err := Parse([]byte(unknownConf), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	kept := "; kept in the file, not used"
	want := []string{
		`nodes.conf:1: unknown top-level key "colour" (expected "nodeprofiles" or "nodes")` + kept,
		`nodes.conf:5: profile "default": unknown key "speed"` + kept,
		`nodes.conf:9: node "n1": unknown key "rack"` + kept,
		`nodes.conf:12: node "n1": kernel: unknown key "flavour"` + kept,
		`nodes.conf:15: node "n1": ipmi: unknown key "vendor"` + kept,
		`nodes.conf:19: node "n1": network device "default": unknown key "speed"` + kept,
		`nodes.conf:26: node "n1": disk "/dev/sda": partition "scratch": unknown key "align"` + kept,
		`nodes.conf:27: node "n1": disk "/dev/sda": unknown key "vendor"` + kept,
		`nodes.conf:31: node "n1": filesystem "/dev/disk/by-partlabel/scratch": unknown key "compress"` + kept,
	}
	if diff := cmp.Diff(want, warningStrings(inv.Warnings())); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	m, err := inv.Merge("n1")
	if err != nil {
		t.Fatal(err)
	}
	if got := *m.NetDevs["default"].Ipaddr; got != "10.0.0.1" {
		t.Errorf("ipaddr = %q: the known keys beside an unknown one must apply", got)
	}

	// A change elsewhere, as "wwctl node set" makes through the store,
	// writes every unknown key back where it was.
	path := filepath.Join(t.TempDir(), "nodes.conf")
	if err := os.WriteFile(path, []byte(unknownConf), 0o600); err != nil {
		t.Fatal(err)
	}
	var warned []string
	s := NewStoreWith(path, StoreOptions{Warn: func(w Warning) { warned = append(warned, w.String()) }})
	if _, err := s.Update(context.Background(), func(inv *Inventory) error {
		c := "changed"
		inv.Nodes["n1"].Comment = &c
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(strings.Replace(unknownConf, "comment: first", "comment: changed", 1), string(got)); diff != "" {
		t.Errorf("written file (-want +got):\n%s", diff)
	}
	var wantStore []string
	for _, w := range want {
		wantStore = append(wantStore, path+strings.TrimPrefix(w, "nodes.conf"))
	}
	if diff := cmp.Diff(wantStore, warned); diff != "" {
		t.Errorf("store warnings (-want +got):\n%s", diff)
	}
	// The same content read again does not warn again; new content does.
	warned = nil
	if _, err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 9 {
		t.Errorf("the changed file gave %d warnings, want 9", len(warned))
	}
	warned = nil
	if _, err := s.Load(); err != nil {
		t.Fatal(err)
	}
	if len(warned) != 0 {
		t.Errorf("reading the same content again warned: %q", warned)
	}
}

func TestWarningsAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("nodes:\n")
	for i := range 30 {
		b.WriteString("  n" + string(rune('a'+i%26)) + strings.Repeat("x", i/26) + ": {rack: 1}\n")
	}
	inv, err := Parse([]byte(b.String()), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	ws := inv.Warnings()
	if len(ws) != maxDecodeErrors+1 || ws[len(ws)-1].String() != "nodes.conf: (10 further warnings not shown)" {
		t.Errorf("got %d warnings, last %q", len(ws), ws[len(ws)-1])
	}
}

// TestLegacyForms checks that each form of Warewulf 4.2-4.5 loads with a
// warning naming "wwctl upgrade nodes" and merges to the same nodes as
// its current form.
func TestLegacyForms(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old      string
		current  string
		warnings []string
	}{
		{
			name:     "container name",
			old:      "nodes:\n  n1: {container name: rocky}\n",
			current:  "nodes:\n  n1: {image name: rocky}\n",
			warnings: []string{`nodes.conf:2: node "n1": "container name" is the old form of "image name"; read as "image name"`},
		},
		{
			name:     "container name beside image name",
			old:      "nodes:\n  n1: {image name: alma, container name: rocky}\n",
			current:  "nodes:\n  n1: {image name: alma}\n",
			warnings: []string{`nodes.conf:2: node "n1": "container name" is the old form of "image name", which is also set; kept in the file, not used`},
		},
		{
			name:    "keys, tags and tagsdel",
			old:     "nodeprofiles:\n  p:\n    keys: {a: '1', b: '2'}\n    tags: {b: '3', c: '4'}\n    tagsdel: [c]\nnodes:\n  n1: {profiles: [p]}\n",
			current: "nodeprofiles:\n  p:\n    tags: {a: '1', b: '3'}\nnodes:\n  n1: {profiles: [p]}\n",
			warnings: []string{
				`nodes.conf:3: profile "p": "keys" is the old name of "tags"; read as "tags"`,
				`nodes.conf:5: profile "p": "tagsdel" is no longer used; the tags it names are removed`,
			},
		},
		{
			name: "inline ipmi of Warewulf 4.2",
			old: "nodeprofiles:\n  p:\n    ipmi netmask: 255.255.255.0\n    ipmi username: admin\nnodes:\n" +
				"  n1: {profiles: [p], ipmi ipaddr: 10.1.0.1, ipmi port: 623, ipmi write: true}\n",
			current: "nodeprofiles:\n  p:\n    ipmi: {netmask: 255.255.255.0, username: admin}\nnodes:\n" +
				"  n1: {profiles: [p], ipmi: {ipaddr: 10.1.0.1, port: '623', write: 'true'}}\n",
			warnings: []string{
				`nodes.conf:3: profile "p": "ipmi netmask" is the old form of "ipmi: netmask"; read as "ipmi: netmask"`,
				`nodes.conf:4: profile "p": "ipmi username" is the old form of "ipmi: username"; read as "ipmi: username"`,
				`nodes.conf:6: node "n1": "ipmi ipaddr" is the old form of "ipmi: ipaddr"; read as "ipmi: ipaddr"`,
				`nodes.conf:6: node "n1": "ipmi port" is the old form of "ipmi: port"; read as "ipmi: port"`,
				`nodes.conf:6: node "n1": "ipmi write" is the old form of "ipmi: write"; read as "ipmi: write"`,
			},
		},
		{
			name:    "inline kernel",
			old:     "nodes:\n  n1: {kernel version: 5.14.0, kernel args: quiet crashkernel=no}\n",
			current: "nodes:\n  n1: {kernel: {version: 5.14.0, args: [quiet, crashkernel=no]}}\n",
			warnings: []string{
				`nodes.conf:2: node "n1": "kernel version" is the old form of "kernel: version"; read as "kernel: version"`,
				`nodes.conf:2: node "n1": "kernel args" is the old form of "kernel: args"; read as "kernel: args"`,
			},
		},
		{
			name:     "kernel override that is a path",
			old:      "nodes:\n  n1:\n    kernel: {override: /boot/vmlinuz-6.1}\n",
			current:  "nodes:\n  n1:\n    kernel: {version: /boot/vmlinuz-6.1}\n",
			warnings: []string{`nodes.conf:3: node "n1": kernel: "override" is the old form of "kernel: version"; read as "kernel: version"`},
		},
		{
			name:     "kernel override that names an imported kernel",
			old:      "nodes:\n  n1:\n    kernel: {override: rocky-9, args: [quiet]}\n",
			current:  "nodes:\n  n1:\n    kernel: {args: [quiet]}\n",
			warnings: []string{`nodes.conf:3: node "n1": kernel: "override" names a kernel imported by Warewulf 4.5; kept in the file, not used`},
		},
		{
			name: "primary device of Warewulf 4.2 and 4.4",
			old: "nodeprofiles:\n  p:\n    network devices:\n      lan: {default: false}\nnodes:\n" +
				"  n1:\n    profiles: [p]\n    network devices:\n      eth0: {ipaddr: 10.0.0.1, default: true}\n" +
				"  n2:\n    network devices:\n      ib0: {primary: 'false'}\n      eth1: {primary: 'true'}\n",
			current: "nodeprofiles:\n  p:\n    network devices:\n      lan: {}\nnodes:\n" +
				"  n1:\n    profiles: [p]\n    primary network: eth0\n    network devices:\n      eth0: {ipaddr: 10.0.0.1}\n" +
				"  n2:\n    primary network: eth1\n    network devices:\n      ib0: {}\n      eth1: {}\n",
			warnings: []string{
				`nodes.conf:4: profile "p": network device "lan": "default" is the old form of the node's "primary network"; read as such`,
				`nodes.conf:9: node "n1": network device "eth0": "default" is the old form of the node's "primary network"; read as such`,
				`nodes.conf:12: node "n2": network device "ib0": "primary" is the old form of the node's "primary network"; read as such`,
				`nodes.conf:13: node "n2": network device "eth1": "primary" is the old form of the node's "primary network"; read as such`,
			},
		},
		{
			name:    "ip6addr, ipcidr and prefix",
			old:     "nodes:\n  n1:\n    network devices:\n      default: {ip6addr: 'fd00::5', ipcidr: 10.0.3.7/22, prefix: '64'}\n",
			current: "nodes:\n  n1:\n    network devices:\n      default: {ipaddr6: 'fd00::5', ipaddr: 10.0.3.7, netmask: 255.255.252.0}\n",
			warnings: []string{
				`nodes.conf:4: node "n1": network device "default": "ip6addr" is the old name of "ipaddr6"; read as "ipaddr6"`,
				`nodes.conf:4: node "n1": network device "default": "ipcidr" is the old form of "ipaddr" and "netmask"; read as such where they are not set`,
				`nodes.conf:4: node "n1": network device "default": "prefix" is no longer used; kept in the file, not used`,
			},
		},
		{
			name:     "mount options as a list",
			old:      "nodes:\n  n1:\n    filesystems:\n      /dev/vda1: {path: /scratch, mount_options: [defaults, noatime]}\n",
			current:  "nodes:\n  n1:\n    filesystems:\n      /dev/vda1: {path: /scratch, mount_options: 'defaults,noatime'}\n",
			warnings: []string{`nodes.conf:4: node "n1": filesystem "/dev/vda1": "mount_options" as a list is the old form; read as "defaults,noatime"`},
		},
		{
			name:    "discoverable and asset key on a profile, disabled",
			old:     "nodeprofiles:\n  p: {discoverable: 'true', asset key: x, disabled: true}\nnodes:\n  n1: {profiles: [p], disabled: false}\n",
			current: "nodeprofiles:\n  p: {}\nnodes:\n  n1: {profiles: [p]}\n",
			warnings: []string{
				`nodes.conf:2: profile "p": "discoverable" can only be set on a node; kept in the file, not used`,
				`nodes.conf:2: profile "p": "asset key" can only be set on a node; kept in the file, not used`,
				`nodes.conf:2: profile "p": "disabled" is no longer used; kept in the file, not used`,
				`nodes.conf:4: node "n1": "disabled" is no longer used; kept in the file, not used`,
			},
		},
		{
			name:     "WW_INTERNAL",
			old:      "WW_INTERNAL: 45\nnodes:\n  n1: {}\n",
			current:  "nodes:\n  n1: {}\n",
			warnings: []string{`nodes.conf:1: "WW_INTERNAL" is no longer used; kept in the file, not used`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old, err := Parse([]byte(tc.old), "nodes.conf")
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, w := range tc.warnings {
				want = append(want, w+" ("+UpgradeHint+")")
			}
			if diff := cmp.Diff(want, warningStrings(old.Warnings())); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			current, err := Parse([]byte(tc.current), "nodes.conf")
			if err != nil {
				t.Fatal(err)
			}
			if ws := current.Warnings(); len(ws) > 0 {
				t.Fatalf("current form warns: %q", warningStrings(ws))
			}
			if diff := cmp.Diff(mergedNodes(t, current), mergedNodes(t, old), cmpopts.IgnoreUnexported(Merged{})); diff != "" {
				t.Errorf("merged nodes (-current +old):\n%s", diff)
			}
		})
	}
}

func warningStrings(ws []Warning) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.String())
	}
	return out
}

// mergedNodes merges every node with provenance.
func mergedNodes(t *testing.T, inv *Inventory) []*Merged {
	t.Helper()
	ms, err := inv.MergeNodes(inv.NodeNames(), true)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
