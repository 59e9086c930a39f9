package inventory

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func loadFixture(t *testing.T) *Inventory {
	t.Helper()
	data, err := os.ReadFile("testdata/warewulf.nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := Parse(data, "nodes.conf")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return inv
}

// setValues returns the set values of a merged node as field -> "value <- source".
func setValues(m *Merged) map[string]string {
	out := map[string]string{}
	for _, v := range m.Values(false) {
		src := v.Source
		if src == "" {
			src = "--"
		}
		out[v.Field] = v.Value + " <- " + src
	}
	return out
}

func TestWarewulfFixtureMerged(t *testing.T) {
	inv := loadFixture(t)
	if got, want := inv.NodeNames(), []string{"gpu01", "n001", "n002", "spare"}; !cmp.Equal(got, want) {
		t.Errorf("NodeNames = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		node string
		want map[string]string
	}{
		{
			name: "plain node inherits default",
			node: "n001",
			want: map[string]string{
				"Id":                          "n001 <- --",
				"Profiles":                    "default <- --",
				"ClusterName":                 "hpc <- default",
				"ImageName":                   "rocky-9 <- default",
				"Ipxe":                        "default <- default",
				"RuntimeOverlay":              "hosts,ssh.authorized_keys <- default",
				"SystemOverlay":               "wwinit,wwclient,hosts,hostname <- default",
				"Kernel.Args":                 "quiet,crashkernel=no <- default",
				"Ipmi.UserName":               "admin <- default",
				"Ipmi.Password":               "secret <- default",
				"Ipmi.Ipaddr":                 "10.1.0.1 <- --",
				"Ipmi.Netmask":                "255.255.0.0 <- default",
				"Ipmi.Interface":              "lanplus <- default",
				"Ipmi.Template":               "ipmitool.tmpl <- default",
				"Ipmi.Tags[vlan]":             "42 <- default",
				"Init":                        "/sbin/init <- default",
				"Root":                        "initramfs <- default",
				"NetDevs[default].Device":     "eno1 <- default",
				"NetDevs[default].Hwaddr":     "aa:bb:cc:00:00:01 <- --",
				"NetDevs[default].Ipaddr":     "10.0.0.1 <- --",
				"NetDevs[default].Netmask":    "255.255.0.0 <- default",
				"NetDevs[default].Gateway":    "10.0.0.254 <- default",
				"NetDevs[default].Tags[DNS1]": "10.0.0.1 <- default",
				"Resources[fstab]":            "[{spec: 'warewulf:/home', file: /home, vfstype: nfs, mntops: defaults}] <- default",
			},
		},
		{
			name: "flow style node overrides a profile scalar",
			node: "n002",
			want: map[string]string{
				"Id":                          "n002 <- --",
				"Profiles":                    "default <- --",
				"Comment":                     "spare <- --",
				"ClusterName":                 "hpc <- default",
				"ImageName":                   "rocky-9 <- default",
				"Ipxe":                        "default <- default",
				"RuntimeOverlay":              "hosts,ssh.authorized_keys <- default",
				"SystemOverlay":               "wwinit,wwclient,hosts,hostname <- default",
				"Kernel.Args":                 "quiet,crashkernel=no <- default",
				"Ipmi.UserName":               "admin <- default",
				"Ipmi.Password":               "secret <- default",
				"Ipmi.Ipaddr":                 "10.1.0.2 <- --",
				"Ipmi.Netmask":                "255.255.0.0 <- default",
				"Ipmi.Interface":              "lanplus <- default",
				"Ipmi.Write":                  "true <- --",
				"Ipmi.Template":               "ipmitool.tmpl <- default",
				"Ipmi.Tags[vlan]":             "42 <- default",
				"Init":                        "/sbin/init <- default",
				"Root":                        "initramfs <- default",
				"NetDevs[default].Device":     "eno2 <- SUPERSEDED",
				"NetDevs[default].Hwaddr":     "AA-BB-CC-00-00-02 <- --",
				"NetDevs[default].Ipaddr":     "10.0.0.2 <- --",
				"NetDevs[default].Netmask":    "255.255.0.0 <- default",
				"NetDevs[default].Gateway":    "10.0.0.254 <- default",
				"NetDevs[default].MTU":        "9000 <- --",
				"NetDevs[default].Tags[DNS1]": "10.0.0.1 <- default",
				"Resources[fstab]":            "[{spec: 'warewulf:/home', file: /home, vfstype: nfs, mntops: defaults}] <- default",
			},
		},
		{
			name: "nested profiles, negation, appended lists, disks",
			node: "gpu01",
			want: map[string]string{
				"Id":                          "gpu01 <- --",
				"Discoverable":                "false <- --",
				"AssetKey":                    "ABC123 <- --",
				"Profiles":                    "default,gpu <- --",
				"ClusterName":                 "hpc <- default",
				"ImageName":                   "rocky-9-cuda-12 <- SUPERSEDED",
				"Ipxe":                        "default <- default",
				"RuntimeOverlay":              "hosts,ssh.authorized_keys <- default",
				"SystemOverlay":               "wwinit,wwclient,hostname,mig <- default,gpu",
				"Kernel.Args":                 "quiet,crashkernel=no,nouveau.modeset=0 <- default,gpu",
				"Ipmi.UserName":               "admin <- default",
				"Ipmi.Password":               "secret <- default",
				"Ipmi.Netmask":                "255.255.0.0 <- default",
				"Ipmi.Interface":              "lanplus <- default",
				"Ipmi.Template":               "ipmitool.tmpl <- default",
				"Ipmi.Tags[vlan]":             "42 <- default",
				"Init":                        "/sbin/init <- default",
				"Root":                        "initramfs <- default",
				"NetDevs[default].Device":     "eno1 <- default",
				"NetDevs[default].Hwaddr":     "aa:bb:cc:00:01:01 <- --",
				"NetDevs[default].Ipaddr":     "10.0.1.1 <- --",
				"NetDevs[default].Netmask":    "255.255.0.0 <- default",
				"NetDevs[default].Gateway":    "10.0.0.254 <- default",
				"NetDevs[default].Ipaddr6":    "fd00::1:1 <- --",
				"NetDevs[default].PrefixLen6": "64 <- --",
				"NetDevs[default].Tags[DNS1]": "10.0.0.1 <- default",
				"NetDevs[ib].Type":            "infiniband <- ib",
				"NetDevs[ib].Device":          "ib0 <- ib",
				"NetDevs[ib].Ipaddr":          "10.2.1.1 <- --",
				"NetDevs[ib].Netmask":         "255.255.0.0 <- ib",
				"NetDevs[ib].MTU":             "65520 <- ib",
				"Tags[IPXEMenuEntry]":         "dracut <- --",
				"Tags[gpuMigProfiles]":        "1g.10gb <- gpu",
				"PrimaryNetDev":               "default <- --",
				"Disks[/dev/vda].WipeTable":   "true <- --",
				"Disks[/dev/vda].Partitions[rootfs].Number":                 "1 <- --",
				"Disks[/dev/vda].Partitions[rootfs].ShouldExist":            "true <- --",
				"FileSystems[/dev/disk/by-partlabel/rootfs].Format":         "ext4 <- --",
				"FileSystems[/dev/disk/by-partlabel/rootfs].Path":           "/ <- --",
				"FileSystems[/dev/disk/by-partlabel/rootfs].WipeFileSystem": "false <- --",
				"Resources[fstab]": "[{spec: 'warewulf:/home', file: /home, vfstype: nfs, mntops: defaults}, {spec: 'warewulf:/opt', file: /opt, vfstype: nfs}] <- default,gpu01",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := inv.Merge(tc.node)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, setValues(m)); diff != "" {
				t.Errorf("merged %s (-want +got):\n%s", tc.node, diff)
			}
		})
	}
	if ps := inv.Validate(); len(ps) != 0 {
		t.Errorf("fixture has problems: %v", ps)
	}
}

func TestMergeSemantics(t *testing.T) {
	for _, tc := range []struct {
		name  string
		conf  string
		node  string
		field string
		want  string // "" with set false means absent
		set   bool
		chain []string
	}{
		{
			name: "last profile wins for scalars",
			conf: "nodeprofiles:\n  a: {image name: A}\n  b: {image name: B}\nnodes:\n  n1: {profiles: [a, b]}\n",
			node: "n1", field: "ImageName", want: "B", set: true, chain: []string{"a", "b"},
		},
		{
			name: "node wins over every profile",
			conf: "nodeprofiles:\n  a: {image name: A}\nnodes:\n  n1: {profiles: [a], image name: N}\n",
			node: "n1", field: "ImageName", want: "N", set: true, chain: []string{"a"},
		},
		{
			name: "explicit empty overrides an inherited value",
			conf: "nodeprofiles:\n  a: {image name: A}\nnodes:\n  n1: {profiles: [a], image name: \"\"}\n",
			node: "n1", field: "ImageName", want: "", set: true, chain: []string{"a"},
		},
		{
			name: "null inherits",
			conf: "nodeprofiles:\n  a: {image name: A}\nnodes:\n  n1: {profiles: [a], image name: }\n",
			node: "n1", field: "ImageName", want: "A", set: true, chain: []string{"a"},
		},
		{
			name: "nested profiles come before their includer",
			conf: "nodeprofiles:\n  base: {image name: BASE, init: /base}\n  top: {profiles: [base], image name: TOP}\nnodes:\n  n1: {profiles: [top]}\n",
			node: "n1", field: "ImageName", want: "TOP", set: true, chain: []string{"base", "top"},
		},
		{
			name: "a profile is applied once",
			conf: "nodeprofiles:\n  base: {kernel: {args: [x]}}\n  top: {profiles: [base]}\nnodes:\n  n1: {profiles: [base, top, base]}\n",
			node: "n1", field: "Kernel.Args", want: "x", set: true, chain: []string{"base", "top"},
		},
		{
			name: "negated profile is skipped",
			conf: "nodeprofiles:\n  base: {image name: BASE}\n  top: {profiles: [base], init: /x}\nnodes:\n  n1: {profiles: [top, ~base]}\n",
			node: "n1", field: "ImageName", set: false, chain: []string{"top"},
		},
		{
			name: "lists append across profiles and node",
			conf: "nodeprofiles:\n  a: {runtime overlay: [r1]}\n  b: {runtime overlay: [r2]}\nnodes:\n  n1: {profiles: [a, b], runtime overlay: [r3]}\n",
			node: "n1", field: "RuntimeOverlay", want: "r1,r2,r3", set: true, chain: []string{"a", "b"},
		},
		{
			name: "tilde removes from kernel args",
			conf: "nodeprofiles:\n  a: {kernel: {args: [quiet, splash]}}\nnodes:\n  n1: {profiles: [a], kernel: {args: [~quiet, debug]}}\n",
			node: "n1", field: "Kernel.Args", want: "splash,debug", set: true, chain: []string{"a"},
		},
		{
			name: "tilde works on filesystem options too",
			conf: "nodeprofiles:\n  a: {filesystems: {/dev/sda1: {options: [-F, -q]}}}\nnodes:\n  n1: {profiles: [a], filesystems: {/dev/sda1: {options: [~-q]}}}\n",
			node: "n1", field: "FileSystems[/dev/sda1].Options", want: "-F", set: true, chain: []string{"a"},
		},
		{
			name: "maps merge key by key",
			conf: "nodeprofiles:\n  a: {tags: {x: \"1\", y: \"2\"}}\nnodes:\n  n1: {profiles: [a], tags: {y: \"3\"}}\n",
			node: "n1", field: "Tags[x]", want: "1", set: true, chain: []string{"a"},
		},
		{
			name: "network devices merge field by field",
			conf: "nodeprofiles:\n  a: {network devices: {default: {device: eth0, netmask: 255.255.255.0}}}\nnodes:\n  n1: {profiles: [a], network devices: {default: {ipaddr: 10.0.0.1}}}\n",
			node: "n1", field: "NetDevs[default].Netmask", want: "255.255.255.0", set: true, chain: []string{"a"},
		},
		{
			name: "comment is not inherited",
			conf: "nodeprofiles:\n  a: {comment: profile comment}\nnodes:\n  n1: {profiles: [a]}\n",
			node: "n1", field: "Comment", set: false, chain: []string{"a"},
		},
		{
			name: "resource maps merge, resource lists append",
			conf: "nodeprofiles:\n  a: {resources: {r: {k1: v1, l: [1, 2]}}}\nnodes:\n  n1: {profiles: [a], resources: {r: {k2: v2, l: [3]}}}\n",
			node: "n1", field: "Resources[r]", want: "{k1: v1, l: [1, 2, 3], k2: v2}", set: true, chain: []string{"a"},
		},
		{
			name: "older string forms of lists are read",
			conf: "nodes:\n  n1:\n    kernel:\n      args: quiet console=ttyS0,115200\n",
			node: "n1", field: "Kernel.Args", want: "quiet,console=ttyS0,115200", set: true,
		},
		{
			name: "container name is read as image name",
			conf: "nodes:\n  n1: {container name: rocky}\n",
			node: "n1", field: "ImageName", want: "rocky", set: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inv, err := Parse([]byte(tc.conf), "nodes.conf")
			if err != nil {
				t.Fatal(err)
			}
			m, err := inv.Merge(tc.node)
			if err != nil {
				t.Fatal(err)
			}
			var got Value
			for _, v := range m.Values(true) {
				if v.Field == tc.field {
					got = v
				}
			}
			if got.Set != tc.set || got.Value != tc.want {
				t.Errorf("%s = %q (set %v), want %q (set %v)", tc.field, got.Value, got.Set, tc.want, tc.set)
			}
			if diff := cmp.Diff(tc.chain, m.Chain); diff != "" {
				t.Errorf("chain (-want +got):\n%s", diff)
			}
		})
	}
}

