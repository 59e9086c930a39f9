package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestListFormatsGolden holds every list table Warewulf prints, over
// bonded, VLAN, IPv6 and IPMI nodes, so that a change to their layout
// shows as a diff: header, underline, then one row per node or field.
func TestListFormatsGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "ww-node-list", args: []string{"node", "list"}},
		{name: "ww-node-list-net", args: []string{"node", "list", "-n"}},
		{name: "ww-node-list-ipmi", args: []string{"node", "list", "-i"}},
		{name: "ww-node-list-long", args: []string{"node", "list", "-l"}},
		{name: "ww-node-list-all", args: []string{"node", "list", "-a"}},
		{name: "ww-node-list-all-fields-vlan01", args: []string{"node", "list", "--all-fields", "vlan01"}},
		{name: "ww-profile-list", args: []string{"profile", "list"}},
		{name: "ww-profile-list-all", args: []string{"profile", "list", "-a"}},
		{name: "ww-profile-list-all-fields-bonded", args: []string{"profile", "list", "--all-fields", "bonded"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "testdata/list-nodes.conf")
			golden(t, tc.name+".txt", tr.mustRun(tc.args...))
		})
	}
}

// The names a list command shows, and what it says on stderr: Warewulf
// skips empty names ("n001,") and names that match nothing, and lists
// everything for ",".
func TestListSelection(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		want      []string
		wantError string // on stderr
	}{
		{name: "trailing comma", args: []string{"node", "list", "n001,"}, want: []string{"n001"}},
		{name: "comma list", args: []string{"node", "list", "n002,n001"}, want: []string{"n001", "n002"}},
		{name: "unknown names are skipped", args: []string{"node", "list", "n001,n009", "x[1-2]"}, want: []string{"n001"}, wantError: "no such node: n009,x[1-2]"},
		{name: "only unknown names", args: []string{"node", "list", "-n", "n009"}, want: nil, wantError: "no such node: n009"},
		{name: "a lone comma lists all", args: []string{"profile", "list", ","}, want: []string{"default", "gpu", "ib"}},
		{name: "profile trailing comma", args: []string{"profile", "list", "gpu,"}, want: []string{"gpu"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "testdata/nodes.conf")
			// Without the old WW_INTERNAL key, whose warning is not what
			// this test is about.
			conf := strings.Replace(tr.nodesConf(), "WW_INTERNAL: 45\n", "", 1)
			if err := os.WriteFile(tr.nodes, []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := tr.run("", tc.args...)
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) < 2 || strings.Trim(lines[1], "- ") != "" {
				t.Fatalf("no underline row under the header:\n%s", out)
			}
			var got []string
			for _, l := range lines[2:] {
				got = append(got, strings.Fields(l)[0])
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rows (-want +got):\n%s", diff)
			}
			if tc.wantError == "" && stderr != "" || !strings.Contains(stderr, tc.wantError) {
				t.Errorf("stderr %q, want %q", stderr, tc.wantError)
			}
		})
	}
}

func TestListGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{name: "node-list", args: []string{"node", "list"}},
		{name: "node-list-net", args: []string{"node", "list", "-n"}},
		{name: "node-list-ipmi", args: []string{"node", "list", "--ipmi"}},
		{name: "node-list-long", args: []string{"node", "list", "-l"}},
		{name: "node-list-all-gpu01", args: []string{"node", "list", "-a", "gpu01"}},
		{name: "node-list-json-n001", args: []string{"node", "list", "-j", "n001"}},
		{name: "node-list-yaml-range", args: []string{"node", "list", "-y", "n[001-002]"}},
		{name: "node-export-gpu01", args: []string{"node", "export", "gpu01"}},
		{name: "node-export-merged-n001", args: []string{"node", "export", "--merged", "n001"}},
		{name: "profile-list", args: []string{"profile", "list"}},
		{name: "profile-list-all-gpu", args: []string{"profile", "list", "-a", "gpu"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "testdata/nodes.conf")
			golden(t, tc.name+".txt", tr.mustRun(tc.args...))
		})
	}
}

