package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// unsetConf is the inventory the unset cases start from.
const unsetConf = `nodeprofiles:
  default:
    comment: base
nodes:
  n01:
    profiles:
      - default
    comment: first
    ipmi:
      username: admin
      tags:
        vlan: "42"
    network devices:
      default:
        device: eth0
        ipaddr: 10.0.0.1
        tags:
          dns1: 10.0.0.53
          dns2: 10.0.0.54
      eth1:
        ipaddr: 10.1.0.1
    disks:
      /dev/vda:
        wipe_table: true
        partitions:
          swap:
            number: "1"
          root:
            number: "2"
      /dev/vdb:
        partitions:
          swap:
            number: "1"
    filesystems:
      /dev/disk/by-partlabel/root:
        format: ext4
        path: /
  n02:
    comment: second
`

// TestUnsetWarewulfSemantics holds Warewulf 4.7's rules for "unset": the
// default network, scopes, removing what a scope flag names, no-ops for
// what is absent, pruning what is left empty, and --force.
func TestUnsetWarewulfSemantics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    string // "node export n01" afterwards; "" when unchanged
		wantErr string
	}{
		{
			name: "network flags without --netname mean default",
			args: []string{"--ipaddr", "--netdev", "--nettag", "dns1,dns2"},
			want: `n01:
    profiles:
        - default
    comment: first
    ipmi:
        username: admin
        tags:
            vlan: "42"
    network devices:
        eth1:
            ipaddr: 10.1.0.1
` + storageExport,
		},
		{
			name: "--netname scopes the network flags",
			args: []string{"--netname", "eth1", "--ipaddr"},
			want: exportWithout(t, "        eth1:\n            ipaddr: 10.1.0.1\n"),
		},
		{
			name: "--netname alone removes the device",
			args: []string{"--netname=eth1"},
			want: exportWithout(t, "        eth1:\n            ipaddr: 10.1.0.1\n"),
		},
		{name: "absent device is a no-op", args: []string{"--netname", "eth9", "--ipaddr"}},
		{name: "absent device alone is a no-op", args: []string{"--netname=eth9"}},
		{name: "absent field is a no-op", args: []string{"--asset", "--kernelargs"}},
		{name: "absent tag is a no-op", args: []string{"--tag", "nosuch", "--ipmitag", "nosuch"}},
		{name: "absent disk is a no-op", args: []string{"--diskname=/dev/vdz"}},
		{name: "absent filesystem is a no-op", args: []string{"--fsname=/dev/nofs"}},
		{name: "absent filesystem's field is a no-op", args: []string{"--fsname=/dev/nofs", "--fspath"}},
		{
			name: "--partname alone removes it from every disk; emptied disks go",
			args: []string{"--partname=swap"},
			want: exportWithout(t, "                swap:\n                    number: \"1\"\n", "        /dev/vdb:\n            partitions:\n                swap:\n                    number: \"1\"\n"),
		},
		{
			name: "--partname with --diskname removes it from that disk",
			args: []string{"--partname=swap", "--diskname=/dev/vdb"},
			want: exportWithout(t, "        /dev/vdb:\n            partitions:\n                swap:\n                    number: \"1\"\n"),
		},
		{
			name: "partition flags clear that partition; one left empty goes",
			args: []string{"--partnumber", "--diskname=/dev/vda", "--partname=root"},
			want: exportWithout(t, "                root:\n                    number: \"2\"\n"),
		},
		{
			name: "disk flags clear that disk",
			args: []string{"--diskwipe", "--diskname=/dev/vda"},
			want: exportWithout(t, "            wipe_table: true\n"),
		},
		{
			name: "filesystem flags take a partition label; the emptied filesystem goes",
			args: []string{"--fsformat", "--fspath", "--fsname=root"},
			want: exportWithout(t, "    filesystems:\n        /dev/disk/by-partlabel/root:\n            format: ext4\n            path: /\n"),
		},
		{name: "partition found nowhere", args: []string{"--partname=nopart"}, wantErr: `no disk has a partition "nopart"`},
		{name: "partition of an absent disk", args: []string{"--partname=swap", "--diskname=/dev/nonexistent"}, wantErr: `no disk "/dev/nonexistent"`},
		{name: "partition absent from its disk", args: []string{"--partname=nopart", "--diskname=/dev/vda"}, wantErr: `disk "/dev/vda" has no partition "nopart"`},
		{name: "partition flag without scope", args: []string{"--partnumber"}, wantErr: "--diskname and --partname must be given with --partnumber"},
		{name: "partition flag without --partname", args: []string{"--partnumber", "--diskname=/dev/vda"}, wantErr: "--diskname and --partname must be given with --partnumber"},
		{name: "disk flag without --diskname", args: []string{"--diskwipe"}, wantErr: "--diskname must be given with --diskwipe"},
		{name: "filesystem flag without --fsname", args: []string{"--fsformat"}, wantErr: "--fsname must be given with --fsformat"},
		{name: "filesystem that is no device path", args: []string{"--fsname=dev/vda1"}, wantErr: `--fsname: "dev/vda1" is neither a device path`},
		{name: "no field", args: nil, wantErr: "nothing to clear"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.writeNodes(unsetConf)
			before := tr.mustRun("node", "export", "n01")
			out, stderr, err := tr.run("", append(append([]string{"node", "unset", "n01"}, tc.args...), "--yes")...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if tr.nodesConf() != unsetConf {
					t.Errorf("nodes.conf changed:\n%s", tr.nodesConf())
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			want := tc.want
			if want == "" {
				want = before
				if out != "No changes.\n" {
					t.Errorf("output %q, want No changes.", out)
				}
				if tr.nodesConf() != unsetConf {
					t.Errorf("nodes.conf changed:\n%s", tr.nodesConf())
				}
			}
			if diff := cmp.Diff(want, tr.mustRun("node", "export", "n01")); diff != "" {
				t.Errorf("n01 (-want +got):\n%s", diff)
			}
			if strings.Contains(tr.nodesConf(), "{}") {
				t.Errorf("nodes.conf keeps an empty entry:\n%s", tr.nodesConf())
			}
		})
	}
}

