package overlay

import (
	"testing"
	"text/template"
)

func TestSameForEveryNode(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       bool
	}{
		{"static text", "hello\n", true},
		{"server address", "{{.Ipaddr}} {{.BuildHost}} {{.Warewulf.Port}}", true},
		{"hosts over AllNodes", "{{range $n := .AllNodes}}{{range $k, $d := $n.NetDevs}}{{$d.Ipaddr}} {{$n.Id}}{{end}}{{end}}", true},
		{"dot rebound in range", "{{range .AllNodes}}{{.Id}} {{.NetDevs}}{{end}}", true},
		{"top variable", "{{range .AllNodes}}{{$.Ipaddr}}{{end}}", true},
		{"node id", "{{.Id}}", false},
		{"node field", "{{.NetDevs}}", false},
		{"ThisNode", "{{.ThisNode.Id}}", false},
		{"dollar node field inside range", "{{range .AllNodes}}{{$.Id}}{{end}}", false},
		{"whole data passed on", "{{template \"x\" .}}{{define \"x\"}}{{.Ipaddr}}{{end}}", false},
		{"node in if", "{{if .Tags.x}}y{{end}}", false},
		{"node in with", "{{with .Kernel}}{{.Version}}{{end}}", false},
		{"function reading the node", "{{IgnitionJson}}", false},
		{"variable from node", "{{$x := .Id}}{{$x}}", false},
		{"sprig on server data", "{{.Ipaddr | upper}} {{printf \"%s\" .Network}}", true},
		{"Include of a node path", "{{Include (print \"keys/\" .Id)}}", false},
		{"Include of a fixed path", "{{Include \"keys/x\"}}", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := template.New("t").Funcs(funcMap(env{}, new(*execState))).Parse(tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if got := sameForEveryNode(tmpl); got != tc.want {
				t.Errorf("sameForEveryNode(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}
