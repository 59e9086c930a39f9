package overlay

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestFoldRendersAsUnfolded renders every stock overlay for every node
// of the golden inventory, plus a node without network devices, with
// and without folding, with text/template and as programs
// (compile.go), and compares every entry byte for byte: with
// shared and per-node ssh host keys, with and without IPv6 on the
// server, with .BuildTime from SOURCE_DATE_EPOCH and from the built-in
// time, with flatData and with Data.
func TestFoldRendersAsUnfolded(t *testing.T) {
	conf, nodes := goldenInput(t, "warewulf.conf"), goldenInput(t, "nodes.conf")+"  bare:\n    profiles: [default]\n"
	if !strings.Contains(conf, "\nssh:\n") || !strings.Contains(conf, "\nipaddr6: fd00:10::1/64\n") {
		t.Fatal("the golden warewulf.conf changed: update the variants")
	}
	names := stockOverlays(t)
	epoch := time.Unix(1700000000, 0)
	tests := []struct {
		name     string
		conf     string
		epoch    *time.Time
		dataOnly bool
	}{
		{"golden", conf, &epoch, false},
		{"golden with Data", conf, &epoch, true},
		{"shared host keys", strings.Replace(conf, "\nssh:\n", "\nssh:\n  shared host keys: true\n", 1), &epoch, false},
		{"no IPv6", strings.Replace(conf, "\nipaddr6: fd00:10::1/64\n", "\n", 1), &epoch, false},
		{"no IPv6 with Data", strings.Replace(conf, "\nipaddr6: fd00:10::1/64\n", "\n", 1), &epoch, true},
		{"built-in time", conf, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			snap := goldenSnapshots(t, tc.conf, nodes, tc.epoch)
			want, plain := renderAll(t, snap(), names, func(r *Renderer) { r.noFold, r.dataOnly = true, tc.dataOnly })
			got, folded := renderAll(t, snap(), names, func(r *Renderer) { r.noCompile, r.dataOnly = true, tc.dataOnly })
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("folded templates render differently (-unfolded +folded):\n%s", diff)
			}
			// Folding happened, or this compares a rendering with itself.
			trees := map[string]string{}
			for f, p := range plain.parsed {
				trees[f.Path] = p.t.Tree.Root.String()
			}
			changed := 0
			for f, p := range folded.parsed {
				if trees[f.Path] != p.t.Tree.Root.String() {
					changed++
				}
			}
			if changed < 10 {
				t.Errorf("folding changed only %d stock templates", changed)
			}

			// As programs (compile.go), folded and not, against the same
			// renderings with text/template.
			for _, noFold := range []bool{false, true} {
				ref := got
				if noFold {
					ref = want
				}
				prog, compiled := renderAll(t, snap(), names, func(r *Renderer) { r.noFold, r.dataOnly = noFold, tc.dataOnly })
				if diff := cmp.Diff(ref, prog); diff != "" {
					t.Errorf("unfolded %v: programs render differently (-text/template +program):\n%s", noFold, diff)
				}
				// Every stock template compiled and ran to its end, or a
				// rendering was compared with itself.
				for f, p := range compiled.parsed {
					switch {
					case p.prog == nil:
						t.Errorf("%s did not compile", f.Path)
					case p.prog.bails != 0:
						t.Errorf("%s gave up %d times", f.Path, p.prog.bails)
					}
				}
			}
		})
	}
}

