package overlay

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
	"github.com/wwboot/wwboot/overlays"
)

// TestFlatDataHasDataNames checks that flatData offers exactly the
// top-level names of Data (its own fields and those promoted from Node
// and Profile, but not Node and Profile themselves) with the same types,
// that flatNames lists them, and that flatten copies every one.
func TestFlatDataHasDataNames(t *testing.T) {
	dt, ft := reflect.TypeOf(Data{}), reflect.TypeOf(flatData{})
	want := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(dt) {
		if f.IsExported() && f.Name != "Node" && f.Name != "Profile" {
			want[f.Name] = f.Type
		}
	}
	got := map[string]reflect.Type{}
	for f := range ft.Fields() {
		got[f.Name] = f.Type
	}
	if diff := cmp.Diff(typeNames(want), typeNames(got)); diff != "" {
		t.Errorf("flatData's fields differ from Data's top-level names (-Data +flatData):\n%s", diff)
	}
	if diff := cmp.Diff(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(flatNames))); diff != "" {
		t.Errorf("flatNames differs from flatData's fields (-fields +flatNames):\n%s", diff)
	}
	if n := reflect.PointerTo(ft).NumMethod(); n != 0 {
		t.Errorf("*flatData has %d methods, want none (Data passed by value has none)", n)
	}
	// flatten copies every field: fill a Data with a distinct value in
	// each field and compare field by field.
	var d Data
	dv := reflect.ValueOf(&d).Elem()
	i := 0
	for _, f := range reflect.VisibleFields(dt) {
		if !f.IsExported() || f.Name == "Node" || f.Name == "Profile" {
			continue
		}
		i++
		fv := dv.FieldByIndex(f.Index)
		switch fv.Kind() {
		case reflect.String:
			fv.SetString("v" + f.Name)
		case reflect.Bool:
			fv.SetBool(true)
		case reflect.Pointer:
			fv.Set(reflect.New(fv.Type().Elem()))
		case reflect.Slice:
			fv.Set(reflect.MakeSlice(fv.Type(), i, i))
		case reflect.Map:
			fv.Set(reflect.MakeMapWithSize(fv.Type(), 0))
		case reflect.Struct:
			// A struct section: mark its first string field.
			for j := 0; j < fv.NumField(); j++ {
				if fv.Field(j).Kind() == reflect.String {
					fv.Field(j).SetString("v" + f.Name)
					break
				}
			}
		}
	}
	fl := reflect.ValueOf(flatten(&d)).Elem()
	for _, f := range reflect.VisibleFields(dt) {
		if !f.IsExported() || f.Name == "Node" || f.Name == "Profile" {
			continue
		}
		a, b := dv.FieldByIndex(f.Index), fl.FieldByName(f.Name)
		if !b.IsValid() {
			continue // reported above
		}
		same := reflect.DeepEqual(a.Interface(), b.Interface())
		switch a.Kind() {
		case reflect.Pointer, reflect.Map:
			same = a.Pointer() == b.Pointer()
		case reflect.Slice:
			same = a.Pointer() == b.Pointer() && a.Len() == b.Len()
		}
		if !same {
			t.Errorf("flatten does not copy %s", f.Name)
		}
	}
}

func typeNames(m map[string]reflect.Type) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = v.String()
	}
	return out
}

// shownEntry is what an Entry holds that a node sees.
type shownEntry struct {
	Path     string
	Kind     Kind
	Mode     fs.FileMode
	UID, GID int
	Data     string
	Target   string
	NoBackup bool
}

// renderAll renders each overlay of names for each node of snap (and
// the host overlay for the server) and returns, by overlay/node, the
// entries made or the error. set, when not nil, sets the renderer up.
func renderAll(t *testing.T, snap *Snapshot, names []string, set func(*Renderer)) (map[string]any, *Renderer) {
	t.Helper()
	r, err := snap.Renderer(names...)
	if err != nil {
		t.Fatal(err)
	}
	if set != nil {
		set(r)
	}
	out := map[string]any{}
	for _, ov := range names {
		nodes := snap.NodeNames()
		if ov == "host" {
			nodes = []string{""}
		}
		for _, node := range nodes {
			var n *Node
			if node != "" {
				n = snap.Node(node)
			}
			res, err := r.Render(n, "server", []string{ov})
			if err != nil {
				out[ov+"/"+node] = "error: " + err.Error()
				continue
			}
			var entries []shownEntry
			for _, e := range res.Tree.Sorted() {
				entries = append(entries, shownEntry{e.Path, e.Kind, e.Mode, e.UID, e.GID, string(e.Data), e.Target, e.NoBackup})
			}
			out[ov+"/"+node] = entries
		}
	}
	return out, r
}

