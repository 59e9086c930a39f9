package overlay

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestFileCacheReadsOnce checks that a build's cache reads a file once,
// so that every node of a build sees the same content, and a missing
// file is recorded as "" like an uncached read.
func TestFileCacheReadsOnce(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "passwd")
	if err := os.WriteFile(p, []byte("root:x:0:0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := newFileCache()
	read := func(p string) (string, string, bool) {
		st := &execState{files: c}
		data, err := st.read(p)
		return string(data), st.reads[p], err == nil
	}
	type result struct {
		Data, Sum string
		OK        bool
	}
	var got []result
	for _, step := range []func(){
		func() {},
		func() { _ = os.WriteFile(p, []byte("changed\n"), 0o644) },
	} {
		step()
		d, s, ok := read(p)
		got = append(got, result{d, s, ok})
	}
	d, s, ok := read(filepath.Join(dir, "missing"))
	got = append(got, result{d, s, ok})

	plain := &execState{}
	if _, err := plain.read(p); err != nil {
		t.Fatal(err)
	}
	first := &execState{}
	first.note(p, []byte("root:x:0:0\n"))
	want := []result{
		{"root:x:0:0\n", first.reads[p], true},
		{"root:x:0:0\n", first.reads[p], true}, // read once: the build sees one content
		{"", "", false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cached reads (-want +got):\n%s", diff)
	}
	// Without a cache, the file is read again.
	if plain.reads[p] == first.reads[p] {
		t.Errorf("uncached read of the changed file gave the old sum")
	}
}
