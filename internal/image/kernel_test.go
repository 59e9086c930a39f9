package image

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeTree creates files under root: a value "-> target" makes a symlink,
// anything else a file with that content.
func fakeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, v := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(v, "-> "); ok {
			err = os.Symlink(target, p)
		} else {
			err = os.WriteFile(p, []byte(v), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestKernels(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []Kernel
	}{
		{
			name: "debian bookworm",
			files: map[string]string{
				"boot/vmlinuz-6.1.0-9-amd64":             "",
				"boot/vmlinuz-6.1.0-28-amd64":            "",
				"boot/config-6.1.0-28-amd64":             "",
				"boot/System.map-6.1.0-28-amd64":         "",
				"boot/initrd.img-6.1.0-28-amd64":         "",
				"vmlinuz":                                "-> boot/vmlinuz-6.1.0-28-amd64",
				"lib/modules/6.1.0-28-amd64/modules.dep": "",
			},
			want: []Kernel{
				{Path: "/boot/vmlinuz-6.1.0-9-amd64", Version: "6.1.0-9-amd64"},
				{Path: "/boot/vmlinuz-6.1.0-28-amd64", Version: "6.1.0-28-amd64", Default: true},
			},
		},
		{
			name: "rocky 9 with debug, rescue and usrmerge",
			files: map[string]string{
				"boot/vmlinuz-5.14.0-70.13.1.el9_0.x86_64":        "",
				"boot/vmlinuz-5.14.0-427.13.1.el9_4.x86_64":       "",
				"boot/vmlinuz-5.14.0-503.14.1.el9_5.x86_64+debug": "",
				"boot/vmlinuz-0-rescue-0123456789abcdef":          "",
				"boot/.vmlinuz-5.14.0-427.13.1.el9_4.x86_64.hmac": "",
				"lib": "-> usr/lib",
				"usr/lib/modules/5.14.0-427.13.1.el9_4.x86_64/vmlinuz":       "",
				"usr/lib/modules/5.14.0-427.13.1.el9_4.x86_64/.vmlinuz.hmac": "",
				"usr/lib/modules/5.14.0-70.13.1.el9_0.x86_64/vmlinuz":        "",
			},
			want: []Kernel{
				{Path: "/boot/vmlinuz-0-rescue-0123456789abcdef", Version: "0-rescue-0123456789abcdef"},
				{Path: "/boot/vmlinuz-5.14.0-70.13.1.el9_0.x86_64", Version: "5.14.0-70.13.1.el9_0.x86_64"},
				{Path: "/lib/modules/5.14.0-70.13.1.el9_0.x86_64/vmlinuz", Version: "5.14.0-70.13.1.el9_0.x86_64"},
				{Path: "/boot/vmlinuz-5.14.0-427.13.1.el9_4.x86_64", Version: "5.14.0-427.13.1.el9_4.x86_64", Default: true},
				{Path: "/lib/modules/5.14.0-427.13.1.el9_4.x86_64/vmlinuz", Version: "5.14.0-427.13.1.el9_4.x86_64"},
				{Path: "/boot/vmlinuz-5.14.0-503.14.1.el9_5.x86_64+debug", Version: "5.14.0-503.14.1.el9_5.x86_64+debug"},
			},
		},
		{
			name: "opensuse tumbleweed: absolute symlinks resolved in the image",
			files: map[string]string{
				"lib":                           "-> /usr/lib",
				"boot/vmlinuz-6.11.5-1-default": "-> /usr/lib/modules/6.11.5-1-default/vmlinuz",
				"boot/vmlinuz":                  "-> vmlinuz-6.11.5-1-default",
				"usr/lib/modules/6.11.5-1-default/vmlinuz": "",
				// A link out of the image is resolved inside it: no kernel.
				"boot/vmlinuz-9.9.9-escape": "-> ../../../../../../../../bin/sh",
			},
			want: []Kernel{
				{Path: "/boot/vmlinuz-6.11.5-1-default", Version: "6.11.5-1-default", Default: true},
				{Path: "/lib/modules/6.11.5-1-default/vmlinuz", Version: "6.11.5-1-default"},
			},
		},
		{
			name: "sles aarch64 Image",
			files: map[string]string{
				"boot/Image-6.4.0-150600.23.7-default":  "",
				"boot/Image-6.4.0-150600.23.25-default": "",
				"boot/Image":                            "-> Image-6.4.0-150600.23.25-default",
			},
			want: []Kernel{
				{Path: "/boot/Image-6.4.0-150600.23.7-default", Version: "6.4.0-150600.23.7-default"},
				{Path: "/boot/Image-6.4.0-150600.23.25-default", Version: "6.4.0-150600.23.25-default", Default: true},
			},
		},
		{
			name: "arch: version from pkgbase",
			files: map[string]string{
				"boot/vmlinuz-linux":                     "",
				"boot/vmlinuz-linux-lts":                 "",
				"lib":                                    "-> usr/lib",
				"usr/lib/modules/6.9.7-arch1-1/vmlinuz":  "",
				"usr/lib/modules/6.9.7-arch1-1/pkgbase":  "linux\n",
				"usr/lib/modules/6.6.36-1-lts/vmlinuz":   "",
				"usr/lib/modules/6.6.36-1-lts/pkgbase":   "linux-lts\n",
				"usr/lib/modules/extramodules-6.9-arch1": "",
			},
			want: []Kernel{
				{Path: "/boot/vmlinuz-linux-lts", Version: "6.6.36-1-lts"},
				{Path: "/lib/modules/6.6.36-1-lts/vmlinuz", Version: "6.6.36-1-lts"},
				{Path: "/boot/vmlinuz-linux", Version: "6.9.7-arch1-1", Default: true},
				{Path: "/lib/modules/6.9.7-arch1-1/vmlinuz", Version: "6.9.7-arch1-1"},
			},
		},
		{
			name: "compressed kernel in the modules directory",
			files: map[string]string{
				"lib/modules/6.8.0-45-generic/vmlinuz.gz": "",
				"lib/modules/6.8.0-45-generic/vmlinuz":    "-> missing",
			},
			want: []Kernel{
				{Path: "/lib/modules/6.8.0-45-generic/vmlinuz.gz", Version: "6.8.0-45-generic", Default: true},
			},
		},
		{
			name: "only debug kernels: no default",
			files: map[string]string{
				"boot/vmlinuz-5.14.0-427.el9.x86_64+debug": "",
			},
			want: []Kernel{
				{Path: "/boot/vmlinuz-5.14.0-427.el9.x86_64+debug", Version: "5.14.0-427.el9.x86_64+debug"},
			},
		},
		{
			name:  "no kernel",
			files: map[string]string{"etc/os-release": "ID=debian\n", "boot/grub/grub.cfg": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := fakeTree(t, tc.files)
			got, err := Kernels(root)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Kernels (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKernelsMissingRoot(t *testing.T) {
	if _, err := Kernels(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Kernels of a missing root: no error")
	}
}

func TestFindKernel(t *testing.T) {
	kernels := []Kernel{
		{Path: "/boot/vmlinuz-0-rescue-abc", Version: "0-rescue-abc"},
		{Path: "/boot/vmlinuz-6.1.0-9-amd64", Version: "6.1.0-9-amd64"},
		{Path: "/boot/vmlinuz-6.1.0-28-amd64", Version: "6.1.0-28-amd64", Default: true},
		{Path: "/lib/modules/6.1.0-28-amd64/vmlinuz", Version: "6.1.0-28-amd64"},
		{Path: "/boot/vmlinuz-6.1.0-31-amd64+debug", Version: "6.1.0-31-amd64+debug"},
	}
	tests := []struct {
		name    string
		kernels []Kernel
		version string
		want    string // path, or the error's text
		wantErr bool
	}{
		{name: "default", kernels: kernels, version: "", want: "/boot/vmlinuz-6.1.0-28-amd64"},
		{name: "absolute path", kernels: kernels, version: "/lib/modules/6.1.0-28-amd64/vmlinuz", want: "/lib/modules/6.1.0-28-amd64/vmlinuz"},
		{name: "absolute path unclean", kernels: kernels, version: "/boot//vmlinuz-6.1.0-9-amd64", want: "/boot/vmlinuz-6.1.0-9-amd64"},
		{name: "exact version", kernels: kernels, version: "6.1.0-9-amd64", want: "/boot/vmlinuz-6.1.0-9-amd64"},
		{name: "exact debug version", kernels: kernels, version: "6.1.0-31-amd64+debug", want: "/boot/vmlinuz-6.1.0-31-amd64+debug"},
		{name: "prefix picks the highest non-debug", kernels: kernels, version: "6.1", want: "/boot/vmlinuz-6.1.0-28-amd64"},
		{name: "prefix of one", kernels: kernels, version: "6.1.0-9", want: "/boot/vmlinuz-6.1.0-9-amd64"},
		{name: "prefix of debug only", kernels: kernels, version: "6.1.0-31", want: `no kernel version "6.1.0-31" in the image`, wantErr: true},
		{name: "unknown version", kernels: kernels, version: "5.10", want: `no kernel version "5.10" in the image (kernels: 0-rescue-abc, 6.1.0-9-amd64, 6.1.0-28-amd64, 6.1.0-31-amd64+debug)`, wantErr: true},
		{name: "unknown path", kernels: kernels, version: "/boot/vmlinuz", want: "no kernel at /boot/vmlinuz in the image", wantErr: true},
		{name: "no kernels", version: "", want: "no kernel in the image", wantErr: true},
		{name: "no default", kernels: kernels[4:], version: "", want: "no default kernel in the image", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := FindKernel(tc.kernels, tc.version)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("FindKernel(%q) = %v, %v; want an error containing %q", tc.version, k, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("FindKernel(%q): %v", tc.version, err)
			}
			if k.Path != tc.want {
				t.Errorf("FindKernel(%q) = %s, want %s", tc.version, k.Path, tc.want)
			}
		})
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"6.1.0-9-amd64", "6.1.0-28-amd64", -1},
		{"5.14.0-427.13.1.el9_4.x86_64", "5.14.0-70.13.1.el9_0.x86_64", 1},
		{"5.14.0-427.13.1.el9_4.x86_64", "5.14.0-427.13.1.el9_4.x86_64", 0},
		{"5.14.0-427.el9.x86_64", "5.14.0-427.el9.x86_64+debug", -1},
		{"6.10.0", "6.9.12", 1},
		{"6.1.007", "6.1.7", 0},
		{"6.1.0-rc1", "6.1.0-1", -1},
		{"6.4.0-150600.23.25-default", "6.4.0-150600.23.7-default", 1},
		{"99999999999999999999.1", "99999999999999999998.2", 1},
	}
	for _, tc := range tests {
		t.Run(tc.a+" vs "+tc.b, func(t *testing.T) {
			if got := compareVersions(tc.a, tc.b); got != tc.want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := compareVersions(tc.b, tc.a); got != -tc.want {
				t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

func TestOpenInStaysInside(t *testing.T) {
	root := t.TempDir()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "boot/vmlinuz-6.1.0-1-amd64"), []byte("kernel"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, l := range []struct{ name, target string }{
		{"boot/vmlinuz", "/boot/vmlinuz-6.1.0-1-amd64"}, // absolute: restarts at the image root
		{"boot/escape", "../../../../" + outside},       // ".." stops at the image root
	} {
		if err := os.Symlink(l.target, filepath.Join(root, l.name)); err != nil {
			t.Fatal(err)
		}
	}
	f, rel, err := OpenIn(root, "/boot/vmlinuz", "")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(f)
	f.Close()
	if rel != "boot/vmlinuz-6.1.0-1-amd64" || string(data) != "kernel" {
		t.Errorf("OpenIn = %q, %q", rel, data)
	}
	if f, _, err := OpenIn(root, "/boot/escape", ""); err == nil {
		data, _ := io.ReadAll(f)
		f.Close()
		t.Errorf("opened %q through a link leaving the image", data)
	}
	if _, _, err := OpenIn(root, "/boot/vmlinuz", ".gz"); err == nil {
		t.Error("opened a .gz that does not exist")
	}
}
