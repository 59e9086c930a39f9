package image

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindInitramfs(t *testing.T) {
	tests := []struct {
		name    string
		files   []string
		version string
		want    string // "" for an error
	}{
		{"dracut", []string{"boot/initramfs-5.14.0-427.el9.x86_64.img", "boot/initramfs-5.14.0-427.el9.x86_64kdump.img"}, "5.14.0-427.el9.x86_64", "/boot/initramfs-5.14.0-427.el9.x86_64.img"},
		{"debian", []string{"boot/initrd.img-6.1.0-1-amd64", "boot/initrd.img-6.1.0-10-amd64"}, "6.1.0-1-amd64", "/boot/initrd.img-6.1.0-1-amd64"},
		{"suse", []string{"boot/initrd-6.4.0-150600.21-default"}, "6.4.0-150600.21-default", "/boot/initrd-6.4.0-150600.21-default"},
		{"prefix of another version only", []string{"boot/initrd.img-6.1.0-10-amd64"}, "6.1.0-1-amd64", ""},
		{"rescue only", []string{"boot/initramfs-0-rescue-abc.img"}, "6.1.0-1-amd64", ""},
		{"none", nil, "6.1.0-1-amd64", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for _, f := range tc.files {
				if err := os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(root, f), []byte("x"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := FindInitramfs(root, tc.version)
			if tc.want == "" {
				if err == nil {
					t.Errorf("found %s, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
