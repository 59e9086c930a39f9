package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOverlayInfoAsWarewulf checks overlay info against the expectations
// of Warewulf 4.7's own tests of it: wwdoc lines then a blank line, the
// table with its row of dashes and padded cells before an empty HELP,
// names as written ($.Id, $dev.Hwaddr) in sorted order, range variables
// typed by what they range over, nested pipelines and text/template's own
// functions, and errors for a missing file or overlay and a template that
// does not parse. The HELP column is ours (README).
func TestOverlayInfoAsWarewulf(t *testing.T) {
	for _, tc := range []struct {
		name    string
		files   map[string]string // in overlay "ov"
		args    []string
		want    string
		wantErr bool
	}{
		{
			name: "wwdoc lines by key, a documented variable not used is not listed",
			files: map[string]string{"a.ww": "{{/* wwdoc2: two */}}\n{{/* .Kernel.Tags.x: unused */}}\n" +
				"{{/* wwdoc1: one */}}\n{{ .Node.Tags.rack }}\n"},
			args: []string{"ov", "a.ww"},
			want: "one\ntwo\n\n" +
				"VARIABLE         OPTION  TYPE    HELP\n" +
				"--------         ------  ----    ----\n" +
				".Node.Tags.rack          string  \n",
		},
		{
			name:  "fields of sections with their options and types",
			files: map[string]string{"b.ww": "{{ .Ipmi.Gateway }} {{ .Kernel.Version }}\n{{ .Warewulf.Port }} {{ .Ipmi.Interface }}\n"},
			args:  []string{"ov", "b.ww"},
			want: "VARIABLE         OPTION           TYPE    HELP\n" +
				"--------         ------           ----    ----\n" +
				".Ipmi.Gateway    --ipmigateway    IP      IPMI gateway\n" +
				".Ipmi.Interface  --ipmiinterface  string  IPMI interface (lan, lanplus)\n" +
				".Kernel.Version  --kernelversion  string  Kernel version (prefix) or path inside the image\n" +
				".Warewulf.Port                    int     \n",
		},
		{
			name:  "no variables: the header alone",
			files: map[string]string{"c.ww": "plain=1\n"},
			args:  []string{"ov", "c.ww"},
			want:  "VARIABLE  OPTION  TYPE  HELP\n--------  ------  ----  ----\n",
		},
		{
			name:  "documentation only",
			files: map[string]string{"d.ww": "{{/* wwdoc: About this */}}\n{{/* wwdoc3: More */}}\nplain\n"},
			args:  []string{"ov", "d.ww"},
			want:  "About this\nMore\n\nVARIABLE  OPTION  TYPE  HELP\n--------  ------  ----  ----\n",
		},
		{name: "a file that does not exist", files: map[string]string{"e.ww": ""}, args: []string{"ov", "other.ww"}, wantErr: true},
		{name: "an overlay that does not exist", args: []string{"nosuch", "e.ww"}, wantErr: true},
		{name: "a template that does not parse", files: map[string]string{"f.ww": "{{ .Hostname }\n{{ range }}\n"}, args: []string{"ov", "f.ww"}, wantErr: true},
		{
			name: "the template's own help wins",
			files: map[string]string{"g.ww": "{{/* .ClusterName: which cluster */}}{{/* .Tags.site: where */}}\n" +
				"{{ .ClusterName }} {{ .Tags.site }} {{ .Hostname }}\n"},
			args: []string{"ov", "g.ww"},
			want: "VARIABLE      OPTION     TYPE    HELP\n" +
				"--------      ------     ----    ----\n" +
				".ClusterName  --cluster  string  which cluster\n" +
				".Hostname                string  \n" +
				".Tags.site               string  where\n",
		},
		{
			name: "text/template's functions and nested pipelines",
			files: map[string]string{"h.ww": "{{ if and (ne .ClusterName \"\") (lt (len .NetDevs) 3) }}\n" +
				"{{ index .Tags \"x\" }}\n{{ else if not .Disks }}{{ printf \"%s\" .Comment }}{{ end }}\n"},
			args: []string{"ov", "h.ww"},
			want: "VARIABLE      OPTION     TYPE                     HELP\n" +
				"--------      ------     ----                     ----\n" +
				".ClusterName  --cluster  string                   Cluster name\n" +
				".Comment      --comment  string                   Free-form comment\n" +
				".Disks                   map[string]*node.Disk    \n" +
				".NetDevs                 map[string]*node.NetDev  \n" +
				".Tags                    map[string]string        Node tags\n",
		},
		{
			name:  "sprig pipelines and Include functions",
			files: map[string]string{"i.ww": "{{ .Init | upper }} {{ .Kernel.Args | join \",\" }}\n{{ IncludeFrom .ImageName \"/etc/hosts\" }}\n{{ Include \"/etc/hosts\" }}\n"},
			args:  []string{"ov", "i.ww"},
			want: "VARIABLE      OPTION        TYPE      HELP\n" +
				"--------      ------        ----      ----\n" +
				".ImageName    --image       string    Image to boot\n" +
				".Init         --init        string    Init program the node execs (default /sbin/init)\n" +
				".Kernel.Args  --kernelargs  []string  Kernel arguments, comma separated; quote one that holds a comma: '\"console=ttyS0,115200\"'\n",
		},
		{
			name:  "$ names the data, and keeps its name",
			files: map[string]string{"j.ww": "{{ $.Hostname }} {{ $.Netmask }} {{ $.BuildTime }}\n"},
			args:  []string{"ov", "j.ww"},
			want: "VARIABLE     OPTION  TYPE    HELP\n" +
				"--------     ------  ----    ----\n" +
				"$.BuildTime          string  \n" +
				"$.Hostname           string  \n" +
				"$.Netmask            string  \n",
		},
		{
			name: "range variables typed by the map ranged over; a method of a field names the field",
			files: map[string]string{"k.ww": "{{/* wwdoc: Devices */}}\n{{- range $name, $dev := .NetDevs }}\n{{ $name }} {{ $dev.Hwaddr }} {{ $dev.MTU }}\n" +
				"{{ if $dev.OnBoot.BoolDefaultTrue }}up{{ end }}\n{{- end }}\n"},
			args: []string{"ov", "k.ww"},
			want: "Devices\n\n" +
				"VARIABLE     OPTION    TYPE                     HELP\n" +
				"--------     ------    ----                     ----\n" +
				"$dev.Hwaddr  --hwaddr  MAC                      Hardware (MAC) address\n" +
				"$dev.MTU     --mtu     uint                     MTU\n" +
				"$dev.OnBoot  --onboot  wwtype.WWbool            Bring the device up at boot\n" +
				".NetDevs               map[string]*node.NetDev  \n",
		},
		{
			name: "dot in a range is the element; a variable assigned a field has its type",
			files: map[string]string{"l.ww": "{{ range .DiskList }}{{ range .PartitionList }}{{ .SizeMiB }}{{ end }}{{ end }}\n" +
				"{{ $fs := .FileSystems }}{{ range $k, $v := $fs }}{{ $v.Path }}{{ end }}\n"},
			args: []string{"ov", "l.ww"},
			want: "VARIABLE        OPTION      TYPE                         HELP\n" +
				"--------        ------      ----                         ----\n" +
				"$v.Path         --fspath    string                       Mount point\n" +
				".DiskList                   []*node.Disk                 \n" +
				".FileSystems                map[string]*node.FileSystem  \n" +
				".PartitionList              []*node.Partition            \n" +
				".SizeMiB        --partsize  uint                         Partition size in MiB\n",
		},
		{
			name:  "file and abort",
			files: map[string]string{"m.ww": "{{ file \"x.conf\" }}{{ if .Tags.on }}{{ .Tags.val }}{{ else }}{{ abort }}{{ end }}\n"},
			args:  []string{"ov", "m.ww"},
			want: "VARIABLE   OPTION  TYPE    HELP\n" +
				"--------   ------  ----    ----\n" +
				".Tags.on           string  \n" +
				".Tags.val          string  \n",
		},
		{
			name: "comments with trimming markers",
			files: map[string]string{"n.ww": "{{- /* wwdoc: Trimmed {{- -}} */ -}}\n{{- /* .Tags.gpu: GPUs */}}}\n" +
				"{{ .Tags.gpu }}\n"},
			args: []string{"ov", "n.ww"},
			want: "Trimmed {{- -}}\n\n" +
				"VARIABLE   OPTION  TYPE    HELP\n" +
				"--------   ------  ----    ----\n" +
				".Tags.gpu          string  GPUs\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.mustRun("overlay", "create", "ov")
			for name, text := range tc.files {
				if err := os.WriteFile(filepath.Join(tr.root, "var/warewulf/overlays/ov/rootfs", name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := tr.run("", append([]string{"overlay", "info"}, tc.args...)...)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error = %v, want error %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}
