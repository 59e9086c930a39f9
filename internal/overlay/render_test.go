package overlay

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
)

const testNodes = `nodeprofiles:
  default:
    kernel: {args: [quiet]}
nodes:
  n1:
    profiles: [default]
    image name: rocky
    tags: {localtime: Europe/Paris}
    network devices:
      eth: {device: eth0, hwaddr: "aa:bb:cc:dd:ee:01", ipaddr: 10.0.0.1, netmask: 255.255.255.0, onboot: "false"}
      ib: {device: ib0, ipaddr: 10.1.0.1}
    primary network: ib
    disks:
      /dev/vda:
        wipe_table: true
        partitions:
          swap: {number: "2", size_mib: "1024"}
          root: {number: "1", should_exist: true}
    filesystems:
      /dev/disk/by-partlabel/root: {format: ext4, path: /, mount_options: "noatime,ro"}
  n2:
    profiles: [default]
    network devices:
      default: {device: eth0, ipaddr: 10.0.0.2, netmask: 255.255.255.0}
`

// fixture is a temporary installation with one site overlay holding the
// given files (path -> content; a path ending in @0600 sets the mode).
type fixture struct {
	root string
	cfg  *config.Config
	snap *Snapshot
}

func newFixture(t *testing.T, files map[string]string) *fixture {
	t.Helper()
	return newFixtureNodes(t, testNodes, files)
}

