package image

import (
	"os"
	"path/filepath"
	"testing"
)

// Warewulf 4.5's kernel overrides named a kernel imported with "wwctl
// kernel import" (its version in <wwprovisiondir>/kernel/NAME/version);
// "upgrade nodes" finds the image's kernel of that version, as
// Warewulf's upgrade does (its test "Kernel.Override (legacy)": version
// 1.2.3 and the image's /boot/vmlinuz-1.2.3).
func TestResolveKernelOverride(t *testing.T) {
	dir := t.TempDir()
	im := &Images{Chroots: filepath.Join(dir, "chroots"), Provision: filepath.Join(dir, "provision")}
	write := func(p, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, version := range map[string]string{
		"mykernel":   "1.2.3",
		"el9":        "5.14.0-362.24.1.el9_3.x86_64\n",
		"missing":    "9.9.9",
		"noversion":  "a kernel",
		"zeros":      "01.02.3",
		"bad..parts": "1.2.3",
	} {
		write(filepath.Join(im.Provision, "kernel", name, "version"), version)
	}
	for _, p := range []string{"boot/vmlinuz-1.2.3", "boot/vmlinuz-5.14.0-362.24.1.el9_3.x86_64", "boot/vmlinuz-5.14.0-427.el9.x86_64", "opt/custom/vmlinuz"} {
		write(filepath.Join(im.RootFS("myimage"), p), "kernel")
	}
	write(filepath.Join(dir, "outside"), "x")
	for _, tc := range []struct {
		name, image, override, want string
	}{
		{"Warewulf's own case", "myimage", "mykernel", "/boot/vmlinuz-1.2.3"},
		{"a distribution's version file", "myimage", "el9", "/boot/vmlinuz-5.14.0-362.24.1.el9_3.x86_64"},
		{"leading zeros compare as numbers", "myimage", "zeros", "/boot/vmlinuz-1.2.3"},
		{"a name with dots", "myimage", "bad..parts", "/boot/vmlinuz-1.2.3"},
		{"no kernel of that version", "myimage", "missing", ""},
		{"a version file without a version", "myimage", "noversion", ""},
		{"no such imported kernel", "myimage", "other", ""},
		{"a file of the image", "myimage", "opt/custom/vmlinuz", "/opt/custom/vmlinuz"},
		{"a name leaving the kernel directory", "myimage", "../../outside", ""},
		{"no image", "", "mykernel", ""},
		{"an image without that kernel", "other", "mykernel", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := im.ResolveKernelOverride(tc.image, tc.override)
			if got != tc.want || ok != (tc.want != "") {
				t.Errorf("ResolveKernelOverride(%q, %q) = %q, %v; want %q", tc.image, tc.override, got, ok, tc.want)
			}
		})
	}
}
