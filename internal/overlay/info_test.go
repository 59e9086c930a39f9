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
			name: "fields at the top level, in if and its else",
			text: "{{.Id}}{{if .Kernel.Version}}x{{else}}{{.Ipaddr}}{{end}}",
			want: []Var{{".Id", "string"}, {".Ipaddr", "string"}, {".Kernel.Version", "string"}},
		},
		{
			name: "dot rebound by range and with; $ still the top",
			text: "{{range .NetDevs}}{{.Device}}{{$.Hostname}}{{end}}{{with .Ipmi}}{{.Port}}{{else}}{{.Tags.rack}}{{end}}",
			want: []Var{{".Hostname", "string"}, {".Ipmi", "*IpmiConf"}, {".NetDevs", "map[string]*NetDev"}, {".Tags.rack", "string"}},
		},
		{
			name: "wwdoc comments",
			text: "{{/* wwdoc: first */}}{{/* not doc */}}{{/*wwdoc:second  */}}",
			docs: []string{"first", "second"},
		},
		{
			name: "unknown field has no type",
			text: "{{.Nosuch}}",
			want: []Var{{".Nosuch", ""}},
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
