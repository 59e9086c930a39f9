package overlay

import (
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// compiledCases are templates that exercise text/template's rules where
// a program could differ; runs says whether the program runs to the end
// for both nodes of the fixture (else it gives up, or does not compile,
// and text/template renders).
var compiledCases = []struct {
	name, tmpl string
	runs       bool
}{
	{"text and fields", "a {{.Id}} b {{.Comment}} {{.ClusterName}} {{.Kernel.Args}} {{.Tags}}", true},
	{"missing map key", "[{{.Tags.nope}}] [{{index .Tags \"nope\"}}] [{{.Tftp.IpxeBinaries.nope}}] [{{.Tags.nope.deeper}}]", true},
	{"missing key through a pipeline", "{{.Tags.nope | printf \"%v\"}} {{printf \"%q\" .Tags.nope}} {{print .Tags.nope}}", true},
	{"stringer and plain kinds", "{{.Discoverable}} {{.Ipv6}} {{.Warewulf.Port}} {{.ThisNode.Discoverable}} {{1}} {{-2}} {{1.5}} {{1e3}} {{0x10}} {{'a'}} {{true}} {{\"s\"}} {{2i}}", true},
	{"addresses print through their String", "{{range .NetDevs}}{{.Ipaddr}} {{.Netmask}} [{{.Gateway}}] [{{.Ipaddr6}}] {{.OnBoot}};{{end}} {{.Ipmi.Ipaddr}}", true},
	{"pointers print their element", "{{.Kernel}} {{.ThisNode}}", true},
	{"nil pointer prints <nil>", "{{with .ThisNode}}{{.Ipmi}}{{end}}", true},
	{"method calls", "{{range .ThisNode.NetDevs}}{{.IpCIDR}} {{.Primary}} {{.Device}};{{end}} {{.Discoverable.Bool}} {{.Discoverable.BoolDefaultTrue}}", true},
	{"method on a nil pointer", "{{range .NetDevs}}{{.Ipmi.Write.Bool}}{{end}}{{.Ipmi.Write.Bool}}", false},
	{"if else chains", "{{if .Comment}}c{{else if .Tags}}t{{else}}n{{end}} {{if not .Tags}}none{{end}} {{with .Tags}}{{.localtime}}{{else}}w{{end}}", true},
	{"else with", "{{with .Comment}}{{.}}{{else with .Tags}}{{len .}}{{else}}x{{end}}", true},
	{"and or values", "{{and 1 0 2}} {{or 0 \"\" .Id}} {{and .Id .Tags}} {{or .Comment .Tags.nope}} {{and}}", false},
	{"and or short circuit", "{{and .Id (.Tags.nope)}}|{{or .Id (index .Tags 1)}}|{{and 0 (index .Tags 1)}}|{{or .Tags.nope \"d\"}}|{{0 | and 1}}|{{\"z\" | or 0}}", true},
	{"comparisons", "{{eq 1 1}} {{eq .Id \"n1\" \"n2\"}} {{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1.5 2.5}} {{eq .Tags.nope nil}} {{eq .ThisNode.Ipmi nil}} {{eq .Discoverable \"\"}}", true},
	{"comparison of mixed kinds fails", "{{eq 1 \"1\"}}", false},
	{"lt of bools fails", "{{lt true false}}", false},
	{"index and len", "{{index .Kernel.Args 0}} {{len .NetDevs}} {{len .Id}} {{index .Tags \"localtime\"}} {{with index .NetDevs \"eth\"}}{{.Device}}{{end}}", true},
	{"index out of range", "{{index .Kernel.Args 5}}", false},
	{"field of a missing device", "{{(index .NetDevs \"nope\").Device}}", false},
	{"Sprig's slice, not the built-in one", "{{slice .Kernel.Args 0 1}} {{slice .AllNodes 1 | len}} {{slice (list 1 2 3) 1}}", true},
	{"Sprig's slice of a string fails", "{{slice .Id 1}}", false},
	{"print functions", "{{print 1 2 \"a\" \"b\" .Id}} {{println .Id 3}} {{printf \"%s-%d-%v-%5.2f\" .Id 7 .Tags 3.14159}} {{\"%s!\" | printf}} {{printf}}", false},
	{"printf pipeline", "{{.Id | printf \"<%s>\"}} {{printf \"%v\" nil}} {{print nil}}", true},
	{"sprig functions", "{{upper .Id}} {{.Id | upper | lower}} {{hasPrefix \"n\" .Id}} {{default \"d\" .Comment}} {{join \",\" .Kernel.Args}} {{list 1 2 | len}} {{dict \"a\" 1 | toJson}} {{regexMatch \"^n[0-9]$\" .Id}} {{inc 1}}", true},
	{"direct calls of functions of any values", `{{list 1 "a" nil | toJson}} {{uniq (list 1 1 2) | toJson}} {{append (list 1) 2 | toJson}} {{sub 5 3}} {{toString 4}} {{quote "a" 1 nil}} [{{default nil nil}}] [{{(default nil nil) | printf "%v"}}] {{.Tags.nope | default "d"}} [{{cat}}] {{len (list)}}`, true},
	{"function errors", "{{fail \"boom\"}}", false},
	{"function argument of the wrong type", "{{upper 1}}", false},
	{"variables and scopes", `{{$x := 1}}{{if true}}{{$x := 2}}{{$x}}{{$x = 3}}{{$x}}{{end}}{{$x}}{{range $i, $e := .Kernel.Args}}{{$i}}{{$e}}{{$x = $e}}{{end}}{{$x}}{{with $y := .Id}}{{$y}}{{end}}`, true},
	{"range over a map, sorted", "{{range $k, $v := .NetDevs}}{{$k}}={{$v.Device}},{{end}}{{range $k, $v := .Tags}}{{$k}}{{$v}}{{end}}", true},
	{"range with one variable", "{{range $v := .NetDevs}}{{$v.Device}}{{end}}{{range $v := .Kernel.Args}}{{$v}}{{end}}", true},
	{"range assigns", "{{$k := 0}}{{$v := 0}}{{range $k, $v = .Kernel.Args}}{{end}}{{$k}}{{$v}}{{range $v = .NetDevs}}{{end}}{{$v.Device}}", true},
	{"range else, nil and empty", "{{range .Tags.nope}}x{{else}}none{{end}} {{range .Disks}}d{{else}}nodisks{{end}} {{range .Profiles}}[{{.}}]{{end}}", true},
	{"break and continue", "{{range $i, $e := .AllNodes}}{{if eq $i 1}}{{continue}}{{end}}{{.Id}}{{if eq $i 2}}{{break}}{{end}}{{end}}|{{range .AllNodes}}{{range .Profiles}}{{break}}{{end}}{{.Id}}{{end}}", true},
	{"range over an integer", "{{range 3}}{{.}}{{end}}", false},
	{"range over a map of pointers to structs", "{{range .FileSystems}}{{.Format}}{{end}}{{range .Disks}}{{.WipeTable}}{{end}}", true},
	{"defined templates", `{{define "x"}}{{.}}:{{$}}{{end}}{{define "y"}}{{template "x" .Id}}{{end}}{{template "y" .}}{{template "x"}}{{range .Kernel.Args}}{{template "x" .}}{{end}}`, true},
	{"template variables do not leak", `{{define "x"}}{{$v := 1}}{{$v}}{{end}}{{$v := 2}}{{template "x" .}}{{$v}}`, true},
	{"a template's pipeline declares", `{{define "x"}}{{.}}{{end}}{{template "x" $v := .Id}}{{$v}}`, true},
	{"recursion", `{{define "r"}}{{if .}}{{len .}}{{template "r" (rest .)}}{{end}}{{end}}{{template "r" (list 1 2 3)}}`, true},
	{"undefined template", `{{template "nope" .}}`, false},
	{"parentheses and chains", "{{(.ThisNode).Id}} {{(.Tags).localtime}} {{(.Id)}} {{(print .Id)}}", true},
	{"chain on a missing key", "{{(.Tags.nope).x}}", true},
	{"field of a non-struct", "{{.Id.Nope}}", false},
	{"unexported field", "{{.ThisNode.id}}", false},
	{"field with arguments", "{{.Id 1}}", false},
	{"method with arguments", "{{.Discoverable.Bool 1}}", false},
	{"number too big", "{{99999999999999999999}}", false},
	{"dot and dollar", "{{range .Kernel.Args}}{{.}}{{$.Id}}{{end}} {{printf \"%T\" .}}", true},
	{"whole data", "{{$d := .}}{{$d.Id}} {{toJson .Kernel}} {{.Node.Comment}}", true},
	{"nil as a value", "{{if nil}}x{{end}}", false},
	{"nil to a function", "{{default nil \"x\"}} {{printf \"%v\" nil}}", true},
	{"files and links", `{{.Id}}{{file "a"}}{{.Id}}{{file "b"}}{{softlink "/t"}}{{file "c"}}x{{nobackup}}`, true},
	{"abort", `{{.Id}}{{if eq .Id "n2"}}{{abort}}{{end}}{{file "z"}}`, true},
	{"interface values", `{{$m := dict "a" 1 "b" "s" "c" nil}}{{$m.a}} {{$m.b}} {{$m.c}} {{index $m "c"}} {{if $m.c}}t{{else}}f{{end}} {{eq $m.a 1}} {{len $m}}`, true},
	{"pipeline into a method's last argument", `{{"x" | hasPrefix "x"}} {{.Id | hasSuffix "1"}}`, true},
	{"variadic with final", `{{3 | list 1 2 | toJson}} {{"b" | cat "a"}}`, true},
	{"trim markers and comments", "a  {{- .Id -}}  b\n{{- /* c */ -}}\n{{ .Id }}", true},
	{"html and js fall back", `{{html "<a>"}} {{js "x'y"}} {{urlquery "a b"}}`, false},
}

// TestCompiledEdgeCases renders each case for both nodes of the fixture
// as a program and with text/template, and compares everything made, or
// the error.
func TestCompiledEdgeCases(t *testing.T) {
	for _, tc := range compiledCases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, map[string]string{"var/warewulf/overlays/t/rootfs/out.ww": tc.tmpl})
			want, _ := renderCompiled(t, f, true)
			got, runs := renderCompiled(t, f, false)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("a program renders differently (-text/template +program):\n%s", diff)
			}
			if runs != tc.runs {
				t.Errorf("the program ran to its end: %v, want %v (%v)", runs, tc.runs, got)
			}
		})
	}
}