// storageExport is the disks and filesystems of n01 in unsetConf, as
// "node export" prints them.
const storageExport = `    disks:
        /dev/vda:
            wipe_table: true
            partitions:
                root:
                    number: "2"
                swap:
                    number: "1"
        /dev/vdb:
            partitions:
                swap:
                    number: "1"
    filesystems:
        /dev/disk/by-partlabel/root:
            format: ext4
            path: /
`

// fullExport is n01 of unsetConf as "node export" prints it.
const fullExport = `n01:
    profiles:
        - default
    comment: first
    ipmi:
        username: admin
        tags:
            vlan: "42"
    network devices:
        default:
            device: eth0
            ipaddr: 10.0.0.1
            tags:
                dns1: 10.0.0.53
                dns2: 10.0.0.54
        eth1:
            ipaddr: 10.1.0.1
` + storageExport

// exportWithout is fullExport with each of parts, which must be in it,
// removed.
func exportWithout(t *testing.T, parts ...string) string {
	t.Helper()
	s := fullExport
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Fatalf("the export lacks %q", p)
		}
		s = strings.Replace(s, p, "", 1)
	}
	return s
}

func TestUnsetForce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		stderr  string
	}{
		{name: "unknown node fails", args: []string{"n01,n09", "--comment"}, wantErr: "no such node: n09"},
		{name: "--force skips it", args: []string{"n01,n09", "--comment", "--force"}, stderr: "skipped, no such node: n09"},
		{name: "--force with no node left fails", args: []string{"n09", "--comment", "-f"}, wantErr: "no such node: n09"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.writeNodes(unsetConf)
			_, stderr, err := tr.run("", append([]string{"node", "unset", "--yes"}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if tr.nodesConf() != unsetConf {
					t.Error("nodes.conf changed")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q, want %q", stderr, tc.stderr)
			}
			if strings.Contains(tr.nodesConf(), "comment: first") {
				t.Errorf("n01's comment is still there:\n%s", tr.nodesConf())
			}
		})
	}
}

