package overlay

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVariables(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []Var
		docs       []string
	}{
		{
			name: "fields at the top level, in if and its else, with their options",
			text: "{{.Id}}{{if .Kernel.Version}}x{{else}}{{.Ipaddr}}{{end}}{{.ImageName}}{{.Ipmi.Ipaddr}}",
			want: []Var{{Name: ".Id", Type: "string"}, {Name: ".ImageName", Type: "string", Option: "--image", Help: "Image to boot"},
				{Name: ".Ipaddr", Type: "string"}, {Name: ".Ipmi.Ipaddr", Type: "IP", Option: "--ipmiaddr", Help: "IPMI IPv4 address"},
				{Name: ".Kernel.Version", Type: "string", Option: "--kernelversion", Help: "Kernel version (prefix) or path inside the image"}},
		},
		{
			name: "dot rebound by range and with; $ still the top",
			text: "{{range .NetDevs}}{{.Device}}{{$.Hostname}}{{end}}{{with .Ipmi}}{{.Port}}{{else}}{{.Tags.rack}}{{end}}",
			want: []Var{{Name: ".Hostname", Type: "string"}, {Name: ".Ipmi", Type: "*node.IpmiConf"},
				{Name: ".NetDevs", Type: "map[string]*node.NetDev"}, {Name: ".Tags.rack", Type: "string"}},
		},
		{
			name: "text/template's functions (eq, len, index, ...) parse",
			text: `{{if eq .Id "n1"}}{{index .Tags "a"}}{{len .Kernel.Args}}{{end}}`,
			want: []Var{{Name: ".Id", Type: "string"}, {Name: ".Kernel.Args", Type: "[]string", Option: "--kernelargs", Help: `Kernel arguments, comma separated; quote one that holds a comma: '"console=ttyS0,115200"'`},
				{Name: ".Tags", Type: "map[string]string", Help: "Node tags"}},
		},
		{
			name: "wwdoc comments by key, the last of a key winning; variable help from comments",
			text: "{{/* wwdoc2: second */}}{{/* wwdoc1: first */}}{{- /*wwdoc:zero  */ -}}{{/* wwdoc: top */}}" +
				"{{/* .Id: the node */}}{{/* .Tags.env: where it runs */}}{{.Id}}{{.Tags.env}}{{/* not doc */}}",
			want: []Var{{Name: ".Id", Type: "string", Help: "the node"}, {Name: ".Tags.env", Type: "string", Help: "where it runs"}},
			docs: []string{"top", "first", "second"},
		},
		{
			name: "unknown fields are left out, tags and documented ones kept",
			text: "{{.Nosuch}}{{.Node.Tags.bar}}{{/* .Other: documented */}}{{.Other}}",
			want: []Var{{Name: ".Node.Tags.bar", Type: "string"}, {Name: ".Other", Help: "documented"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars, docs, err := Variables([]byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, vars); diff != "" {
				t.Errorf("vars (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.docs, docs); diff != "" {
				t.Errorf("docs (-want +got):\n%s", diff)
			}
		})
	}
}