// A list the node appends to names the node in its source, as Warewulf's
// "node list -a" shows it ("p1,n01"); so does a profile appending to the
// profiles it includes.
func TestListSourceNamesTheEntity(t *testing.T) {
	conf := "nodeprofiles:\n  p1: {runtime overlay: [r1]}\n  p2: {profiles: [p1], runtime overlay: [r2]}\n" +
		"nodes:\n  n01: {profiles: [p1], runtime overlay: [r3]}\n  n02: {runtime overlay: [r4]}\n"
	inv, err := Parse([]byte(conf), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	source := func(m *Merged) string { return m.Sources["RuntimeOverlay"] }
	for _, tc := range []struct {
		name, entity, want string
		merge              func(string) (*Merged, error)
	}{
		{name: "node after its profile", entity: "n01", want: "p1,n01", merge: inv.Merge},
		{name: "node alone", entity: "n02", want: "", merge: inv.Merge},
		{name: "profile after the one it includes", entity: "p2", want: "p1,p2", merge: inv.MergeProfile},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := tc.merge(tc.entity)
			if err != nil {
				t.Fatal(err)
			}
			if got := source(m); got != tc.want {
				t.Errorf("source = %q, want %q", got, tc.want)
			}
		})
	}
}

// A resource that is a list appends across profiles and node, as Warewulf
// 4.7 merges it, and its source names every contributor.
func TestResourceListAppends(t *testing.T) {
	conf := "nodeprofiles:\n  nfs: {resources: {fstab: [{spec: 'srv:/home', file: /home}]}}\n" +
		"nodes:\n  c1: {profiles: [nfs], resources: {fstab: [{spec: 'srv:/scratch', file: /scratch}]}}\n"
	inv, err := Parse([]byte(conf), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	m, err := inv.Merge("c1")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range m.Values(false) {
		if strings.HasPrefix(v.Field, "Resources") {
			got[v.Field] = v.Value + " <- " + v.Source
		}
	}
	want := map[string]string{"Resources[fstab]": "[{spec: 'srv:/home', file: /home}, {spec: 'srv:/scratch', file: /scratch}] <- nfs,c1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resources (-want +got):\n%s", diff)
	}
}