// writeNodes writes text as the tree's nodes.conf.
func (tr *tree) writeNodes(text string) {
	tr.t.Helper()
	if err := os.MkdirAll(filepath.Dir(tr.nodes), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(tr.nodes, []byte(text), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

// "set" shares two of Warewulf's rules: --partdel without --diskname
// deletes the partition from every disk that has it, and -f/--force is
// accepted but does nothing (it does not answer the question). Unlike
// unset, set leaves an emptied disk, as Warewulf's set does.
func TestSetPartdelAndForce(t *testing.T) {
	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		gone    []string // text no longer in n01's export
		wantErr string
	}{
		{name: "partdel from every disk", args: []string{"--partdel=swap", "-y"}, gone: []string{"swap:"}},
		// The emptied disk goes too, as Warewulf's profile set does.
		{name: "partdel from one disk", args: []string{"--partdel=swap", "--diskname=/dev/vdb", "-y"}, gone: []string{"/dev/vdb:"}},
		// As in Warewulf, a network device left without a value goes.
		{name: "a device left without a value goes", args: []string{"--netname=eth1", "--ipaddr=0.0.0.0", "-y"}, gone: []string{"eth1:"}},
		{name: "the unspecified address clears", args: []string{"--ipaddr=0.0.0.0", "-y"}, gone: []string{"ipaddr: 10.0.0.1", "0.0.0.0"}},
		{name: "partdel found nowhere", args: []string{"--partdel=nopart", "-y"}, wantErr: `--partdel: no disk has a partition "nopart"`},
		{name: "fsname that is no device path", args: []string{"--fsname=dev/vda1", "--fspath=/x", "-y"}, wantErr: `--fsname: "dev/vda1" is neither a device path`},
		{name: "force does not answer the question", args: []string{"--comment=x", "--force"}, wantErr: "aborted, nothing changed"},
		{name: "force with yes", args: []string{"--comment=x", "-f", "-y"}, gone: []string{"comment: first"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.writeNodes(unsetConf)
			_, stderr, err := tr.run(tc.stdin, append([]string{"node", "set", "n01"}, tc.args...)...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if tr.nodesConf() != unsetConf {
					t.Error("nodes.conf changed")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			export := tr.mustRun("node", "export", "n01")
			for _, g := range tc.gone {
				if strings.Contains(export, g) {
					t.Errorf("n01 still has %q:\n%s", g, export)
				}
			}
		})
	}
}

// A key this version does not know (a later Warewulf's) is kept in
// nodes.conf: an entry that set or unset leaves holding nothing else is
// not pruned with it.
func TestPruneKeepsUnknownKeys(t *testing.T) {
	conf := strings.NewReplacer(
		"      eth1:\n        ipaddr: 10.1.0.1\n", "      eth1:\n        ipaddr: 10.1.0.1\n        future key: kept\n",
		"      /dev/vdb:\n        partitions:", "      /dev/vdb:\n        future disk key: kept\n        partitions:",
	).Replace(unsetConf)
	for _, tc := range []struct {
		name string
		args []string
		keep string
	}{
		{name: "set --partdel empties a disk", args: []string{"node", "set", "n01", "--partdel=swap", "--diskname=/dev/vdb", "-y"}, keep: "future disk key: kept"},
		{name: "set clears a device's last value", args: []string{"node", "set", "n01", "--netname=eth1", "--ipaddr=0.0.0.0", "-y"}, keep: "future key: kept"},
		{name: "unset clears a device's last value", args: []string{"node", "unset", "n01", "--netname=eth1", "--ipaddr", "-y"}, keep: "future key: kept"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.writeNodes(conf)
			if _, stderr, err := tr.run("", tc.args...); err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			if got := tr.nodesConf(); !strings.Contains(got, tc.keep) {
				t.Errorf("nodes.conf lost %q:\n%s", tc.keep, got)
			}
		})
	}
}
