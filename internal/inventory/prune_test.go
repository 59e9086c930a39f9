package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// later is a key a later Warewulf writes and this version keeps unread:
// name with a value.
func later(name string) []*yaml.Node {
	return []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "future " + name},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "on"},
	}
}

func TestPruneEmpty(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name     string
		in, want Profile
	}{
		{
			name: "empty entries go, set ones stay",
			in: Profile{
				NetDevs: map[string]*NetDev{"default": {}, "ib": {Device: s("ib0")}, "x": {Tags: map[string]string{}}},
				Disks: map[string]*Disk{
					"/dev/vda": {Partitions: map[string]*Partition{"swap": {}}},
					"/dev/vdb": {Partitions: map[string]*Partition{"data": {Number: s("1")}, "gone": {}}},
					"/dev/vdc": {WipeTable: s("true")},
				},
				FileSystems: map[string]*FileSystem{"/dev/a": {}, "/dev/b": {Options: []string{"-q"}}},
			},
			want: Profile{
				NetDevs: map[string]*NetDev{"ib": {Device: s("ib0")}},
				Disks: map[string]*Disk{
					"/dev/vdb": {Partitions: map[string]*Partition{"data": {Number: s("1")}}},
					"/dev/vdc": {WipeTable: s("true")},
				},
				FileSystems: map[string]*FileSystem{"/dev/b": {Options: []string{"-q"}}},
			},
		},
		{
			name: "an explicitly empty value is a value",
			in:   Profile{NetDevs: map[string]*NetDev{"default": {Ipaddr: s("")}}},
			want: Profile{NetDevs: map[string]*NetDev{"default": {Ipaddr: s("")}}},
		},
		{
			name: "emptied sections and maps become absent",
			in:   Profile{Kernel: &Kernel{}, Ipmi: &IPMI{Tags: map[string]string{}}, Tags: map[string]string{}, NetDevs: map[string]*NetDev{"d": {}}, Disks: map[string]*Disk{}, FileSystems: map[string]*FileSystem{}},
			want: Profile{},
		},
		{
			name: "an entry holding only a key this version does not know stays",
			in: Profile{
				Kernel:      &Kernel{Unknown: later("kernel")},
				Ipmi:        &IPMI{Unknown: later("ipmi")},
				NetDevs:     map[string]*NetDev{"default": {Unknown: later("netdev")}, "gone": {}},
				Disks:       map[string]*Disk{"/dev/vda": {Unknown: later("disk")}, "/dev/vdb": {Partitions: map[string]*Partition{"p": {Unknown: later("part")}}}},
				FileSystems: map[string]*FileSystem{"/dev/a": {Unknown: later("fs")}},
			},
			want: Profile{
				Kernel:      &Kernel{Unknown: later("kernel")},
				Ipmi:        &IPMI{Unknown: later("ipmi")},
				NetDevs:     map[string]*NetDev{"default": {Unknown: later("netdev")}},
				Disks:       map[string]*Disk{"/dev/vda": {Unknown: later("disk")}, "/dev/vdb": {Partitions: map[string]*Partition{"p": {Unknown: later("part")}}}},
				FileSystems: map[string]*FileSystem{"/dev/a": {Unknown: later("fs")}},
			},
		},
		{
			name: "sections with a value stay",
			in:   Profile{Kernel: &Kernel{Args: []string{"quiet"}}, Ipmi: &IPMI{Tags: map[string]string{"vlan": "42"}}},
			want: Profile{Kernel: &Kernel{Args: []string{"quiet"}}, Ipmi: &IPMI{Tags: map[string]string{"vlan": "42"}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.PruneEmpty()
			if diff := cmp.Diff(tc.want, tc.in); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
