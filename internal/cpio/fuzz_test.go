package cpio

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzReader checks that the Reader never panics, and that every entry it
// accepts can be written back by the Writer into an archive the Reader
// reads as the same entries.
func FuzzReader(f *testing.F) {
	seeds := [][]byte{
		nil,
		[]byte(trailerBytes()),
		[]byte(entryBytes(0o100644, "./a", "body") + trailerBytes()),
		[]byte(entryBytes(0o120777, "l", "target") + entryBytes(0o40755, "d", "") + trailerBytes()),
		[]byte(rawHeader(0o100644, 0xffffffff, 2, "f\x00")),
		writeArchive(f, []file{{Header: Header{Name: "x", Mode: fs.ModeDevice | 0o600, Rdevmajor: 8, Rdevminor: 1}}}),
	}
	if golden, err := os.ReadFile(filepath.Join("testdata", "tiny.cpio")); err == nil {
		seeds = append(seeds, golden)
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		accepted, err := readArchive(data)
		if err == nil && !bytes.Contains(data, []byte(trailer)) {
			t.Fatalf("accepted %d entries of %q without a trailer", len(accepted), data)
		}
		if err != nil && !errors.Is(err, ErrFormat) && !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("error %v wraps neither ErrFormat nor io.ErrUnexpectedEOF", err)
		}

		var buf bytes.Buffer
		w := NewWriter(&buf)
		for _, e := range accepted {
			h := e.Header
			if err := w.WriteHeader(&h); err != nil {
				t.Fatalf("Writer refuses a header the Reader accepted: %v\n%+v", err, h)
			}
			if _, err := io.WriteString(w, e.Body); err != nil {
				t.Fatalf("Write body of %q: %v", h.Name, err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		again, err := readArchive(buf.Bytes())
		if err != nil {
			t.Fatalf("Reader refuses the Writer's archive: %v", err)
		}
		if diff := cmp.Diff(withoutIdentity(accepted), withoutIdentity(again)); diff != "" {
			t.Errorf("entries changed through a rewrite (-read +rewritten):\n%s", diff)
		}
	})
}

// withoutIdentity clears the fields the Writer assigns itself.
func withoutIdentity(files []file) []file {
	var out []file
	for _, f := range files {
		f.Ino, f.Nlink, f.Devmajor, f.Devminor = 0, 0, 0, 0
		out = append(out, f)
	}
	return out
}