// TestFoldEdgeCases renders small templates with and without folding,
// with flatData and with Data, for two nodes, and compares everything
// they make or the error.
func TestFoldEdgeCases(t *testing.T) {
	tests := []struct {
		name, tmpl string
		folds      bool // whether folding changes the template
	}{
		{"node-free fields", "{{.Ipaddr}} {{.Netmask}} {{.Warewulf.Port}} {{.Ssh}} {{.Dhcp.Enabled}} {{$.Nfs.Enabled}}", true},
		{"node fields", "{{.Id}} {{.Comment}} {{.Tags}} {{.ThisNode.Id}}", false},
		{"build fields", "{{.Overlay}} {{.BuildSource}} {{.BuildTime}} {{.BuildTimeUnix}} {{.BuildHost}} {{if .BuildSource}}s{{end}}", true},
		{"if node-free, else", "{{if .Ipv6}}six{{else}}four {{.Id}}{{end}} {{if .Warewulf.Secure}}secure{{end}} {{if not .Ipv6}}x{{end}}", true},
		{"if on a node field", "{{if .Tags}}t{{else}}n{{end}} {{if .Comment}}c{{end}}", false},
		{"else if chain", "{{if .Ipv6}}a{{else if .Comment}}b {{.Ipaddr}}{{else if .Warewulf.Secure}}c{{else}}d{{end}}", true},
		{"with in a branch", "{{if .Ipv6}}a{{else}}{{with .Comment}}{{.}}{{else}}{{.Ipaddr}}{{end}}{{end}}", true},
		{"else with", "{{with .Comment}}{{.}}{{else with .Warewulf}}{{.Port}} {{$.Netmask}}{{end}}", true},
		{"nested range with dollar", "{{range .NetDevs}}{{.Device}} {{$.Ipaddr}} {{range $.AllNodes}}{{.Id}}/{{$.Warewulf.Port}}/{{$.Id}} {{end}}{{end}}", true},
		{"dot in range body is not the data", "{{range .Kernel.Args}}{{.}}{{end}}{{range $.Ssh.KeyTypes}}[{{.}}]{{end}}", false},
		{"range else", "{{range .Tags}}{{.}}{{else}}{{$.Netmask}} {{.Netmask}}{{end}}", true},
		{"with body", "{{with .Warewulf}}{{.Port}} {{$.Ipaddr}}{{end}}", true},
		{"variable declared in a folded branch", `{{$x := "outer"}}{{if .Warewulf.Port}}{{$x := "inner"}}{{$x}}{{end}}{{$x}}`, false},
		{"variable assigned in a folded branch", `{{$x := "outer"}}{{if .Warewulf.Port}}{{$x = "inner"}}{{$x}}{{end}}{{$x}} {{.Ipaddr}}`, true},
		{"variables", `{{$p := .Warewulf.Port}}{{$p}} {{$p = .Id}}{{$p}}`, false},
		{"trim markers", "a  {{- .Ipaddr -}}  b\n{{- if .Ipv6 }}\n  x\n{{- else }}\n  y {{ .Netmask -}}\n{{- end }}\n   {{- /* c */ -}}  z\n", true},
		{"missing map key", "[{{.Tftp.IpxeBinaries.nope}}] [{{index .Tags \"nope\"}}] [{{.Tags.nope}}]", true},
		{"missing field: the node's error", "{{.Ipaddr}}{{.Dhcp.Nope}}", true},
		{"missing field in a condition", "{{if .Nope}}x{{end}}{{.Id}}", false},
		{"nil in a condition", "{{if nil}}x{{end}}", false},
		{"parentheses and chains", "{{(.Warewulf).Port}} {{(.Ipaddr)}} {{print .Ipaddr}}", true},
		{"functions", "{{len .AllNodes}} {{printf \"%s\" .Ipaddr}} {{.Ipaddr | printf \"%s\"}}", false},
		{"defined template", `{{define "x"}}{{.Ipaddr}} {{.Id}}{{end}}{{template "x" .}} {{.Netmask}}`, true},
		{"whole data: Data", "{{$d := .}}{{$d.Id}} {{.Ipaddr}} {{if .Ipv6}}6{{else}}4{{end}}", true},
		{"embedded Node: Data", "{{.Node.Comment}} {{.Ipaddr}} {{.Overlay}}", true},
		{"files", `{{.Ipaddr}}{{file "a"}}{{.Netmask}}{{if .Ipv6}}{{file "b"}}{{.Id}}{{end}}{{file "c"}}{{.Id}}`, true},
		{"abort", `{{.Ipaddr}}{{if .Warewulf.Port}}{{abort}}{{end}}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]string{"var/warewulf/overlays/t/rootfs/out.ww": tc.tmpl})
			results := map[string]map[string]any{}
			for _, dataOnly := range []bool{false, true} {
				var trees [2]string
				for i, noFold := range []bool{true, false} {
					r, err := f.snap.Renderer("t")
					if err != nil {
						t.Fatal(err)
					}
					// A memo of its own: the snapshot's would hand the
					// first renderer's output of a template that is the
					// same for every node to the others.
					r.dataOnly, r.noFold, r.memo = dataOnly, noFold, &sync.Map{}
					res := renderNodes(t, r, f.snap, "n1", "n2")
					results[strings.Repeat("data ", b2i(dataOnly))+strings.Repeat("unfolded", b2i(noFold))] = res
					for _, p := range r.parsed {
						trees[i] = p.t.Tree.Root.String()
					}
				}
				if folds := trees[0] != trees[1]; folds != tc.folds {
					t.Errorf("dataOnly %v: folding changes the template: %v, want %v\n%s", dataOnly, folds, tc.folds, trees[1])
				}
			}
			for _, k := range []string{"", "data ", "data unfolded"} {
				if diff := cmp.Diff(results["unfolded"], results[k]); diff != "" {
					t.Errorf("%q renders differently (-flat unfolded +%s):\n%s", k, k, diff)
				}
			}
		})
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
