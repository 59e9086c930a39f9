package inventory

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var update = flag.Bool("update", false, "rewrite golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

// TestUpgradeOldFiles loads nodes.conf files written in the formats of
// Warewulf 4.2 and 4.5: they load with warnings that name "wwctl upgrade
// nodes", and the upgrade gives a file that loads without a warning and
// merges to the same nodes.
func TestUpgradeOldFiles(t *testing.T) {
	for _, version := range []string{"4.2", "4.5"} {
		t.Run(version, func(t *testing.T) {
			file := "nodes-" + version + ".conf"
			data, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			old, err := Parse(data, file)
			if err != nil {
				t.Fatal(err)
			}
			if len(old.Warnings()) == 0 {
				t.Fatal("no warnings")
			}
			for _, w := range old.Warnings() {
				if !w.Legacy {
					t.Errorf("not an older form: %s", w)
				}
			}
			golden(t, "nodes-"+version+".warnings", strings.Join(warningStrings(old.Warnings()), "\n")+"\n")

			u, err := Upgrade(data, file, UpgradeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "nodes-"+version+".upgraded.conf", string(u.Data))
			golden(t, "nodes-"+version+".changes", strings.Join(u.Changes, "\n")+"\n")
			if len(u.Kept) > 0 {
				t.Errorf("upgrade left warnings: %q", warningStrings(u.Kept))
			}
			current, err := Parse(u.Data, file)
			if err != nil {
				t.Fatal(err)
			}
			if ws := current.Warnings(); len(ws) > 0 {
				t.Errorf("the upgraded file warns: %q", warningStrings(ws))
			}
			if diff := cmp.Diff(mergedNodes(t, old), mergedNodes(t, current), cmpopts.IgnoreUnexported(Merged{})); diff != "" {
				t.Errorf("merged nodes (-old +upgraded):\n%s", diff)
			}
			again, err := Upgrade(u.Data, file, UpgradeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if string(again.Data) != string(u.Data) || len(again.Changes) > 0 {
				t.Errorf("a second upgrade changed the file: %q", again.Changes)
			}
		})
	}
}

func TestUpgradeOptions(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "nodes-4.5.conf"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := Upgrade(data, "nodes.conf", UpgradeOptions{
		AddDefaults: true, ReplaceOverlays: true,
		Fstab: []FstabEntry{{Spec: "warewulf:/home", File: "/home", VfsType: "nfs", MntOps: "defaults"}},
		ResolveOverride: func(image, override string) (string, bool) {
			if image == "rocky-9" && override == "rocky-9-kernel" {
				return "/boot/vmlinuz-5.14.0-427.el9.x86_64", true
			}
			return "", false
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "nodes-4.5.defaults.conf", string(u.Data))
	golden(t, "nodes-4.5.defaults.changes", strings.Join(u.Changes, "\n")+"\n")
}

func TestReplaceOverlay(t *testing.T) {
	for _, tc := range []struct {
		name string
		list []string
		want []string
	}{
		{"in place", []string{"a", "generic", "b"}, []string{"a", "hosts", "ssh.authorized_keys", "syncuser", "b"}},
		{"already there", []string{"hosts", "generic"}, []string{"hosts", "ssh.authorized_keys", "syncuser"}},
		{"absent", []string{"a"}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := replaceOverlay(tc.list, "generic", genericSplitOverlays())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Error(diff)
			}
		})
	}
}

// Warewulf 4.5's "dracut" iPXE template is the default template with a
// menu entry.
func TestUpgradeDracut(t *testing.T) {
	for _, tc := range []struct {
		name, conf, want string
	}{
		{"replaced", "nodes:\n  n1:\n    ipxe template: dracut\n",
			"nodeprofiles: {}\nnodes:\n  n1:\n    ipxe template: default\n    tags:\n      IPXEMenuEntry: dracut\n"},
		{"menu entry already set", "nodes:\n  n1:\n    ipxe template: dracut\n    tags: {IPXEMenuEntry: x}\n",
			"nodeprofiles: {}\nnodes:\n  n1:\n    ipxe template: dracut\n    tags: {IPXEMenuEntry: x}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := Upgrade([]byte(tc.conf), "nodes.conf", UpgradeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(u.Data)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