func TestNodeAddSetUnset(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n[01-03]", "--ipaddr", "10.0.0.1", "--ipmiaddr", "10.1.0.1", "-N", "eth0", "--netmask", "255.255.255.0")
	tr.mustRun("profile", "add", "gpu", "--tagadd", "gpu=a100", "-A", `nouveau.modeset=0,"console=ttyS0,115200"`)
	tr.mustRun("node", "set", "n02", "--profile", "default,gpu", "--comment", "", "--hwaddr", "AA-BB-CC-DD-EE-02", "--mtu", "9000", "-y")
	tr.mustRun("node", "set", "n03", "--netname", "ib", "-N", "ib0", "-I", "10.2.0.3", "--nettagadd", "DNS1=10.0.0.1", "--tagadd", "rack=r1", "-y")
	tr.mustRun("node", "unset", "n01", "--ipmiaddr", "-y")
	tr.mustRun("node", "unset", "n03", "--netname", "default", "-y")
	out := tr.mustRun("node", "list", "-n")
	golden(t, "add-set-unset-net.txt", out)
	golden(t, "add-set-unset-nodes.conf", tr.nodesConf())
	all := strings.Join(strings.Fields(tr.mustRun("node", "list", "-a", "n02")), " ")
	for _, want := range []string{
		`n02 Comment -- ""`,
		"n02 Kernel.Args default,gpu quiet,crashkernel=no,net.ifnames=1,nouveau.modeset=0,console=ttyS0,115200",
		"n02 NetDevs[default].Hwaddr -- aa:bb:cc:dd:ee:02",
		"n02 Tags[gpu] gpu a100",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("list -a n02 lacks %q:\n%s", want, all)
		}
	}
}

func TestRefusedChangesLeaveFileUnchanged(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{name: "bad IP", args: []string{"node", "set", "n001", "--ipaddr", "10.0.0.256", "-y"}, want: `--ipaddr: "10.0.0.256" is not an IPv4 address`},
		{name: "bad netmask", args: []string{"node", "set", "n001", "--netmask", "255.0.255.0", "-y"}, want: `--netmask: "255.0.255.0" is not a valid netmask`},
		{name: "bad MAC", args: []string{"node", "set", "n001", "--hwaddr", "zz:bb:cc:dd:ee:ff", "-y"}, want: `--hwaddr: "zz:bb:cc:dd:ee:ff" is not a hardware address`},
		{name: "bad bool", args: []string{"node", "set", "n001", "--onboot=perhaps", "-y"}, want: `--onboot: "perhaps" is not a boolean`},
		{name: "duplicate MAC", args: []string{"node", "set", "n002", "--hwaddr", "aa:bb:cc:00:00:01", "-y"},
			want: `node "n002": NetDevs[default].Hwaddr: "aa:bb:cc:00:00:01" is also used by node "n001" (NetDevs[default].Hwaddr)`},
		{name: "duplicate IP from a range add", args: []string{"node", "add", "x[1-2]", "--ipaddr", "10.0.0.1"},
			want: `node "x1": NetDevs[default].Ipaddr: "10.0.0.1" is also used by node "n001" (NetDevs[default].Ipaddr)`},
		{name: "missing profile", args: []string{"node", "set", "n001", "--profile", "nosuch", "-y"}, want: `Profiles: "nosuch" is not an existing profile`},
		{name: "profile set without profiles, as Warewulf refuses it", args: []string{"profile", "set", "--comment", "x", "-y"}, want: "name the profiles to change, or use --all"},
		{name: "profile cycle", args: []string{"profile", "set", "ib", "--profile", "gpu", "-y"}, want: `includes itself: gpu -> ib -> gpu`},
		{name: "unknown node", args: []string{"node", "set", "n[001-009]", "--comment", "x", "-y"}, want: `no such node: n[003-009]`},
		{name: "existing node", args: []string{"node", "add", "n001"}, want: `node already exists: n001`},
		{name: "bad pattern", args: []string{"node", "delete", "n[1-", "-y"}, want: `hostlist pattern`},
		{name: "bad node name", args: []string{"node", "add", "bad/name"}, want: `hostlist pattern "bad/name"`},
		{name: "delete used profile", args: []string{"profile", "delete", "gpu", "-y"}, want: `profile "gpu" is used by node(s) gpu01`},
		{name: "delete default profile", args: []string{"profile", "delete", "default", "-y"}, want: `the default profile cannot be deleted`},
		{name: "declined", args: []string{"node", "delete", "n001"}, stdin: "n\n", want: `aborted, nothing changed`},
		{name: "no answer", args: []string{"node", "set", "n001", "--comment", "x"}, want: `aborted, nothing changed`},
		{name: "set without flags", args: []string{"node", "set", "n001", "-y"}, want: `nothing to change`},
		{name: "set without nodes", args: []string{"node", "set", "--comment", "x", "-y"}, want: `name the nodes to change, or use --all`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "testdata/nodes.conf")
			before := tr.nodesConf()
			_, _, err := tr.run(tc.stdin, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if diff := cmp.Diff(before, tr.nodesConf()); diff != "" {
				t.Errorf("nodes.conf changed:\n%s", diff)
			}
		})
	}
}

