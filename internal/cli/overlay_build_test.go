package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/treetest"
)

// TestOverlayBuildAsWarewulf checks what Warewulf 4.7's own test of
// overlay build (a benchmark) expects: building a range of nodes with its
// stock system and runtime overlays succeeds although the nodes' image
// does not exist and they have no network device, no BMC address and no
// keys made for them. --workers 0 or less is one worker per CPU, as in
// Warewulf.
func TestOverlayBuildAsWarewulf(t *testing.T) {
	const n = 120
	var conf strings.Builder
	conf.WriteString(`nodeprofiles:
  compute:
    image name: not-imported
    ipxe template: default
    runtime overlay: [hosts, ssh.authorized_keys, syncuser]
    system overlay: [wwinit, wwclient, fstab, hostname, ssh.host_keys, issue, resolv,
      udev.netname, systemd.netname, ifcfg, ifupdown, NetworkManager, wicked, ignition]
    kernel:
      args: [quiet]
    ipmi:
      template: ipmitool.tmpl
    init: /sbin/init
    root: initramfs
nodes:
`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&conf, "  c%d:\n    profiles: [compute]\n", i)
	}
	nodesConf := filepath.Join(t.TempDir(), "nodes.conf")
	if err := os.WriteFile(nodesConf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, nodesConf)
	summary := regexp.MustCompile(`^Overlay images: (\d+) built, (\d+) unchanged, 0 failed \(\S+\)\n$`)
	for _, tc := range []struct {
		name             string
		args             []string
		built, unchanged string
	}{
		{name: "every node of a range", args: []string{"--workers", "1", fmt.Sprintf("c[1-%d]", n)}, built: fmt.Sprint(2 * n), unchanged: "0"},
		{name: "workers 0: one per CPU", args: []string{"--workers", "0", "c1"}, built: "0", unchanged: "2"},
		{name: "negative workers: one per CPU", args: []string{"--workers", "-1", "c[1-2]"}, built: "0", unchanged: "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tr.mustRun(append([]string{"overlay", "build"}, tc.args...)...)
			m := summary.FindStringSubmatch(out)
			if m == nil || m[1] != tc.built || m[2] != tc.unchanged {
				t.Errorf("output %q, want %s built and %s unchanged", out, tc.built, tc.unchanged)
			}
		})
	}
	if _, _, err := tr.run("", "overlay", "build", fmt.Sprintf("c[1-%d]", n+1)); err == nil {
		t.Error("a range naming a node that does not exist built")
	}
	help := tr.mustRun("overlay", "build", "--help")
	if !regexp.MustCompile(`--workers int +Images built at once \(0 or less: one per CPU\)\n`).MatchString(help) {
		t.Errorf("--workers is not shown with Warewulf's default (0, one per CPU):\n%s", help)
	}
}

// TestOverlayBuildOutputDirAsWarewulf checks "overlay build -O NAMES -o DIR
// NODE" against what Warewulf's tests expect of its build into a
// directory: template outputs, file() and softlink() outputs, nothing for
// abort, text before the first file() not written, and a file replaced
// kept once as FILE.wwbackup (not for a template calling nobackup, nor for
// a plain file).
func TestOverlayBuildOutputDirAsWarewulf(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string // of overlay "ov"; "-> T" makes a link
		before map[string]string // in DIR before the build
		want   map[string]string // DIR after: content, "-> T" for a link, "/" for a directory
	}{
		{
			name:   "a template's output, the file it replaces kept as .wwbackup",
			files:  map[string]string{"etc/motd.ww": "{{ .Comment }}", "etc/plain": "plain"},
			before: map[string]string{"etc/motd": "before", "etc/plain": "old plain"},
			want:   map[string]string{"etc": "/", "etc/motd": "node one", "etc/motd.wwbackup": "before", "etc/plain": "plain"},
		},
		{
			name:   "an existing backup is kept",
			files:  map[string]string{"motd.ww": "{{ .Comment }}"},
			before: map[string]string{"motd": "second", "motd.wwbackup": "first"},
			want:   map[string]string{"motd": "node one", "motd.wwbackup": "first"},
		},
		{
			name:   "no backup for a template calling nobackup",
			files:  map[string]string{"motd.ww": "{{ nobackup }}{{ .Comment }}"},
			before: map[string]string{"motd": "before"},
			want:   map[string]string{"motd": "node one"},
		},
		{
			name:   "an overlay's link replacing a file renames it",
			files:  map[string]string{"conf": "-> /etc/other"},
			before: map[string]string{"conf": "a file"},
			want:   map[string]string{"conf": "-> /etc/other", "conf.wwbackup": "a file"},
		},
		{
			name:  "file() outputs, the last one empty after trimming",
			files: map[string]string{"gen.ww": "{{- range $i, $n := list \"x\" \"y\" \"z\" }}\n{{ file $n }}\n{{- end -}}"},
			want:  map[string]string{"x": "\n", "y": "\n", "z": ""},
		},
		{
			name:  "abort writes nothing",
			files: map[string]string{"gen.ww": "{{- abort -}}"},
			want:  map[string]string{},
		},
		{
			name:  "a softlink before file() is made; text before file() is not written",
			files: map[string]string{"l.ww": "{{- softlink \"/target\" -}}{{- file \"named\" -}}named", "p.ww": "setup\n{{ file \"q\" }}q text"},
			want:  map[string]string{"l": "-> /target", "named": "named", "q": "q text"},
		},
		{
			name:  "an empty node's data",
			files: map[string]string{"n.ww": "user:{{ .Ipmi.UserName }} args:{{ .Kernel.Args | join \" \" }} nets:{{ .NetDevs }} tags:{{ .Tags }}"},
			want:  map[string]string{"n": "user: args: nets:map[] tags:map[]"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			nodesConf := filepath.Join(dir, "nodes.conf")
			if err := os.WriteFile(nodesConf, []byte("nodes:\n  n1:\n    comment: node one\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tr := newTree(t, nodesConf)
			tr.mustRun("overlay", "create", "ov")
			rootfs := filepath.Join(tr.root, "var/warewulf/overlays/ov/rootfs")
			out := filepath.Join(dir, "out")
			writeFiles(t, rootfs, tc.files)
			writeFiles(t, out, tc.before)
			tr.mustRun("overlay", "build", "-O", "ov", "-o", out, "n1")
			if diff := cmp.Diff(tc.want, treetest.Read(t, out)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", out, diff)
			}
		})
	}
}

// writeFiles makes files under dir, "-> T" a link to T.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}
