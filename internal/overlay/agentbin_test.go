package overlay

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
)

func TestWithWwclient(t *testing.T) {
	builtin := fstest.MapFS{
		"wwclient/attrs":                         {Data: []byte("warewulf/wwclient 0755\n")},
		"wwclient/rootfs/warewulf/wwclient":      {Data: []byte("#!/bin/sh\nexit 1\n")},
		"wwclient/rootfs/warewulf/wwclient.conf": {Data: []byte("WWID=x\n")},
		"hosts/rootfs/etc/hosts":                 {Data: []byte("127.0.0.1 localhost\n")},
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin", "wwclient")
	if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("\x7fELF static agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nowhere", "wwclient")
	tests := []struct {
		name    string
		paths   []string
		want    string // content of warewulf/wwclient
		wantErr string
	}{
		{name: "found next to wwctl", paths: WwclientPaths(filepath.Join(dir, "bin", "wwctl"), ""), want: "\x7fELF static agent"},
		{name: "first that exists", paths: []string{missing, bin}, want: "\x7fELF static agent"},
		{name: "override", paths: WwclientPaths("/usr/bin/wwctl", bin), want: "\x7fELF static agent"},
		{name: "missing", paths: []string{missing, filepath.Join(dir, "also-missing")},
			wantErr: "no wwclient binary for the wwclient overlay: build it (make build writes bin/wwclient) or install it; looked in " +
				missing + ", " + filepath.Join(dir, "also-missing")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Store{Builtin: WithWwclient(builtin, tt.paths)}
			names, err := s.Names()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"hosts", "wwclient"}, names); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
			if _, err := s.Get("hosts"); err != nil {
				t.Errorf("other overlays must not need the binary: %v", err)
			}
			o, err := s.Get("wwclient")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, f := range o.Files {
				got[f.Path] = f.Mode.String() + " " + string(f.Data)
			}
			want := map[string]string{
				"warewulf":               "-rwxr-xr-x ", // a directory: Mode holds only its permissions
				"warewulf/wwclient":      "-rwxr-xr-x " + tt.want,
				"warewulf/wwclient.conf": "-rw-r--r-- WWID=x\n",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWwclientPaths(t *testing.T) {
	got := WwclientPaths("/opt/wwboot/bin/wwctl", "")
	want := []string{"/opt/wwboot/bin/wwclient", "/opt/wwboot/lib/wwboot/wwclient", "/opt/wwboot/libexec/wwboot/wwclient",
		"/usr/lib/wwboot/wwclient", "/usr/libexec/wwboot/wwclient", "/usr/bin/wwclient"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/usr/bin/wwclient", "/usr/lib/wwboot/wwclient", "/usr/libexec/wwboot/wwclient"},
		WwclientPaths("/usr/bin/wwctl", "")); diff != "" {
		t.Errorf("installed paths (-want +got):\n%s", diff)
	}
}

// Warewulf ships wwclient.x86_64 and wwclient.aarch64 beside wwclient:
// the same overlay with the agent of that architecture.
func TestWithWwclientArchs(t *testing.T) {
	builtin := fstest.MapFS{
		"wwclient/attrs":                         {Data: []byte("warewulf/wwclient 0755\n")},
		"wwclient/rootfs/warewulf/wwclient":      {Data: []byte("#!/bin/sh\nexit 1\n")},
		"wwclient/rootfs/warewulf/wwclient.conf": {Data: []byte("WWID=x\n")},
		"hosts/rootfs/etc/hosts":                 {Data: []byte("127.0.0.1 localhost\n")},
	}
	dir := t.TempDir()
	for name, content := range map[string]string{"wwclient": "amd64 agent", "wwclient.x86_64": "x86_64 agent", "wwclient.aarch64": "aarch64 agent"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	exe := filepath.Join(dir, "wwctl")
	s := &Store{Builtin: WithWwclientArchs(WithWwclient(builtin, WwclientPaths(exe, "")), exe)}
	names, err := s.Names()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hosts", "wwclient", "wwclient.aarch64", "wwclient.x86_64"}, names); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	for overlay, agent := range map[string]string{"wwclient": "amd64 agent", "wwclient.x86_64": "x86_64 agent", "wwclient.aarch64": "aarch64 agent"} {
		o, err := s.Get(overlay)
		if err != nil {
			t.Fatalf("%s: %v", overlay, err)
		}
		got := map[string]string{}
		for _, f := range o.Files {
			got[f.Path] = f.Mode.String() + " " + string(f.Data)
		}
		want := map[string]string{
			"warewulf":               "-rwxr-xr-x ",
			"warewulf/wwclient":      "-rwxr-xr-x " + agent,
			"warewulf/wwclient.conf": "-rw-r--r-- WWID=x\n",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s files (-want +got):\n%s", overlay, diff)
		}
	}
	// Without its binary a copy is not there, and the others still are.
	if err := os.Remove(filepath.Join(dir, "wwclient.aarch64")); err != nil {
		t.Fatal(err)
	}
	if names, err := s.Names(); err != nil || slices.Contains(names, "wwclient.aarch64") || !slices.Contains(names, "wwclient.x86_64") {
		t.Errorf("without the aarch64 agent: names %v, %v", names, err)
	}
	if _, err := s.Get("wwclient.aarch64"); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("missing aarch64 agent: %v", err)
	}
}
