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
			name: "dot is the element in range and the value in with; $ is the data and keeps its name",
			text: "{{range .NetDevs}}{{.Device}}{{$.Hostname}}{{end}}{{with .Ipmi}}{{.Port}}{{else}}{{.Tags.rack}}{{end}}",
			want: []Var{{Name: "$.Hostname", Type: "string"}, {Name: ".Device", Type: "string", Option: "--netdev", Help: "Device name (eth0, eno1, ib0)"},
				{Name: ".Ipmi", Type: "*node.IpmiConf"}, {Name: ".NetDevs", Type: "map[string]*node.NetDev"},
				{Name: ".Port", Type: "string", Option: "--ipmiport", Help: "IPMI port"}, {Name: ".Tags.rack", Type: "string"}},
		},
		{
			name: "variables: declared from a field or a range, plain ones only when documented, unknown ones left out",
			text: "{{/* $b: the device */}}{{$nd := .NetDevs}}{{range $a, $b := $nd}}{{$a}}{{$b}}{{$b.Gateway6}}{{end}}" +
				"{{$s := printf \"x\"}}{{$s.Foo}}{{$d := .Disks}}{{range $d}}{{.WipeTable}}{{end}}{{.Resources.fstab}}",
			want: []Var{{Name: "$b", Help: "the device"}, {Name: "$b.Gateway6", Type: "IP", Option: "--gateway6", Help: "IPv6 gateway"},
				{Name: ".Disks", Type: "map[string]*node.Disk"}, {Name: ".NetDevs", Type: "map[string]*node.NetDev"},
				{Name: ".Resources.fstab", Type: "node.Resource"}, {Name: ".WipeTable", Type: "bool", Option: "--diskwipe", Help: "Wipe the disk's partition table"}},
		},
		{
			name: "templates it defines are looked at too",
			text: `{{define "x"}}{{.Root}}{{end}}{{template "x" .}}`,
			want: []Var{{Name: ".Root", Type: "string", Option: "--root", Help: "Root filesystem: initramfs, tmpfs, ramfs or a block device"}},
		},
		{
			name: "text/template's functions (eq, len, index, ...) parse",
			text: `{{if and (eq .Id "n1") (gt (len .Kernel.Args) 0)}}{{index .Tags "a"}}{{end}}`,
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
			name: "unknown fields are left out, even documented ones, as in Warewulf",
			text: "{{.Nosuch}}{{.Node.Tags.bar}}{{/* .Other: documented */}}{{.Other}}{{.Kernel.Tags.x}}",
			want: []Var{{Name: ".Node.Tags.bar", Type: "string"}},
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