func TestConfirmationYes(t *testing.T) {
	tr := newTree(t, "testdata/nodes.conf")
	out, _, err := tr.run("y\n", "node", "delete", "n00[1-2]")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Deleted 2 node(s): n[001-002]") {
		t.Errorf("output: %s", out)
	}
	if strings.Contains(tr.nodesConf(), "n001:") {
		t.Error("n001 still in nodes.conf")
	}
}

// Deleting a node that is not there is a warning, as in Warewulf, so a
// clean-up script can run twice.
func TestDeleteMissingNodes(t *testing.T) {
	tr := newTree(t, "testdata/nodes.conf")
	out, stderr, err := tr.run("", "node", "delete", "n001,n999", "-y")
	if err != nil || !strings.Contains(out, "Deleted 1 node(s): n001") || !strings.Contains(stderr, "no such node: n999") {
		t.Fatalf("delete n001,n999: %v\nout: %s\nstderr: %s", err, out, stderr)
	}
	before := tr.nodesConf()
	out, stderr, err = tr.run("", "node", "delete", "n001", "-y")
	if err != nil || out != "No changes.\n" || !strings.Contains(stderr, "no such node: n001") {
		t.Fatalf("delete n001 again: %v\nout: %q\nstderr: %s", err, out, stderr)
	}
	if tr.nodesConf() != before {
		t.Error("nodes.conf changed")
	}
}

func TestSetShowsGroupedChanges(t *testing.T) {
	tr := newTree(t, "testdata/nodes.conf")
	out := tr.mustRun("node", "set", "n001", "n002", "--image", "alma-9", "-y")
	want := "n[001-002]:\n  ImageName: (unset) -> alma-9\nModified 2 node(s)\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	if out := tr.mustRun("node", "set", "n001", "--image", "alma-9", "-y"); out != "No changes.\n" {
		t.Errorf("repeat set: %q", out)
	}
}

func TestExportImportRoundTrip(t *testing.T) {
	tr := newTree(t, "testdata/nodes.conf")
	exported := tr.mustRun("node", "export")
	file := filepath.Join(tr.root, "export.yaml")
	if err := os.WriteFile(file, []byte(exported), 0o644); err != nil {
		t.Fatal(err)
	}
	other := newTree(t, "")
	other.mustRun("profile", "add", "gpu")
	other.mustRun("profile", "add", "ib")
	other.mustRun("node", "import", file)
	if diff := cmp.Diff(exported, other.mustRun("node", "export")); diff != "" {
		t.Errorf("export after import differs (-want +got):\n%s", diff)
	}
}

func TestImportReplaces(t *testing.T) {
	tr := newTree(t, "testdata/nodes.conf")
	file := filepath.Join(tr.root, "n.yaml")
	if err := os.WriteFile(file, []byte("n001:\n  profiles: [default]\n  comment: replaced\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.run("", "node", "import", file); err == nil {
		t.Fatal("import replaced a node without confirmation")
	}
	tr.mustRun("node", "import", file, "--yes")
	got := tr.mustRun("node", "export", "n001")
	want := "n001:\n    profiles:\n        - default\n    comment: replaced\n"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("imported node was merged, not replaced (-want +got):\n%s", diff)
	}
}

