package overlay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wwboot/wwboot/internal/cpio"
)

// The entry and output hashes are in every manifest and shared set on
// disk: a change of their form rebuilds nothing, but rewrites every pack
// once. These are the forms packs have been written with, spelled with
// fmt.
func TestHashesKeepTheirForm(t *testing.T) {
	entryRef := func(e *Entry) string {
		h := sha256.New()
		fmt.Fprintf(h, "%s\x00%d\x00%o\x00%d\x00%d\x00%s\x00", e.Path, e.Kind, e.Mode, e.UID, e.GID, e.Target)
		h.Write(e.Data)
		return hex.EncodeToString(h.Sum(nil))
	}
	outputRef := func(tree map[string]string) string {
		var paths []string
		for p := range tree {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		h := sha256.New()
		for _, p := range paths {
			fmt.Fprintf(h, "%s\x00%s\x00", p, tree[p])
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	for _, tc := range []struct {
		name string
		e    *Entry
	}{
		{"file", &Entry{Path: "etc/hostname", Kind: KindFile, Mode: 0o644, Data: []byte("n1\n")}},
		{"empty secret file", &Entry{Path: "etc/ssh/ssh_host_rsa_key", Kind: KindFile, Mode: 0o600, UID: 0, GID: 0}},
		{"directory", &Entry{Path: "etc/ssh", Kind: KindDir, Mode: fs.ModeDir | fs.ModeSetgid | 0o2755, UID: 1000, GID: 1000}},
		{"symlink", &Entry{Path: "etc/localtime", Kind: KindSymlink, Mode: 0o777, Target: "/usr/share/zoneinfo/UTC"}},
		{"negative owner", &Entry{Path: "x", Kind: KindFile, Mode: 0o640, UID: -1, GID: -2, Data: []byte("x")}},
		{"long path and large data", &Entry{Path: strings.Repeat("d/", 300) + "f", Kind: KindFile, Mode: 0o755, Data: []byte(strings.Repeat("data\n", 100000))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := entryHash(tc.e), entryRef(tc.e); got != want {
				t.Errorf("entryHash = %s, want %s", got, want)
			}
		})
	}
	for _, tree := range []map[string]string{
		{},
		{"etc/hostname": "aa", "etc": "bb", "etc/hosts": strings.Repeat("c", 64)},
		{"etc/" + strings.Repeat("long/", 2000) + "f": "dd", "a": "ee"}, // past a stack buffer
		manyEntries(300), // hashed a buffer at a time
	} {
		var pt pathTree
		for p, h := range tree {
			pt = append(pt, treeItem{path: p, hash: h})
		}
		slices.SortFunc(pt, func(a, b treeItem) int { return strings.Compare(a.path, b.path) })
		if got, want := outputDigest(pt), outputRef(tree); got != want {
			t.Errorf("outputDigest(%v) = %s, want %s", tree, got, want)
		}
	}
}

// manyEntries is a tree of n files with sha256-length hashes.
func manyEntries(n int) map[string]string {
	tree := map[string]string{}
	for i := range n {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		tree[fmt.Sprintf("etc/conf.d/file%04d", i)] = hex.EncodeToString(sum[:])
	}
	return tree
}

// A rendered tree finds each of its paths, first and last included, and
// nothing else.
func TestPathTreeHash(t *testing.T) {
	pt := pathTree{{"a", "1"}, {"etc", "2"}, {"etc/hosts", "3"}, {"z", "4"}}
	for _, tc := range []struct{ path, want string }{
		{"a", "1"}, {"etc", "2"}, {"etc/hosts", "3"}, {"z", "4"},
		{"", ""}, {"b", ""}, {"etc/h", ""}, {"zz", ""},
	} {
		if got := pt.hash(tc.path); got != tc.want {
			t.Errorf("hash(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
	if got := pathTree(nil).hash("a"); got != "" {
		t.Errorf("an empty tree has %q", got)
	}
}

// An archive holds its entries and the directories above them that are
// not entries, each once, all in the order of their paths ("a/b" before
// "a/b-x" before "a/b/c").
func TestArchiveAddsDirectoriesInOrder(t *testing.T) {
	s := &buildState{entries: map[string]*Entry{}}
	var tree pathTree
	for _, e := range []*Entry{
		{Path: "a/b/c", Kind: KindFile, Mode: 0o644, Data: []byte("c")},
		{Path: "a/b-x", Kind: KindFile, Mode: 0o644, Data: []byte("x")},
		{Path: "a/b/d/e", Kind: KindSymlink, Mode: 0o777, Target: "c"},
		{Path: "etc", Kind: KindDir, Mode: 0o700},
		{Path: "etc/conf.d/one", Kind: KindFile, Mode: 0o600},
		{Path: "etc/conf.d/two", Kind: KindFile, Mode: 0o600},
		{Path: "z", Kind: KindFile, Mode: 0o644},
	} {
		h := entryHash(e)
		s.entries[h] = e
		tree = append(tree, treeItem{path: e.Path, hash: h})
	}
	slices.SortFunc(tree, func(a, b treeItem) int { return strings.Compare(a.path, b.path) })
	data, err := s.appendArchive(nil, tree)
	if err != nil {
		t.Fatal(err)
	}
	type item struct {
		Name string
		Mode fs.FileMode
	}
	var got []item
	r := cpio.NewReader(bytes.NewReader(data))
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, item{h.Name, h.Mode})
	}
	want := []item{
		{"a", fs.ModeDir | 0o755}, {"a/b", fs.ModeDir | 0o755}, {"a/b-x", 0o644}, {"a/b/c", 0o644},
		{"a/b/d", fs.ModeDir | 0o755}, {"a/b/d/e", fs.ModeSymlink | 0o777},
		{"etc", fs.ModeDir | 0o700}, {"etc/conf.d", fs.ModeDir | 0o755}, {"etc/conf.d/one", 0o600}, {"etc/conf.d/two", 0o600},
		{"z", 0o644},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive's entries (-want +got):\n%s", diff)
	}
}

// packHead's encoder writes the bytes json.Marshal writes, escapes and
// empty parts included.
func TestIndexJSONAsMarshal(t *testing.T) {
	full := &manifest{Inputs: "in", Reads: map[string]string{"/etc/hosts": "aa", "/etc/b<&>\"\\\n": "bb", "é\u2028": "cc"},
		Output: "out", Shared: "sh", Own: "own", Secret: "sec",
		Sections: map[string]section{"none": {0, 12}, "secret.none": {12, 1 << 40}},
		Bodies:   map[string]bodySums{"img": {All: "a", Public: "p"}, "img.gz": {All: "g"}}}
	for _, tc := range []struct {
		name string
		idx  packIndex
	}{
		{"empty", packIndex{}},
		{"nil manifest", packIndex{System: nil}},
		{"bare", packIndex{Runtime: {Inputs: "i", Own: "o"}}},
		{"empty maps", packIndex{System: {Reads: map[string]string{}, Sections: map[string]section{}, Bodies: map[string]bodySums{}}}},
		{"both kinds, everything", packIndex{System: full, Runtime: full, "old": {Inputs: "\x00\x7f\xff"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.idx)
			if err != nil {
				t.Fatal(err)
			}
			if got := appendIndexJSON(nil, tc.idx); string(got) != string(want) {
				t.Errorf("appendIndexJSON:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func FuzzIndexJSON(f *testing.F) {
	f.Add("in", "/etc/hosts", "aa", "sec", int64(3))
	f.Add("<&>", "\u2028", "\xff", "", int64(-1))
	f.Fuzz(func(t *testing.T, inputs, path, sum, secret string, off int64) {
		idx := packIndex{System: {Inputs: inputs, Reads: map[string]string{path: sum}, Own: sum, Secret: secret,
			Sections: map[string]section{path: {off, -off}}, Bodies: map[string]bodySums{sum: {All: path, Public: secret}}}}
		want, err := json.Marshal(idx)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendIndexJSON(nil, idx); string(got) != string(want) {
			t.Errorf("appendIndexJSON:\n got %s\nwant %s", got, want)
		}
	})
}

func TestIntersect(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b pathTree
		want pathTree
	}{
		{"empty", nil, pathTree{{"a", "1"}}, nil},
		{"same", pathTree{{"a", "1"}, {"b", "2"}}, pathTree{{"a", "1"}, {"b", "2"}}, pathTree{{"a", "1"}, {"b", "2"}}},
		{"other hash", pathTree{{"a", "1"}, {"b", "2"}}, pathTree{{"a", "1"}, {"b", "3"}}, pathTree{{"a", "1"}}},
		{"b has more", pathTree{{"b", "2"}, {"d", "4"}}, pathTree{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}, {"e", "5"}}, pathTree{{"b", "2"}, {"d", "4"}}},
		{"a has more", pathTree{{"a", "1"}, {"b", "2"}, {"c", "3"}}, pathTree{{"b", "2"}}, pathTree{{"b", "2"}}},
		{"b empty", pathTree{{"a", "1"}}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := intersect(slices.Clone(tc.a), tc.b)
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(treeItem{}), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("intersect (-want +got):\n%s", diff)
			}
		})
	}
}