// newFixtureNodes is newFixture with the given nodes.conf.
func newFixtureNodes(t *testing.T, nodesConf string, files map[string]string) *fixture {
	t.Helper()
	in := sitetest.New(t, "")
	root, cfg := in.Root, in.Config
	for p, content := range files {
		mode := os.FileMode(0o644)
		if i := strings.Index(p, "@"); i > 0 {
			var m uint32
			for _, c := range p[i+1:] {
				m = m*8 + uint32(c-'0')
			}
			mode, p = os.FileMode(m), p[:i]
		}
		sitetest.WriteMode(t, filepath.Join(root, p), content, mode)
	}
	inv, err := inventory.Parse([]byte(nodesConf), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	store := &Store{Site: cfg.Paths.Wwoverlaydir, Dist: filepath.Join(root, "share/warewulf/overlays")}
	epoch := time.Unix(0, 0)
	host := filepath.Join(root, "host")
	if err := os.MkdirAll(filepath.Join(host, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	_ = os.Symlink("../usr/share/zoneinfo/UTC", filepath.Join(host, "etc/localtime"))
	snap, err := NewSnapshot(cfg, inv, store, RenderOptions{BuildHost: "server", Epoch: &epoch, Location: time.UTC, HostRoot: host})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{root: root, cfg: cfg, snap: snap}
}

// render renders overlay "t" for node and returns path -> content (or
// "-> target" for links).
func (f *fixture) render(t *testing.T, node string) (map[string]string, error) {
	t.Helper()
	r, err := f.snap.Renderer("t")
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(f.snap.Node(node), "", []string{"t"})
	if err != nil {
		return nil, err
	}
	got := map[string]string{}
	for _, e := range out.Tree.Sorted() {
		switch e.Kind {
		case KindFile:
			got[e.Path] = string(e.Data)
		case KindSymlink:
			got[e.Path] = "-> " + e.Target
		}
	}
	return got, nil
}

// check renders node and compares with want, or with the error
// containing wantErr when that is set.
func (f *fixture) check(t *testing.T, node string, want map[string]string, wantErr string) {
	t.Helper()
	got, err := f.render(t, node)
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("error = %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rendered (-want +got):\n%s", diff)
	}
}

func TestTemplates(t *testing.T) {
	const ov = "var/warewulf/overlays/t/rootfs/"
	for _, tc := range []struct {
		name  string
		files map[string]string
		node  string
		want  map[string]string
		err   string
	}{
		{
			name:  "fields, net.IP and WWbool print like Warewulf",
			files: map[string]string{ov + "out.ww": "{{.Id}} {{.Hostname}} {{.ImageName}} {{.Container}} {{.Ipaddr}} {{.NetworkCIDR}} {{.BuildHost}} {{.BuildTimeUnix}}\n{{range $k, $d := .NetDevs}}{{$k}} {{$d.Ipaddr}} {{$d.Netmask}} {{$d.Gateway}} {{$d.OnBoot}} {{$d.OnBoot.BoolDefaultTrue}} {{$d.IpCIDR}}\n{{end}}{{.Ipmi.Ipaddr}} {{.Tags.nosuch}}\n"},
			node:  "n1",
			want: map[string]string{"out": "n1 n1 rocky rocky 10.0.0.254 10.0.0.0/24 server 0\n" +
				"eth 10.0.0.1 255.255.255.0 <nil> false false 10.0.0.1/24\nib 10.1.0.1 <nil> <nil>  true \n<nil> <no value>\n"},
		},
		{
			name:  "primary is false at the top level and true through ThisNode, as in Warewulf",
			files: map[string]string{ov + "out.ww": "{{.PrimaryNetDev}} {{.NetDevs.ib.Primary}} {{.ThisNode.NetDevs.ib.Primary}} {{.ThisNode.Id}}{{range .AllNodes}} {{.Id}}{{end}}\n"},
			node:  "n1",
			want:  map[string]string{"out": "ib false true n1 n1 n2\n"},
		},
		{
			name:  "primary defaults to the first device by name",
			files: map[string]string{ov + "out.ww": "{{.PrimaryNetDev}} {{.ThisNode.NetDevs.default.Primary}}\n"},
			node:  "n2",
			want:  map[string]string{"out": "default true\n"},
		},
		{
			name:  "pointer methods are for ThisNode only",
			files: map[string]string{ov + "out.ww": "{{.DiskList}}"},
			node:  "n1",
			err:   `t/out.ww:1:2: executing "t/out.ww" at <.DiskList>`,
		},
		{
			name:  "disks and partitions",
			files: map[string]string{ov + "out.ww": "{{range .ThisNode.DiskList}}{{.Id}} {{.WipeTable}}{{range .PartitionList}} {{.Id}}:{{.Number}}:{{.ShouldExist}}{{end}}{{end}}\n{{range .ThisNode.FileSystemList}}{{.Id}} {{.Format}} {{.MountOptions}}{{end}}\n"},
			node:  "n1",
			want:  map[string]string{"out": "/dev/vda true root:1:true swap:2:false\n/dev/disk/by-partlabel/root ext4 noatime,ro\n"},
		},
		{
			name:  "file splits output; what comes before the first file is not written",
			files: map[string]string{ov + "etc/net.ww": "# header\n{{range $k, $d := .NetDevs}}{{file (print \"ifcfg-\" $k) -}}\nDEVICE={{$d.Device}}\n{{end}}"},
			node:  "n1",
			want:  map[string]string{"etc/ifcfg-eth": "DEVICE=eth0\n", "etc/ifcfg-ib": "DEVICE=ib0\n"},
		},
		{
			// Site copies of Warewulf's templates share lines with file
			// calls: Warewulf 4.7 keeps that text, before the call in the
			// previous file, after it in the new one.
			name:  "text on a line with file is kept on both sides",
			files: map[string]string{ov + "a.ww": "x {{file \"b\"}} {{file \"c\"}} kept\nkept too\n"},
			node:  "n1",
			want:  map[string]string{"b": " ", "c": " kept\nkept too\n"},
		},
		{
			name:  "without trimming the line's newline goes to the new file",
			files: map[string]string{ov + "a.ww": "{{- range $n := list \"a\" \"b\" \"c\"}}\n{{file $n}}\n{{- end -}}"},
			node:  "n1",
			want:  map[string]string{"a": "\n", "b": "\n", "c": ""},
		},
		{
			name:  "every file of a trimmed range is written, empty",
			files: map[string]string{ov + "a.ww": "{{- range $n := list \"a\" \"b\" \"c\" -}}\n{{- file $n -}}\n{{- end -}}"},
			node:  "n1",
			want:  map[string]string{"a": "", "b": "", "c": ""},
		},
		{
			name:  "a softlink before the first file makes the template's own output a link",
			files: map[string]string{ov + "etc/t.ww": "{{- softlink \"/target\" -}}{{- file \"named\" -}}named content"},
			node:  "n1",
			want:  map[string]string{"etc/t": "-> /target", "etc/named": "named content"},
		},
		{
			name:  "a later file of the same name replaces an earlier one",
			files: map[string]string{ov + "a.ww": "{{file \"x\"}}one{{file \"x\"}}two"},
			node:  "n1",
			want:  map[string]string{"x": "two"},
		},
		{
			name:  "file cannot leave the overlay",
			files: map[string]string{ov + "a.ww": "{{file \"../../etc/passwd\"}}\nx\n"},
			node:  "n1",
			err:   `leaves the overlay`,
		},
		{
			// The names Warewulf 4.7 gives templates: methods there
			// (TLSEnabled, Enabled, AuthenticationConf), and the settings
			// behind them.
			name: "Warewulf 4.7's configuration names",
			files: map[string]string{ov + "a.ww": "{{.Warewulf.TLSEnabled}} {{.Warewulf.TLSPort}} {{.Warewulf.Secure}} " +
				"{{.Warewulf.SecureP}} {{.Dhcp.Enabled}} {{.Tftp.Enabled}} {{.Nfs.Enabled}} " +
				"{{base .Paths.AuthenticationConf}}"},
			node: "n1",
			want: map[string]string{"a": "false 9874 true true true true true auth.conf"},
		},
		{
			name:  "absolute file names stay inside the image",
			files: map[string]string{ov + "etc/a.ww": "{{file \"/opt/x\" -}}\nx\n"},
			node:  "n1",
			want:  map[string]string{"opt/x": "x\n"},
		},
		{
			name:  "softlink and ImportLink",
			files: map[string]string{ov + "etc/localtime.ww": "{{softlink (print \"/usr/share/zoneinfo/\" .Tags.localtime)}}\n", ov + "etc/missing.ww": "{{ImportLink \"/nonexistent/x\"}}"},
			node:  "n1",
			want:  map[string]string{"etc/localtime": "-> /usr/share/zoneinfo/Europe/Paris"},
		},
		{
			name: "ImportLink and readlink resolve server links, in the server's terms",
			files: map[string]string{
				"host/usr/share/zoneinfo/UTC": "TZif",
				ov + "etc/localtime.ww":       "{{ImportLink \"/etc/localtime\"}}",
				ov + "zone.ww":                "{{readlink \"/etc/localtime\"}}",
				ov + "nb.ww":                  "{{nobackup}}kept",
			},
			node: "n1",
			want: map[string]string{"etc/localtime": "-> /usr/share/zoneinfo/UTC", "zone": "/usr/share/zoneinfo/UTC", "nb": "kept"},
		},
		{
			name:  "readlink of a missing path fails the template",
			files: map[string]string{ov + "zone.ww": "{{readlink \"/nonexistent\"}}"},
			node:  "n1",
			err:   `error calling readlink`,
		},
		{
			name:  "abort writes nothing; an empty render writes an empty file",
			files: map[string]string{ov + "a.ww": "x{{abort}}y", ov + "b.ww": "{{if false}}x{{end}}", ov + "c": "static\n"},
			node:  "n1",
			want:  map[string]string{"b": "", "c": "static\n"},
		},
		{
			name: "Include, IncludeBlock and IncludeFrom",
			files: map[string]string{
				"etc/warewulf/keys/k": "KEY\n",
				"etc/passwd":          "root:x:0:0\nalice:x:1000:1000\n",
				"etc/warewulf/block":  "a\nb\n# END\nc\n",
				"var/warewulf/chroots/rocky/rootfs/etc/passwd": "root:x:0:0\nbob:x:1001:1001\n",
				ov + "out.ww": "{{Include \"keys/k\"}}|{{Include \"nosuch\"}}|{{IncludeBlock \"block\" \"# END\"}}|\n" +
					"{{UniqueField \":\" 0 (print (IncludeFrom .ImageName \"/etc/passwd\") \"\\n\" (Include (print .Paths.Sysconfdir \"/passwd\")))}}\n",
			},
			node: "n1",
			want: map[string]string{"out": "KEY||a\nb\n# END|\nroot:x:0:0\nbob:x:1001:1001\nalice:x:1000:1000\n"},
		},
		{
			// The image store keeps removed and replaced images in
			// .NAME.deleted-* and .NAME.old-* beside the images.
			name: "IncludeFrom reads only images a name may have",
			files: map[string]string{
				"var/warewulf/chroots/.rocky.deleted-1/rootfs/etc/passwd": "root:x:0:0\n",
				ov + "out.ww": "[{{IncludeFrom \".rocky.deleted-1\" \"/etc/passwd\"}}]",
			},
			node: "n1",
			want: map[string]string{"out": "[]"},
		},
		{
			name:  "sprig and helpers",
			files: map[string]string{ov + "out.ww": "{{upper .Id}} {{.Kernel.Args | join \" \"}} {{inc 1}} {{dec 1}} {{basename \"/a/b\"}} {{SystemdEscapePath \"/mnt/my data\"}} {{SystemdEscape \"a-b/c\"}} {{default \"x\" .Tags.nosuch}}\n"},
			node:  "n1",
			want:  map[string]string{"out": `N1 quiet 2 0 b mnt-my\x20data a\x2db-c x` + "\n"},
		},
		{
			name:  "IgnitionJson",
			files: map[string]string{ov + "i.ww": "{{IgnitionJson}}"},
			node:  "n1",
			want: map[string]string{"i": `{"ignition":{"version":"3.1.0"},"storage":{"disks":[{"device":"/dev/vda","partitions":[{"label":"root","number":1,"shouldExist":true},{"label":"swap","number":2,"sizeMiB":1024}],"wipeTable":true}],` +
				`"filesystems":[{"device":"/dev/disk/by-partlabel/root","format":"ext4","mountOptions":["noatime","ro"],"path":"/"}]}}`},
		},
		{
			name:  "a template error names overlay, file and line",
			files: map[string]string{ov + "etc/x.ww": "ok\n{{.Nosuch}}\n"},
			node:  "n1",
			err:   `overlay "t": template: t/etc/x.ww:2:2: executing "t/etc/x.ww" at <.Nosuch>: can't evaluate field Nosuch`,
		},
		{
			name:  "a parse error names overlay, file and line",
			files: map[string]string{ov + "etc/x.ww": "ok\n{{if}}\n"},
			node:  "n1",
			err:   `overlay "t": template: t/etc/x.ww:2: missing value for if`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newFixture(t, tc.files).check(t, tc.node, tc.want, tc.err)
		})
	}
}

func TestBuiltinAttrs(t *testing.T) {
	store := &Store{Builtin: fstest.MapFS{
		"o/rootfs/etc/key.ww":      {Data: []byte("k\n")},
		"o/rootfs/etc/placeholder": {Data: []byte("")},
		"o/attrs": {Data: []byte("# modes\netc/key.ww 0600 0 42\n" +
			"etc/placeholder -> /target\n" +
			"etc/wants/unit.service -> ../unit.service\n")},
	}}
	o, err := store.Get("o")
	if err != nil {
		t.Fatal(err)
	}
	type entry struct {
		Path   string
		Kind   Kind
		Mode   fs.FileMode
		GID    int
		Target string
	}
	var got []entry
	for _, f := range o.Files {
		got = append(got, entry{f.Path, f.Kind, f.Mode, f.GID, f.Target})
	}
	want := []entry{
		{"etc", KindDir, 0o755, 0, ""},
		{"etc/key.ww", KindFile, 0o600, 42, ""},
		{"etc/placeholder", KindSymlink, 0o777, 0, "/target"},
		// A link needs no placeholder file: embedding cannot hold links.
		{"etc/wants/unit.service", KindSymlink, 0o777, 0, "../unit.service"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}
