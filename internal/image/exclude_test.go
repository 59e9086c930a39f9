package image

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestReadExcludes(t *testing.T) {
	tests := []struct {
		name    string
		content *string // nil: no file
		want    []string
	}{
		{name: "missing file"},
		{name: "empty file", content: ptr("")},
		{
			name:    "comments and blanks",
			content: ptr("# Warewulf excludes\n/boot/\n\n  /usr/share/man  \n\t# indented comment\n*.pyc\r\n/tmp/*"),
			want:    []string{"/boot/", "/usr/share/man", "*.pyc", "/tmp/*"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "excludes")
			if tc.content != nil {
				if err := os.WriteFile(p, []byte(*tc.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := ReadExcludes(p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ReadExcludes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadExcludesUnreadable(t *testing.T) {
	dir := t.TempDir() // a directory cannot be read as a file
	if _, err := ReadExcludes(dir); err == nil || !strings.Contains(err.Error(), "read excludes") {
		t.Errorf("ReadExcludes(directory) = %v, want a read error", err)
	}
}

func TestExcluderMatch(t *testing.T) {
	type probe struct {
		path  string
		isDir bool
		want  bool
	}
	tests := []struct {
		name     string
		patterns []string
		probes   []probe
	}{
		{
			name:     "anchored path",
			patterns: []string{"/usr/share/man"},
			probes: []probe{
				{"usr/share/man", true, true},
				{"usr/share/man", false, true},
				{"opt/usr/share/man", true, false},
				{"usr/share/manx", true, false},
				{"usr/share", true, false},
			},
		},
		{
			name:     "slash inside anchors, as in Warewulf",
			patterns: []string{"usr/local"},
			probes: []probe{
				{"usr/local", true, true},
				{"opt/usr/local", true, false},
			},
		},
		{
			name:     "trailing slash: directories only",
			patterns: []string{"/boot/"},
			probes: []probe{
				{"boot", true, true},
				{"boot", false, false},
				{"usr/boot", true, false},
			},
		},
		{
			name:     "unanchored name matches at any depth",
			patterns: []string{"*.pyc", "__pycache__/"},
			probes: []probe{
				{"a.pyc", false, true},
				{"usr/lib/python3/x.pyc", false, true},
				{"usr/lib/python3/__pycache__", true, true},
				{"usr/lib/python3/__pycache__", false, false},
				{"usr/lib/python3/x.py", false, false},
			},
		},
		{
			name:     "star does not cross slashes",
			patterns: []string{"/tmp/*", "/var/log/*.log"},
			probes: []probe{
				{"tmp", true, false},
				{"tmp/x", false, true},
				{"tmp/d", true, true},
				{"tmp/d/x", false, false}, // never asked: its directory is pruned
				{"var/log/syslog.log", false, true},
				{"var/log/apt/term.log", false, false},
			},
		},
		{
			name:     "classes and question marks",
			patterns: []string{"/lib/modules/*/kernel/drivers/[gm]pu", "/etc/ssh/ssh_host_?sa_key"},
			probes: []probe{
				{"lib/modules/6.1.0/kernel/drivers/gpu", true, true},
				{"lib/modules/6.1.0/kernel/drivers/net", true, false},
				{"etc/ssh/ssh_host_rsa_key", false, true},
				{"etc/ssh/ssh_host_ed25519_key", false, false},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ex, err := newExcluder(tc.patterns)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tc.probes {
				if _, got := ex.match(p.path, p.isDir); got != p.want {
					t.Errorf("match(%q, dir=%t) = %t, want %t", p.path, p.isDir, got, p.want)
				}
			}
		})
	}
}

func TestExcluderRefuses(t *testing.T) {
	tests := []struct {
		name    string
		pattern string
		want    string
	}{
		{name: "bad class", pattern: "/usr/[a", want: `exclude pattern "/usr/[a": syntax error in pattern`},
		{name: "root", pattern: "/", want: `exclude pattern "/": would exclude the whole tree`},
		{name: "dot", pattern: "/./", want: `exclude pattern "/./": would exclude the whole tree`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newExcluder([]string{"/ok", tc.pattern})
			if err == nil || err.Error() != tc.want {
				t.Errorf("newExcluder = %v, want %q", err, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
