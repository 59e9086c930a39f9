package inventory

import (
	"strings"
	"testing"
)

func TestFileSystemKey(t *testing.T) {
	tests := []struct {
		name, in, want, wantErr string
	}{
		{name: "device path", in: "/dev/vda1", want: "/dev/vda1"},
		{name: "udev path", in: "/dev/disk/by-uuid/1234", want: "/dev/disk/by-uuid/1234"},
		{name: "partition label", in: "scratch", want: "/dev/disk/by-partlabel/scratch"},
		{name: "relative path", in: "dev/vda1", wantErr: `filesystem "dev/vda1": a relative path is neither`},
		{name: "outside /dev", in: "/etc/vda1", wantErr: "clean path under /dev"},
		{name: "dot dot", in: "/dev/../etc/passwd", wantErr: "clean path under /dev"},
		{name: "label with slash", in: "/dev/disk/by-partlabel/a/b", wantErr: "partition label cannot"},
		{name: "empty", in: "", wantErr: "empty name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := FileSystemKey(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("FileSystemKey(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("FileSystemKey(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestValidateFileSystemKeys: a filesystem in nodes.conf (written by hand
// or through the API) must name a device under /dev.
func TestValidateFileSystemKeys(t *testing.T) {
	inv, err := Parse([]byte("nodes:\n  n1:\n    filesystems:\n      dev/vda1:\n        path: /x\n      /dev/vda2:\n        path: /y\n"), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range inv.Validate() {
		got = append(got, p.String())
	}
	if len(got) != 1 || !strings.Contains(got[0], "FileSystems[dev/vda1]") {
		t.Errorf("problems %q, want one naming FileSystems[dev/vda1]", got)
	}
}