// goldenInput returns the content of name, a file of the golden
// inventory and configuration the stock overlays are tested with
// (overlays/testdata).
func goldenInput(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "overlays", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// stockOverlays returns the names of the overlays shipped in overlays/.
func stockOverlays(t *testing.T) []string {
	t.Helper()
	entries, err := fs.ReadDir(overlays.FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}

// hostFiles returns a server root in a temporary directory with the
// files the stock templates read from the server: root's authorized
// keys, passwd, group and hosts.
func hostFiles(t *testing.T) string {
	t.Helper()
	host := t.TempDir()
	for p, content := range map[string]string{
		"root/.ssh/authorized_keys": "ssh-ed25519 AAAAadmin admin@server\n",
		"etc/passwd":                "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\n",
		"etc/group":                 "root:x:0:\nalice:x:1000:\n",
		"etc/hosts":                 "127.0.0.1 localhost\n",
	} {
		sitetest.Write(t, filepath.Join(host, p), content)
	}
	return host
}

// TestFlatRendersAsData renders every stock overlay for every node of
// the golden inventory (overlays/testdata: plain, bonded, InfiniBand,
// tagged, diskful nodes) once with flatData and once with Data, as
// before, and compares every entry byte for byte.
func TestFlatRendersAsData(t *testing.T) {
	epoch := time.Unix(1700000000, 0)
	snap := goldenSnapshots(t, goldenInput(t, "warewulf.conf"), goldenInput(t, "nodes.conf"), &epoch)
	names := stockOverlays(t)
	want, _ := renderAll(t, snap(), names, func(r *Renderer) { r.dataOnly = true })
	got, r := renderAll(t, snap(), names, nil)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("flatData renders differently from Data (-Data +flatData):\n%s", diff)
	}
	// Every stock template takes the flat path, or this compares Data
	// with itself.
	for f, p := range r.parsed {
		if !p.flat {
			t.Errorf("stock template %s executes with Data", f.Path)
		}
	}
	if len(r.parsed) < 20 {
		t.Errorf("only %d stock templates rendered", len(r.parsed))
	}
}

// goldenSnapshots returns a maker of snapshots of the stock overlays
// for the given warewulf.conf and nodes.conf, with the server files of
// hostFiles, ssh keys from zeroReader and times in UTC from epoch (nil:
// the overlays' built-in time).
func goldenSnapshots(t *testing.T, conf, nodes string, epoch *time.Time) func() *Snapshot {
	t.Helper()
	cfg, _, err := config.Parse([]byte(conf), "warewulf.conf")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse([]byte(nodes), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	host := hostFiles(t)
	return func() *Snapshot {
		s, err := NewSnapshot(cfg, inv, &Store{Builtin: overlays.FS()}, RenderOptions{
			Sysconfdir: filepath.Join(host, "etc"), HostRoot: host, BuildHost: "server", Epoch: epoch,
			Builtin: time.Unix(1600000000, 0), Location: time.UTC, Rand: zeroReader{}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

// renderNodes renders overlay t with r for each node and gives what it
// made, or the error, by node.
func renderNodes(t *testing.T, r *Renderer, snap *Snapshot, nodes ...string) map[string]any {
	t.Helper()
	res := map[string]any{}
	for _, node := range nodes {
		out, err := r.Render(snap.Node(node), "", []string{"t"})
		if err != nil {
			res[node] = "error: " + err.Error()
			continue
		}
		var entries []shownEntry
		for _, e := range out.Tree.Sorted() {
			entries = append(entries, shownEntry{e.Path, e.Kind, e.Mode, e.UID, e.GID, string(e.Data), e.Target, e.NoBackup})
		}
		res[node] = entries
	}
	return res
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// TestFlatEdgeCases renders templates that use the top-level data in
// the ways flatData could change, with flatData (where flatOK allows it)
// and with Data, and compares outputs and errors.
func TestFlatEdgeCases(t *testing.T) {
	tests := []struct {
		name, tmpl string
		flat       bool // whether flatOK takes the flat path
	}{
		{"promoted fields", "{{.Id}} {{.Hostname}} {{.Comment}} {{.ClusterName}} {{.ImageName}} {{.PrimaryNetDev}} {{.Discoverable}} {{.Kernel.Args}} {{.Tags}} {{.Container}} {{.ContainerName}}", true},
		{"netdevs at top: no primary", "{{range $k, $d := .NetDevs}}{{$k}}={{$d.Device}},{{$d.Primary}},{{$d.IpCIDR}};{{end}}", true},
		{"disks at top: no ids", "{{range .Disks}}[{{.Id}}]{{range .PartitionList}}({{.Id}}){{end}}{{end}}{{range .FileSystems}}<{{.Id}}>{{end}}", true},
		{"ThisNode methods", "{{.ThisNode.Id}} {{.ThisNode.Valid}} {{range .ThisNode.DiskList}}{{.Id}}{{end}} {{with .ThisNode}}{{.ContainerName}}{{end}}", true},
		{"dollar fields", "{{range .AllNodes}}{{.Id}}/{{$.Id}}/{{$.Ipaddr}} {{end}}", true},
		{"WWbool methods", "{{.Discoverable.Bool}} {{.Discoverable.BoolDefaultTrue}} {{.Ipmi.Write.Bool}}", true},
		{"sections", "{{.Dhcp}} {{.Paths.NodesConf}} {{.Warewulf.Port}} {{.Nfs.Enabled}} {{.Ssh.KeyTypes}} {{.Tftp}} {{.Wwclient.Port}}", true},
		{"build fields", "{{.Overlay}} {{.BuildSource}} {{.BuildTime}} {{.BuildTimeUnix}} {{.BuildHost}}", true},
		{"pointer method at top", "{{.DiskList}}", false},
		{"method at top", "{{.Valid}}", false},
		{"embedded Node", "{{.Node.Comment}} {{.Node.ClusterName}}", false},
		{"embedded Profile", "{{.Profile.ImageName}}", false},
		{"whole data", "{{toJson .}}", false},
		{"whole data in a variable", "{{$d := .}}{{$d.Id}}", false},
		{"bare dollar", "{{range .NetDevs}}{{printf \"%T\" $}}{{end}}", false},
		{"missing field", "{{.NoSuchField}}", false},
		{"missing field after dollar", "{{$.NoSuchField}}", false},
		{"dot inside range", "{{range .Kernel.Args}}{{.}}{{end}}", true},
		{"defined template given dot", `{{define "x"}}{{.Id}} {{$.Comment}}{{end}}{{template "x" .}}{{template "x" $}}`, true},
		{"defined template given dot, using it whole", `{{define "x"}}{{toJson .}}{{end}}{{template "x" .}}`, false},
		{"defined template given dot, missing field", `{{define "x"}}{{.Nope}}{{end}}{{template "x" .}}`, false},
		{"defined template given dot, calling another", `{{define "y"}}{{.Node.Comment}}{{end}}{{define "x"}}{{template "y" $}}{{end}}{{template "x" .}}`, false},
		{"defined template given a device", `{{define "x"}}{{$d := .}}{{$d.Device}} {{$}} {{.Tags}}{{end}}{{range .NetDevs}}{{template "x" .}}{{end}}`, true},
		{"defined template given a device, then dot", `{{define "x"}}{{$d := .}}{{$d.Device}}{{end}}{{range .NetDevs}}{{template "x" .}}{{end}}{{template "x" .}}`, false},
		{"template given nothing", `{{define "x"}}{{.}}{{end}}{{template "x"}}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]string{"var/warewulf/overlays/t/rootfs/out.ww": tc.tmpl})
			var results [2]map[string]string
			for i, dataOnly := range []bool{true, false} {
				r, err := f.snap.Renderer("t")
				if err != nil {
					t.Fatal(err)
				}
				// A memo of its own, or a template that is the same
				// for every node would be rendered by the first only.
				r.dataOnly, r.memo = dataOnly, &sync.Map{}
				res := map[string]string{}
				for _, node := range []string{"n1", "n2"} {
					out, err := r.Render(f.snap.Node(node), "", []string{"t"})
					if err != nil {
						res[node] = "error: " + err.Error()
						continue
					}
					if e := out.Tree["out"]; e != nil {
						res[node] = string(e.Data)
					}
				}
				results[i] = res
				if !dataOnly {
					for _, p := range r.parsed {
						if p.flat != tc.flat {
							t.Errorf("flat path = %v, want %v", p.flat, tc.flat)
						}
					}
				}
			}
			if diff := cmp.Diff(results[0], results[1]); diff != "" {
				t.Errorf("flatData renders differently from Data (-Data +flatData):\n%s", diff)
			}
		})
	}
}