func TestImportCSV(t *testing.T) {
	tr := newTree(t, "")
	file := filepath.Join(tr.root, "nodes.csv")
	csv := "node,ipaddr,hwaddr,netdev,ipmiaddr,tagadd\n" +
		"c1,10.0.0.1,AA:BB:CC:00:00:01,eno1,10.1.0.1,rack=a\n" +
		"c2,10.0.0.2,aa:bb:cc:00:00:02,eno1,,\n"
	if err := os.WriteFile(file, []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.mustRun("node", "import", file)
	golden(t, "import-csv.txt", tr.mustRun("node", "export"))

	for _, tc := range []struct{ name, csv, want string }{
		{"bad header", "name,ipadr\nc3,1.2.3.4\n", `nodes.csv:1: column 2: "ipadr" is not a node field flag`},
		{"bad value", "node,ipaddr\nc3,1.2.3\n", `nodes.csv:2: --ipaddr: "1.2.3" is not an IPv4 address`},
		{"duplicate row", "node,ipaddr\nc3,1.2.3.4\nc3,1.2.3.5\n", `nodes.csv:3: node "c3" appears twice`},
		{"duplicate MAC", "node,hwaddr\nc3,aa:bb:cc:00:00:01\n", `is also used by node "c1"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(file, []byte(tc.csv), 0o644); err != nil {
				t.Fatal(err)
			}
			before := tr.nodesConf()
			_, _, err := tr.run("", "node", "import", file, "-y")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
			if tr.nodesConf() != before {
				t.Error("nodes.conf changed")
			}
		})
	}
}

// writeEditor writes an $EDITOR script that applies a sed expression, or
// copies a file over the one being edited.
func writeEditor(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "editor.sh")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEdit(t *testing.T) {
	t.Run("change, add and delete", func(t *testing.T) {
		tr := newTree(t, "testdata/nodes.conf")
		tr.env["EDITOR"] = writeEditor(t, tr.root, `sed -i -e 's/10.0.0.1$/10.0.0.11/' -e '/^spare:/,$d' "$1" && printf 'new1:\n  profiles: [default]\n' >> "$1"`)
		out, _, err := tr.run("", "node", "edit", "n001", "spare", "-y")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "Applied: 1 to add (new1), 1 to replace (n001), 1 to delete (spare).") {
			t.Errorf("output: %s", out)
		}
		conf := tr.nodesConf()
		if !strings.Contains(conf, "ipaddr: 10.0.0.11") || strings.Contains(conf, "spare:") || !strings.Contains(conf, "new1:") {
			t.Errorf("edit not applied:\n%s", conf)
		}
		if !strings.Contains(conf, "# Compute rack 1") {
			t.Errorf("edit lost the file's comments:\n%s", conf)
		}
	})
	t.Run("only what changed is counted", func(t *testing.T) {
		tr := newTree(t, "testdata/nodes.conf")
		tr.env["EDITOR"] = writeEditor(t, tr.root, `sed -i 's/10.0.0.1$/10.0.0.11/' "$1"`)
		out, stderr, err := tr.run("y\n", "node", "edit")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if want := "Apply: 0 to add, 1 to replace (n001), 0 to delete?"; !strings.Contains(stderr, want) {
			t.Errorf("asked %q, want %q", stderr, want)
		}
		if want := "Applied: 0 to add, 1 to replace (n001), 0 to delete.\n"; out != want {
			t.Errorf("output %q, want %q", out, want)
		}
	})
	t.Run("invalid edit is refused before the question", func(t *testing.T) {
		tr := newTree(t, "testdata/nodes.conf")
		before := tr.nodesConf()
		tr.env["EDITOR"] = writeEditor(t, tr.root, `sed -i 's/10.0.0.2$/10.0.0.1/' "$1"`)
		_, stderr, err := tr.run("n\n", "node", "edit")
		if err == nil || !strings.Contains(err.Error(), "edit abandoned") {
			t.Fatalf("error = %v", err)
		}
		if !strings.Contains(stderr, "is also used by node") || strings.Contains(stderr, "Apply:") {
			t.Errorf("want the duplicate named and no question about applying it; stderr: %s", stderr)
		}
		if tr.nodesConf() != before {
			t.Error("nodes.conf changed")
		}
	})
	t.Run("invalid edit is offered again and can be abandoned", func(t *testing.T) {
		tr := newTree(t, "testdata/nodes.conf")
		before := tr.nodesConf()
		tr.env["EDITOR"] = writeEditor(t, tr.root, `sed -i 's/10.0.0.1$/10.0.0.300/' "$1"`)
		_, stderr, err := tr.run("n\n", "node", "edit", "n001", "-y")
		if err == nil || !strings.Contains(err.Error(), "edit abandoned") {
			t.Fatalf("error = %v", err)
		}
		if !strings.Contains(stderr, `"10.0.0.300" is not an IPv4 address`) || !strings.Contains(stderr, "Edit again?") {
			t.Errorf("stderr: %s", stderr)
		}
		if tr.nodesConf() != before {
			t.Error("nodes.conf changed")
		}
	})
	t.Run("fixed on the second try", func(t *testing.T) {
		tr := newTree(t, "testdata/nodes.conf")
		// The first pass breaks the YAML; the second repairs it.
		tr.env["EDITOR"] = writeEditor(t, tr.root, `if [ -e "$1.seen" ]; then sed -i -e 's/^n002: \[$/n002:/' -e 's/spare$/spare2/' "$1"; else touch "$1.seen"; sed -i 's/^n002:$/n002: [/' "$1"; fi`)
		_, stderr, err := tr.run("y\n", "node", "edit", "n002", "-y", "--noheader")
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		if !strings.Contains(tr.nodesConf(), "comment: spare2") {
			t.Errorf("second edit not applied:\n%s", tr.nodesConf())
		}
	})
	t.Run("deleting the default profile is refused as by profile delete", func(t *testing.T) {
		tr := newTree(t, "testdata/nodes.conf")
		before := tr.nodesConf()
		tr.env["EDITOR"] = writeEditor(t, tr.root, `: > "$1"`)
		_, stderr, err := tr.run("n\n", "profile", "edit", "default", "-y")
		if err == nil || !strings.Contains(err.Error(), "edit abandoned") {
			t.Fatalf("error = %v", err)
		}
		if !strings.Contains(stderr, "the default profile cannot be deleted") {
			t.Errorf("stderr: %s", stderr)
		}
		if tr.nodesConf() != before {
			t.Error("nodes.conf changed")
		}
	})
	t.Run("unchanged", func(t *testing.T) {
		tr := newTree(t, "testdata/nodes.conf")
		tr.env["EDITOR"] = "true"
		if out := tr.mustRun("profile", "edit", "default"); out != "No changes.\n" {
			t.Errorf("output %q", out)
		}
	})
}

func TestGenconfigAndVersion(t *testing.T) {
	tr := newTree(t, "")
	out := tr.mustRun("genconfig", "warewulfconf", "print")
	for _, want := range []string{"port: 9873", "sysconfdir: " + filepath.Join(tr.root, "etc"), "wwoverlaydir: " + filepath.Join(tr.root, "var", "warewulf", "overlays")} {
		if !strings.Contains(out, want) {
			t.Errorf("genconfig lacks %q:\n%s", want, out)
		}
	}
	if out := tr.mustRun("version"); out != "wwctl version: devel\n" {
		t.Errorf("version: %q", out)
	}
}

func TestBadWarewulfConf(t *testing.T) {
	tr := newTree(t, "")
	if err := os.WriteFile(tr.conf, []byte("warewulf:\n  port: 99999\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := tr.run("", "node", "list")
	if err == nil || !strings.Contains(err.Error(), ":2:") || !strings.Contains(err.Error(), "port") {
		t.Fatalf("error = %v, want file:line naming the port", err)
	}
}

// A misspelt key in nodes.conf is a warning on stderr that names file,
// line and key; the command goes on, and a write keeps the key. A
// malformed value stays an error.
func TestUnknownKeyInNodesConf(t *testing.T) {
	tr := newTree(t, "")
	if err := os.MkdirAll(filepath.Dir(tr.nodes), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tr.nodes, []byte("nodes:\n  n1:\n    network devices:\n      eth0: {ipadr: 1.2.3.4}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The first command reads the file as written here; node set moves
	// the line.
	want := tr.nodes + `:4: node \"n1\": network device \"eth0\": unknown key \"ipadr\"; kept in the file, not used`
	for i, args := range [][]string{{"node", "list"}, {"node", "set", "--yes", "n1", "--comment", "x"}, {"profile", "list"}} {
		out, errOut, err := tr.run("", args...)
		if err != nil {
			t.Fatalf("wwctl %s: %v", strings.Join(args, " "), err)
		}
		if i > 0 {
			want = `: node \"n1\": network device \"eth0\": unknown key \"ipadr\"; kept in the file, not used`
		}
		if !strings.Contains(errOut, want) {
			t.Errorf("wwctl %s: stderr = %q, want it to contain %q", strings.Join(args, " "), errOut, want)
		}
		if args[0] == "node" && args[1] == "list" && !strings.Contains(out, "n1") {
			t.Errorf("node list: %q", out)
		}
	}
	if got := tr.nodesConf(); !strings.Contains(got, "ipadr: 1.2.3.4") || !strings.Contains(got, "comment: x") {
		t.Errorf("nodes.conf after node set:\n%s", got)
	}

	if err := os.WriteFile(tr.nodes, []byte("nodes:\n  n1:\n    network devices:\n      eth0: {ipaddr: [1.2.3.4]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := tr.run("", "node", "list")
	if wantErr := tr.nodes + `:4: node "n1": network device "eth0": "ipaddr" must be a single value`; err == nil || !strings.Contains(err.Error(), wantErr) {
		t.Fatalf("error = %v, want %q", err, wantErr)
	}
}
