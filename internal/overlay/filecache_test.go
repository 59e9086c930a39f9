package overlay

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/Masterminds/sprig/v3"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
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

// TestBuildRemembersManifest checks that the manifest a build keeps for
// the pack it wrote is the one the pack holds, so that the next check
// (the daemon's, collectShared) can trust the cache. One node is built:
// a build of the whole group would read every pack again to collect
// unused shared archives, which fills the cache anyway.
func TestBuildRemembersManifest(t *testing.T) {
	f := newBuildFixture(t)
	snap := f.snapshot(t)
	if _, err := f.builder.Build(context.Background(), snap, []string{"n1"}, []ImageKind{System, Runtime}, false, nil); err != nil {
		t.Fatal(err)
	}
	path := packPath(f.builder.Dir, "n1")
	onDisk := readPack(nil, path, "", "")
	if len(onDisk) != 2 {
		t.Fatalf("the pack holds %d images, want 2", len(onDisk))
	}
	for _, k := range []ImageKind{System, Runtime} {
		cached, ok := f.builder.manifests.Load(path + "\x00" + string(k))
		if !ok {
			t.Fatalf("%s: no manifest kept after the build", k)
		}
		if diff := cmp.Diff(onDisk[k], cached.(*cachedManifest).m, cmp.AllowUnexported(manifest{}), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: kept manifest (-on disk +kept):\n%s", k, diff)
		}
	}
}

// TestRegexMatchAsSprig checks that the templates' regexMatch and
// mustRegexMatch, which compile each expression once a renderer, answer
// as Sprig's, which compile at every call, invalid expressions included.
func TestRegexMatchAsSprig(t *testing.T) {
	var st *execState
	ours := funcMap(env{}, &st)
	sp := sprig.TxtFuncMap()
	for _, tc := range []struct{ name, expr, s string }{
		{"match", "^DNS[0-9]*$", "DNS1"},
		{"no match", "^DNS[0-9]*$", "NTP"},
		{"same expression again", "^DNS[0-9]*$", "DNS"},
		{"invalid", "^(DNS", "DNS1"},
		{"invalid again", "^(DNS", "DNS1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			type answer struct {
				Match, MustMatch bool
				Err              string
			}
			ask := func(m map[string]any) answer {
				var a answer
				a.Match = m["regexMatch"].(func(string, string) bool)(tc.expr, tc.s)
				var err error
				a.MustMatch, err = m["mustRegexMatch"].(func(string, string) (bool, error))(tc.expr, tc.s)
				if err != nil {
					a.Err = err.Error()
				}
				return a
			}
			if diff := cmp.Diff(ask(sp), ask(ours)); diff != "" {
				t.Errorf("regexMatch %q %q (-sprig +ours):\n%s", tc.expr, tc.s, diff)
			}
		})
	}
}

// TestFileCacheMissingDir checks that reads under a directory the cache
// found missing give what os.ReadFile gives, and are recorded the same,
// without looking again: a file made there during the build is not seen
// until the next build (a build is a point in time).
func TestFileCacheMissingDir(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "link")
	other := filepath.Join(dir, "other")
	if err := os.MkdirAll(filepath.Join(other, "nodes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nodes"), []byte("a file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(other, "nodes"), link); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(other, "keys", "n1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "keys", "n1", "key"), []byte("key\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		Data, Err string
		Sum       string
		Recorded  bool
	}
	do := func(c *fileCache, p string) result {
		st := &execState{files: c}
		data, err := st.read(p)
		r := result{Data: string(data)}
		if err != nil {
			r.Err = err.Error()
		}
		r.Sum, r.Recorded = st.reads[p]
		return r
	}
	plain := func(p string) result { return do(nil, p) } // no cache
	// keys/nodes/ is missing too: the names kept are those of dir.
	missing := filepath.Join(dir, "keys", "nodes", "n1")
	if err := os.MkdirAll(filepath.Join(dir, "keys3", "nodes", "n3"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "keys3", "nodes", "n3", "key"), []byte("n3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"first file of a missing directory", filepath.Join(missing, "ssh_host_rsa_key")},
		{"second file of it", filepath.Join(missing, "ssh_host_ed25519_key")},
		{"deeper under it", filepath.Join(missing, "sub", "key")},
		{"another missing directory of the same parent", filepath.Join(dir, "keys", "nodes", "n2", "key")},
		{"a directory of a listed parent that exists", filepath.Join(dir, "keys3", "nodes", "n3", "key")},
		{"not a directory", filepath.Join(dir, "nodes", "key")},
		{"under the file again", filepath.Join(dir, "nodes", "other")},
		// Lexically under keys/n1, but the kernel goes through the
		// link to other/keys/n1/key, which exists.
		{"dot dot through a link", dir + "/link/../keys/n1/key"},
	}
	c := newFileCache()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(plain(tc.path), do(c, tc.path)); diff != "" {
				t.Errorf("read through the cache (-uncached +cached):\n%s", diff)
			}
		})
	}
	wantMissing := map[string]bool{missing: true, filepath.Dir(missing): true, filepath.Join(dir, "keys"): true}
	if diff := cmp.Diff(wantMissing, c.missingDirs); diff != "" {
		t.Errorf("missing directories (-want +got):\n%s", diff)
	}
	if !c.names[dir]["keys3"] {
		t.Errorf("the names of %s were not kept: %v", dir, c.names)
	}
	// Made during the build: this build still answers missing, without
	// opening it; the next build's cache reads it.
	late := filepath.Join(missing, "ssh_host_ecdsa_key")
	if err := os.MkdirAll(missing, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(late, []byte("late\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := do(c, late); got.Err == "" || got.Sum != "" || !got.Recorded {
		t.Errorf("read in the same build = %+v, want missing and recorded", got)
	}
	if diff := cmp.Diff(plain(late), do(newFileCache(), late)); diff != "" {
		t.Errorf("read in the next build (-uncached +cached):\n%s", diff)
	}
}
