package stage1

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
	"github.com/wwboot/wwboot/internal/testkit/treetest"
)

// ent is one archive entry of a test.
type ent struct {
	name, body, link string
	mode             fs.FileMode
	others           []string // hard links
}

func archive(t *testing.T, f compress.Format, entries ...ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := compress.NewWriter(&buf, f, compress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cw := cpio.NewWriter(zw)
	for _, e := range entries {
		h := &cpio.Header{Name: e.name, Mode: e.mode, Linkname: e.link, ModTime: 1_700_000_000}
		if e.mode.IsRegular() {
			h.Size = int64(len(e.body))
		}
		if err := cw.WriteHardLinked(h, e.others); err != nil {
			t.Fatal(err)
		}
		if e.mode.IsRegular() {
			if _, err := cw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestExtract(t *testing.T) {
	image := []ent{
		{name: "etc", mode: fs.ModeDir | 0o755},
		{name: "etc/hostname", mode: 0o644, body: "image\n"},
		{name: "usr", mode: fs.ModeDir | 0o755},
		{name: "usr/lib", mode: fs.ModeDir | 0o755},
		{name: "lib", mode: fs.ModeSymlink | 0o777, link: "usr/lib"},
		{name: "usr/lib/a", mode: 0o755, body: "shared", others: []string{"usr/lib/b"}},
	}
	overlayShared := []ent{{name: "etc/hosts", mode: 0o644, body: "hosts\n"}}
	overlayNode := []ent{{name: "etc/hostname", mode: 0o600, body: "n1\n"}, {name: "lib/fw", mode: 0o644, body: "through a link inside\n"}}
	want := map[string]string{
		"etc": "/", "etc/hostname": "n1\n", "etc/hosts": "hosts\n", "usr": "/", "usr/lib": "/", "lib": "-> usr/lib",
		"usr/lib/a": "shared", "usr/lib/b": "shared", "usr/lib/fw": "through a link inside\n",
	}
	for _, f := range []compress.Format{compress.None, compress.Gzip, compress.Zstd} {
		t.Run(f.String(), func(t *testing.T) {
			dir := t.TempDir()
			x := &Extractor{}
			if _, err := x.Extract(bytes.NewReader(archive(t, f, image...)), dir); err != nil {
				t.Fatal(err)
			}
			// An overlay: two archives one after the other, each
			// compressed on its own.
			ov := append(archive(t, f, overlayShared...), archive(t, f, overlayNode...)...)
			st, err := x.Extract(bytes.NewReader(ov), dir)
			if err != nil {
				t.Fatal(err)
			}
			if st.Entries != 3 {
				t.Errorf("%d entries from the overlay, want 3", st.Entries)
			}
			if diff := cmp.Diff(want, treetest.Read(t, dir)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			a, _ := os.Stat(filepath.Join(dir, "usr/lib/a"))
			b, _ := os.Stat(filepath.Join(dir, "usr/lib/b"))
			if !os.SameFile(a, b) {
				t.Errorf("usr/lib/a and usr/lib/b are not hard links of one file")
			}
			if st, _ := os.Stat(filepath.Join(dir, "etc/hostname")); st.Mode().Perm() != 0o600 || st.ModTime().Unix() != 1_700_000_000 {
				t.Errorf("etc/hostname mode %v, time %v", st.Mode(), st.ModTime())
			}
		})
	}
}

func TestExtractHostile(t *testing.T) {
	tests := []struct {
		name    string
		data    func(t *testing.T) []byte
		wantErr string
	}{
		{
			name: "absolute symlink then a file through it",
			data: func(t *testing.T) []byte {
				return archive(t, compress.Gzip, ent{name: "x", mode: fs.ModeSymlink | 0o777, link: "/etc"},
					ent{name: "x/passwd", mode: 0o644, body: "pwned"})
			},
			wantErr: "x/passwd",
		},
		{
			name: "relative symlink climbing out",
			data: func(t *testing.T) []byte {
				return archive(t, compress.Zstd, ent{name: "x", mode: fs.ModeSymlink | 0o777, link: "../../../../../../tmp"},
					ent{name: "x/evil", mode: 0o644, body: "pwned"})
			},
			wantErr: "x/evil",
		},
		{
			name: "dot-dot in a name",
			data: func(t *testing.T) []byte {
				var b bytes.Buffer
				h := "070701" + strings.Repeat("00000000", 1) + "000081a4" + strings.Repeat("00000000", 9) + "0000000b" + "00000000"
				b.WriteString(h + "../escaped\x00\x00\x00\x00")
				return b.Bytes()
			},
			wantErr: "..",
		},
		{
			name: "truncated",
			data: func(t *testing.T) []byte {
				d := archive(t, compress.Gzip, ent{name: "f", mode: 0o644, body: "x"})
				return d[:len(d)/2]
			},
			wantErr: "unexpected EOF",
		},
		{name: "empty", data: func(t *testing.T) []byte { return nil }, wantErr: "unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent := t.TempDir()
			dir := filepath.Join(parent, "a", "b", "root")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := (&Extractor{}).Extract(bytes.NewReader(tt.data(t)), dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one with %q", err, tt.wantErr)
			}
			for _, p := range []string{"/etc/passwd", "/tmp/evil"} {
				if b, err := os.ReadFile(p); err == nil && string(b) == "pwned" {
					t.Fatalf("%s was written outside the root", p)
				}
			}
			// The dot-dot entry is empty: that it exists at all is the escape.
			for _, p := range []string{filepath.Join(parent, "escaped"), filepath.Join(parent, "a", "escaped"), filepath.Join(parent, "a", "b", "escaped")} {
				if _, err := os.Lstat(p); err == nil {
					t.Fatalf("%s was written outside the root", p)
				}
			}
		})
	}
}