// renderCompiled renders overlay t of f for n1 and n2 and says whether
// the template compiled and its program never gave up.
func renderCompiled(t *testing.T, f *fixture, noCompile bool) (map[string]any, bool) {
	t.Helper()
	r, err := f.snap.Renderer("t")
	if err != nil {
		t.Fatal(err)
	}
	// A memo of its own: the snapshot's would give a template that is
	// the same for every node the first renderer's output.
	r.noCompile, r.memo = noCompile, &sync.Map{}
	res := renderNodes(t, r, f.snap, "n1", "n2")
	runs := len(r.parsed) > 0
	for _, p := range r.parsed {
		runs = runs && p.prog != nil && p.prog.bails == 0
	}
	return res, runs
}

// FuzzCompiled checks that any template renders the same as a program as
// with text/template, output or error.
func FuzzCompiled(f *testing.F) {
	for _, tc := range compiledCases {
		f.Add(tc.tmpl)
	}
	f.Fuzz(func(t *testing.T, tmpl string) {
		if len(tmpl) > 2000 || strings.Contains(tmpl, "Include") || strings.Contains(tmpl, "ImportLink") ||
			strings.Contains(tmpl, "readlink") || strings.Contains(tmpl, "IncludeFrom") || strings.Contains(tmpl, "SshHost") {
			t.Skip("reads server files")
		}
		fx := newFixture(t, map[string]string{"var/warewulf/overlays/t/rootfs/out.ww": tmpl})
		want, _ := renderCompiled(t, fx, true)
		if again, _ := renderCompiled(t, fx, true); !cmp.Equal(want, again) {
			t.Skip("the output is not the same twice (it prints addresses)")
		}
		got, _ := renderCompiled(t, fx, false)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%q renders differently (-text/template +program):\n%s", tmpl, diff)
		}
	})
}

