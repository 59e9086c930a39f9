package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// kernelTree is a tree with images whose root filesystems hold only the
// given files (kernels), and nodes.conf as given.
func kernelTree(t *testing.T, nodesConf string, images map[string][]string) *tree {
	t.Helper()
	tr := newTree(t, "")
	if nodesConf != "" {
		if err := os.MkdirAll(filepath.Dir(tr.nodes), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tr.nodes, []byte(nodesConf), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, files := range images {
		root := filepath.Join(tr.root, "var/warewulf/chroots", name, "rootfs")
		if err := os.MkdirAll(root, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return tr
}

// TestImageListAsWarewulf checks image list and image kernels against
// what Warewulf 4.7's tests of them expect, whole: the header, its row
// of dashes, the columns and Warewulf's kernel versions (the numbers in
// the file name, without the distribution's suffix; "--" for none).
func TestImageListAsWarewulf(t *testing.T) {
	const oneNode = "nodeprofiles:\n  default: {}\nnodes:\n  c1:\n    image name: rocky\n    profiles:\n    - default\n"
	el := map[string][]string{
		"el9": {
			"boot/vmlinuz-6.2.0-100.3.1.el9_6.x86_64",
			"boot/vmlinuz-6.2.0-100.12.1.el9_6.x86_64",
			"boot/vmlinuz-5.9.0-77.1.1.el8_9.x86_64",
		},
		"arm": {
			"boot/vmlinuz-0-rescue-0123456789abcdef0123456789abcdef",
			"boot/vmlinuz-6.2.0-90.1.1.el9_5.aarch64",
			"boot/vmlinuz-6.2.0-120.4.1.el9_6.aarch64+debug",
			"boot/vmlinuz-6.2.0-120.4.1.el9_6.aarch64",
		},
	}
	tests := []struct {
		name   string
		conf   string
		images map[string][]string
		args   []string
		want   string
	}{
		{
			name:   "sizes of an image never built",
			conf:   oneNode,
			images: map[string][]string{"rocky": nil},
			args:   []string{"image", "list", "-s"},
			want: `IMAGE NAME  NODES  SIZE
----------  -----  ----
rocky       1      0 B
`,
		},
		{
			name:   "bare list",
			conf:   oneNode,
			images: map[string][]string{"rocky": nil, "alma": nil},
			args:   []string{"image", "list"},
			want: `IMAGE NAME
----------
alma
rocky
`,
		},
		{
			name:   "kernel column",
			conf:   oneNode,
			images: map[string][]string{"rocky": nil, "el9": el["el9"]},
			args:   []string{"image", "list", "-k"},
			want: `IMAGE NAME  NODES  KERNEL VERSION
----------  -----  --------------
el9         0      6.2.0-100.12.1
rocky       1
`,
		},
		{
			name: "kernels of no image",
			args: []string{"image", "kernels"},
			want: `Image  Kernel  Version  Default  Nodes
-----  ------  -------  -------  -----
`,
		},
		{
			name:   "kernels of every image",
			images: el,
			args:   []string{"image", "kernels"},
			want: `Image  Kernel                                                   Version         Default  Nodes
-----  ------                                                   -------         -------  -----
arm    /boot/vmlinuz-0-rescue-0123456789abcdef0123456789abcdef  --              false    0
arm    /boot/vmlinuz-6.2.0-120.4.1.el9_6.aarch64                6.2.0-120.4.1   true     0
arm    /boot/vmlinuz-6.2.0-120.4.1.el9_6.aarch64+debug          6.2.0-120.4.1   false    0
arm    /boot/vmlinuz-6.2.0-90.1.1.el9_5.aarch64                 6.2.0-90.1.1    false    0
el9    /boot/vmlinuz-5.9.0-77.1.1.el8_9.x86_64                  5.9.0-77.1.1    false    0
el9    /boot/vmlinuz-6.2.0-100.12.1.el9_6.x86_64                6.2.0-100.12.1  true     0
el9    /boot/vmlinuz-6.2.0-100.3.1.el9_6.x86_64                 6.2.0-100.3.1   false    0
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := kernelTree(t, tc.conf, tc.images)
			if diff := cmp.Diff(tc.want, tr.mustRun(tc.args...)); diff != "" {
				t.Errorf("wwctl %s (-want +got):\n%s", strings.Join(tc.args, " "), diff)
			}
		})
	}
}

func TestWarewulfKernelVersion(t *testing.T) {
	tests := []struct{ path, want string }{
		{"/boot/vmlinuz-5.14.0-427.18.1.el9_4.x86_64", "5.14.0-427.18.1"},
		{"/boot/vmlinuz-6.1.0-28-amd64", "6.1.0-28"},
		{"/boot/vmlinuz-6.11.5-1-default", "6.11.5-1"},
		{"/lib/modules/5.14.0-70.13.1.el9_0.x86_64/vmlinuz", "5.14.0-70.13.1"},
		{"/boot/vmlinuz-5.14.0-427.el9.x86_64", "5.14.0-427"},
		{"/boot/vmlinuz-6.6.0", "6.6.0"},
		{"/boot/vmlinuz-0-rescue-eb46964329b146e39518c625feab3ea0", ""},
		{"/boot/vmlinuz-linux", ""},
	}
	for _, tc := range tests {
		if got := warewulfKernelVersion(tc.path); got != tc.want {
			t.Errorf("warewulfKernelVersion(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}
