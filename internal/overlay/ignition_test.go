package overlay

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestIgnitionJSONOrder: partitions and fields come in Warewulf's order
// (by number, a partition without one first; of equal numbers, those
// with a size first, smaller first), so the JSON is Warewulf's byte for
// byte; two equal partitions without a size keep their label order.
func TestIgnitionJSONOrder(t *testing.T) {
	yes, no := true, false
	for _, tc := range []struct {
		name string
		node *Node
		want string
	}{
		{
			name: "nothing to do",
			node: &Node{},
			want: "",
		},
		{
			name: "Warewulf's disk example",
			node: &Node{Profile: Profile{
				Disks: map[string]*Disk{"/dev/vda": {id: "/dev/vda", WipeTableP: &yes, Partitions: map[string]*Partition{
					"swap":    {id: "swap", Number: "1", SizeMiB: "1024"},
					"scratch": {id: "scratch", ShouldExistP: &yes},
				}}},
				FileSystems: map[string]*FileSystem{
					"/dev/disk/by-partlabel/swap":    {id: "/dev/disk/by-partlabel/swap", Format: "swap", Path: "swap"},
					"/dev/disk/by-partlabel/scratch": {id: "/dev/disk/by-partlabel/scratch", Format: "btrfs", Path: "/scratch", WipeFileSystemP: &yes},
				},
			}},
			want: `{"ignition":{"version":"3.1.0"},"storage":{"disks":[{"device":"/dev/vda","partitions":[` +
				`{"label":"scratch","shouldExist":true},{"label":"swap","number":1,"sizeMiB":1024}],"wipeTable":true}],` +
				`"filesystems":[{"device":"/dev/disk/by-partlabel/scratch","format":"btrfs","path":"/scratch","wipeFilesystem":true},` +
				`{"device":"/dev/disk/by-partlabel/swap","format":"swap","path":"swap"}]}}`,
		},
		{
			name: "equal numbers: sized first, then by size, then by label",
			node: &Node{Profile: Profile{
				Disks: map[string]*Disk{"/dev/sdb": {id: "/dev/sdb", Partitions: map[string]*Partition{
					"d": {id: "d", Number: "2"},
					"c": {id: "c", Number: "2"},
					"b": {id: "b", Number: "2", SizeMiB: "20", StartMiB: "5", Guid: "g", TypeGuid: "t", ResizeP: &no, WipePartitionEntryP: &no},
					"a": {id: "a", Number: "2", SizeMiB: "30"},
				}}},
				FileSystems: map[string]*FileSystem{"/dev/sdb1": {id: "/dev/sdb1", MountOptions: "ro, noatime", Options: []string{"-m0"}, Label: "l", Uuid: "u"}},
			}},
			want: `{"ignition":{"version":"3.1.0"},"storage":{"disks":[{"device":"/dev/sdb","partitions":[` +
				`{"guid":"g","label":"b","number":2,"resize":false,"sizeMiB":20,"startMiB":5,"typeGuid":"t","wipePartitionEntry":false},` +
				`{"label":"a","number":2,"sizeMiB":30},{"label":"c","number":2},{"label":"d","number":2}]}],` +
				`"filesystems":[{"device":"/dev/sdb1","label":"l","mountOptions":["ro","noatime"],"options":["-m0"],"path":"","uuid":"u"}]}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ignitionJSON(tc.node)); diff != "" {
				t.Errorf("ignitionJSON (-want +got):\n%s", diff)
			}
		})
	}
}