// Every method of no arguments giving a string or a bool of the data's
// NetDev, WWbool and Node has a direct call, and it answers as reflect's
// call of the method does.
func TestDirectMethodsAnswerAsReflect(t *testing.T) {
	on := WWbool("yes")
	off := WWbool("")
	receivers := []any{
		&NetDev{primary: true, Ipaddr: net.ParseIP("10.0.0.5"), Netmask: net.ParseIP("255.255.0.0"), Ipaddr6: net.ParseIP("fd00::5"), PrefixLen6: "64"},
		&NetDev{},
		&on, &off,
		&Node{id: "n1", Profile: Profile{ImageName: "rocky"}},
		&Node{},
	}
	for _, recv := range receivers {
		v := reflect.ValueOf(recv)
		for i := range v.NumMethod() {
			m := v.Type().Method(i)
			mt := v.Method(i).Type()
			if mt.NumIn() != 0 || mt.NumOut() != 1 || (mt.Out(0) != stringType && mt.Out(0) != boolType) {
				continue
			}
			name := fmt.Sprintf("%s.%s", v.Type(), m.Name)
			d := directMethod(v.Type(), m.Name)
			if d == nil {
				t.Errorf("%s has no direct call: add it to directMethod", name)
				continue
			}
			want := v.Method(i).Call(nil)[0]
			if got := d(v); got.Type() != want.Type() || got.Interface() != want.Interface() {
				t.Errorf("%s: direct call gives %#v, reflect's %#v", name, got.Interface(), want.Interface())
			}
		}
	}
}
