package overlay

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// packInodes returns the inode each node's pack name links to, and the
// link count of each inode.
func packInodes(t *testing.T, dir string, nodes ...string) (inos map[string]uint64, links map[uint64]uint64) {
	t.Helper()
	inos, links = map[string]uint64{}, map[uint64]uint64{}
	for _, n := range nodes {
		var st syscall.Stat_t
		if err := syscall.Stat(packPath(dir, n), &st); err != nil {
			t.Fatal(err)
		}
		inos[n], links[st.Ino] = st.Ino, uint64(st.Nlink)
	}
	return inos, links
}

// noTemporaryFiles fails when a build left a temporary name in dir.
func noTemporaryFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

// A build writes one file, however many nodes it builds, and links each
// node's pack name to it; each name reads as that node's pack alone.
func TestBuildWritesOneBatch(t *testing.T) {
	f := newBuildFixture(t)
	if diff := cmp.Diff(statuses("n1/system", "n1/runtime", "n2/system", "n2/runtime", "n3/system", "n3/runtime"), f.build(t)); diff != "" {
		t.Fatalf("first build (-want +got):\n%s", diff)
	}
	inos, links := packInodes(t, f.builder.Dir, "n1", "n2", "n3")
	if len(links) != 1 || links[inos["n1"]] != 3 {
		t.Errorf("packs' inodes %v, link counts %v; want one inode linked 3 times", inos, links)
	}
	noTemporaryFiles(t, f.builder.Dir)
	table, err := readBatchTable(mustOpen(t, packPath(f.builder.Dir, "n1")), fileSize(t, packPath(f.builder.Dir, "n1")))
	if err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for n := range table {
			if !yield(n) {
				return
			}
		}
	}); !slices.Equal(got, []string{"n1", "n2", "n3"}) {
		t.Errorf("batch table lists %v", got)
	}
	for _, n := range []string{"n1", "n2", "n3"} {
		idx := readPack(nil, packPath(f.builder.Dir, n), "", "")
		if len(idx) != 2 {
			t.Fatalf("%s: %d images, want 2", n, len(idx))
		}
		a, err := f.builder.Artifact(context.Background(), f.snapshot(t), n, System, "", false)
		if err != nil {
			t.Fatal(err)
		}
		if got := unpack(t, a)["etc/hostname"]; got != n+"\n" {
			t.Errorf("%s's hostname: %q", n, got)
		}
	}
	// Nothing changed: nothing written, the batch stays.
	f.build(t)
	if again, _ := packInodes(t, f.builder.Dir, "n1", "n2", "n3"); !cmp.Equal(again, inos) {
		t.Errorf("a build with nothing to do moved the packs: %v -> %v", inos, again)
	}
}

// A batch that fewer than half its nodes are still linked to is carried
// into the next build's batch, which frees it; one with half or more is
// left alone. The packs carried are the same bytes, served the same.
func TestSparseBatchIsCarried(t *testing.T) {
	f := newBuildFixture(t)
	f.nodes = buildNodes + "  n4: {profiles: [default], network devices: {default: {ipaddr: 10.0.0.4}}}\n"
	nodes := []string{"n1", "n2", "n3", "n4"}
	build := func(names ...string) {
		t.Helper()
		// A Builder each, as each wwctl overlay build has.
		b := &Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true}
		res, err := b.Build(context.Background(), f.snapshot(t), names, []ImageKind{System, Runtime}, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if len(names) > 0 && !slices.Contains(names, r.Node) || r.Err != nil {
				t.Fatalf("result %+v for a build of %v", r, names)
			}
		}
	}
	build()
	first, _ := packInodes(t, f.builder.Dir, nodes...)
	n4Before := nodePackBytes(t, packPath(f.builder.Dir, "n4"))

	// Two of four rebuilt: the first batch keeps half its nodes.
	build("n1", "n2")
	second, links := packInodes(t, f.builder.Dir, nodes...)
	if second["n3"] != first["n3"] || second["n4"] != first["n4"] || links[first["n3"]] != 2 {
		t.Errorf("n3 and n4 moved from a batch with half its nodes left: %v -> %v (links %v)", first, second, links)
	}

	// A third rebuilt: one of four left in the first batch, carried.
	build("n3")
	third, links := packInodes(t, f.builder.Dir, nodes...)
	if third["n4"] == first["n4"] || third["n4"] != third["n3"] || links[third["n3"]] != 2 {
		t.Errorf("n4 was not carried into the build of n3: %v -> %v (links %v)", second, third, links)
	}
	if third["n1"] != second["n1"] {
		t.Errorf("n1's batch, with both its nodes left, moved")
	}
	if diff := cmp.Diff(n4Before, nodePackBytes(t, packPath(f.builder.Dir, "n4"))); diff != "" {
		t.Errorf("n4's pack changed when carried (-before +after):\n%s", diff)
	}
	a, err := f.builder.Artifact(context.Background(), f.snapshot(t), "n4", Runtime, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if got := unpack(t, a)["etc/motd"]; got != "welcome to n4\n" {
		t.Errorf("n4's motd after it was carried: %q", got)
	}
	noTemporaryFiles(t, f.builder.Dir)
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	return fh
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// batchBytes returns a batch of the given packs (node, bytes).
func batchBytes(packs ...[2]string) []byte {
	var names []string
	for _, p := range packs {
		names = append(names, p[0])
	}
	off := batchHeadSize(names)
	var entries []batchEntry
	var data []byte
	for _, p := range packs {
		entries = append(entries, batchEntry{node: p[0], pack: section{Off: off, Len: int64(len(p[1]))}})
		off += int64(len(p[1]))
		data = append(data, p[1]...)
	}
	return append(batchHead(entries), data...)
}

func TestReadBatchTable(t *testing.T) {
	good := batchBytes([2]string{"n1", "pack one"}, [2]string{"node-02", "two"})
	headLen := len(batchMagic) + 4
	tableLen := int(binary.BigEndian.Uint32(good[len(batchMagic):]))
	for _, tc := range []struct {
		name, data, err string
		want            batchTable
	}{
		{name: "two nodes", data: string(good), want: batchTable{
			"n1":      {Off: int64(headLen + tableLen), Len: 8},
			"node-02": {Off: int64(headLen + tableLen + 8), Len: 3},
		}},
		{name: "no node", data: string(batchBytes()), want: batchTable{}},
		{name: "a pack, not a batch", data: packMagic + "\x00\x00\x00\x02{}", err: "not an overlay batch"},
		{name: "cut in the magic", data: batchMagic[:10], err: "EOF"},
		{name: "table longer than the file", data: string(good[:headLen+tableLen-1]), err: "overlay batch table of"},
		{name: "table entry cut short", data: batchMagic + "\x00\x00\x00\x03\x00\x05n", err: "cut short"},
		{name: "pack beyond the end", data: string(good[:len(good)-1]), err: `node "node-02"'s pack outside the file`},
		{name: "pack inside the table", data: string(func() []byte {
			b := bytes.Clone(good)
			binary.BigEndian.PutUint64(b[headLen+2+2:], 3)
			return b
		}()), err: `node "n1"'s pack outside the file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBatchTable(strings.NewReader(tc.data), int64(len(tc.data)))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("table (-want +got):\n%s", diff)
			}
		})
	}
}

// Whatever a file holds, the table read from it puts every pack inside
// the file, after the table.
func FuzzReadBatchTable(f *testing.F) {
	f.Add(batchBytes([2]string{"n1", "pack one"}, [2]string{"n2", "two"}))
	f.Add(batchBytes())
	f.Add([]byte(batchMagic + "\x00\x00\x00\x12\x00\x02n1" + strings.Repeat("\xff", 16)))
	f.Fuzz(func(t *testing.T, data []byte) {
		table, err := readBatchTable(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		head := int64(len(batchMagic)+4) + int64(binary.BigEndian.Uint32(data[len(batchMagic):]))
		for n, s := range table {
			if s.Off < head || s.Len < 0 || s.Off+s.Len > int64(len(data)) {
				t.Errorf("node %q's pack at %d+%d in a file of %d with a head of %d", n, s.Off, s.Len, len(data), head)
			}
		}
	})
}

// A pack name linked to a batch whose table does not list that node is
// read as no pack at all (a file renamed by hand, say).
func TestBatchWithoutTheNode(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "n9.pack")
	if err := os.WriteFile(path, batchBytes([2]string{"n1", "x"}), 0o600); err != nil {
		t.Fatal(err)
	}
	if idx := readPack(nil, path, "", ""); idx != nil {
		t.Errorf("read %v for a node the batch does not hold", idx)
	}
}

// A copy of the directory that kept no hard links (rsync without -H)
// leaves a whole batch under each node's name. The next build, even one
// with nothing to build, gathers the packs into one batch again.
func TestCopiedBatchesAreGathered(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	nodes := []string{"n1", "n2", "n3"}
	want := map[string][]byte{}
	for _, n := range nodes {
		p := packPath(f.builder.Dir, n)
		want[n] = nodePackBytes(t, p)
		whole, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, whole, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, links := packInodes(t, f.builder.Dir, nodes...); len(links) != 3 {
		t.Fatalf("the copy left %d files, want 3", len(links))
	}
	b := &Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true}
	res, err := b.Build(context.Background(), f.snapshot(t), nil, []ImageKind{System, Runtime}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Status != Unchanged {
			t.Errorf("%s/%s %s, want unchanged", r.Node, r.Kind, r.Status)
		}
	}
	inos, links := packInodes(t, f.builder.Dir, nodes...)
	if len(links) != 1 || links[inos["n1"]] != 3 {
		t.Errorf("after the build: inodes %v, link counts %v; want one batch linked 3 times", inos, links)
	}
	for _, n := range nodes {
		if diff := cmp.Diff(want[n], nodePackBytes(t, packPath(f.builder.Dir, n))); diff != "" {
			t.Errorf("%s's pack changed when gathered (-before +after):\n%s", n, diff)
		}
	}
	noTemporaryFiles(t, f.builder.Dir)
}

// A node's pack in a batch whose sections reach past its own end (into
// the next node's pack, which may hold that node's secrets) reads as no
// pack at all.
func TestBatchPackStaysInItsSection(t *testing.T) {
	pack := func(sectionLen int64) string {
		idx := packIndex{System: &manifest{Own: "x", Sections: map[string]section{"own.img": {Off: 0, Len: sectionLen}}}}
		return string(encodePack(idx, []byte("abcd")))
	}
	for _, tc := range []struct {
		name string
		n1   string
		want bool
	}{
		{"within its pack", pack(4), true},
		{"into the next node's", pack(6), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "n1.pack")
			if err := os.WriteFile(path, batchBytes([2]string{"n1", tc.n1}, [2]string{"n2", "secret of n2"}), 0o600); err != nil {
				t.Fatal(err)
			}
			if got := readPack(nil, path, "", "") != nil; got != tc.want {
				t.Errorf("read a pack: %v, want %v", got, tc.want)
			}
		})
	}
}

// A build of many nodes lists the directory once instead of looking each
// node's pack up (listFrom): the listing must still show it the packs
// there, a pack removed, and a node still in the layout before.
func TestLargeBuildListsItsDirectory(t *testing.T) {
	f := newBuildFixture(t)
	var nodes strings.Builder
	nodes.WriteString("nodeprofiles:\n  default:\n    system overlay: [t]\n    runtime overlay: [r]\nnodes:\n")
	names := make([]string, listFrom+6)
	for i := range names {
		names[i] = fmt.Sprintf("n%d", i+1)
		fmt.Fprintf(&nodes, "  %s: {profiles: [default], network devices: {default: {ipaddr: 10.0.%d.%d}}}\n", names[i], i/200, i%200+1)
	}
	f.nodes = nodes.String()
	count := func(b *Builder) map[Status]int {
		t.Helper()
		res, err := b.Build(context.Background(), f.snapshot(t), nil, []ImageKind{System, Runtime}, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[Status]int{}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("%s %s: %v", r.Node, r.Kind, r.Err)
			}
			out[r.Status]++
		}
		return out
	}
	if got := count(f.builder); got[Built] != 2*len(names) {
		t.Fatalf("first build: %v", got)
	}
	// A new Builder, as a new process: nothing cached, the packs found
	// through the listing.
	if got := count(&Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true}); got[Unchanged] != 2*len(names) {
		t.Errorf("rebuild: %v, want all %d unchanged", got, 2*len(names))
	}
	if err := os.Remove(packPath(f.builder.Dir, "n7")); err != nil {
		t.Fatal(err)
	}
	toLayoutBefore(t, f.builder.Dir, "n5")
	b := &Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true}
	res, err := b.Build(context.Background(), f.snapshot(t), nil, []ImageKind{System, Runtime}, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		want := Unchanged
		if r.Node == "n7" {
			want = Built
		}
		if r.Status != want || r.Err != nil {
			t.Errorf("%s %s: %v %v, want %v", r.Node, r.Kind, r.Status, r.Err, want)
		}
	}
	// n5 was checked against its images in the layout before (found
	// through its directory in the listing) and written into a pack.
	if idx := readPack(nil, packPath(b.Dir, "n5"), "", ""); len(idx) != 2 {
		t.Errorf("n5's pack holds %d images, want 2", len(idx))
	}
	// Its directory of the layout before went once it had its pack.
	if _, err := os.Stat(filepath.Join(b.Dir, "n5")); !os.IsNotExist(err) {
		t.Errorf("n5's directory of the layout before is still there: %v", err)
	}
}

// Packs are written into the batch as they are made, in whatever order
// the workers finish them; the batch is still the same bytes as when
// they come in order, each pack where its index puts it, and a node
// left as it was (no pack) takes no place but its room in the table.
func TestBatchWriterOrdersPacks(t *testing.T) {
	names := []string{"n1", "n2", "n3", "n4", "n5", "n6"}
	packs := func() []*nodePack {
		out := make([]*nodePack, len(names))
		for i, n := range names {
			if n == "n3" {
				continue // left as it was
			}
			data := []byte(strings.Repeat(n, i+1))
			out[i] = &nodePack{node: n, parts: [][]byte{[]byte("head:"), data}, size: int64(5 + len(data)), idx: packIndex{}}
		}
		return out
	}
	write := func(order []int) []byte {
		t.Helper()
		b := &Builder{Dir: t.TempDir(), NoSync: true}
		s := &buildState{b: b}
		w, err := s.newBatch(names)
		if err != nil {
			t.Fatal(err)
		}
		ps := packs()
		var wg sync.WaitGroup
		for _, i := range order {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.put(i, ps[i])
			}()
			// Let it come before the next one, mostly.
			time.Sleep(time.Millisecond)
		}
		wg.Wait()
		w.finish(context.Background())
		noTemporaryFiles(t, b.Dir)
		for _, p := range ps {
			if p != nil && (p.err != nil || p.parts != nil) {
				t.Fatalf("%s: written %v, parts kept %v", p.node, p.err, p.parts != nil)
			}
		}
		data, err := os.ReadFile(packPath(b.Dir, "n1"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if _, err := os.Stat(packPath(b.Dir, n)); (err == nil) != (n != "n3") {
				t.Errorf("%s's pack name: %v", n, err)
			}
		}
		return data
	}
	inOrder := write([]int{0, 1, 2, 3, 4, 5})
	if diff := cmp.Diff(inOrder, write([]int{5, 3, 4, 0, 2, 1})); diff != "" {
		t.Errorf("packs put out of order make another batch (-in order +not):\n%s", diff)
	}
	table, err := readBatchTable(bytes.NewReader(inOrder), int64(len(inOrder)))
	if err != nil {
		t.Fatal(err)
	}
	off := batchHeadSize(names)
	for i, n := range names {
		if n == "n3" {
			if _, ok := table[n]; ok {
				t.Errorf("the table lists n3, which had no pack")
			}
			continue
		}
		want := "head:" + strings.Repeat(n, i+1)
		if got := table[n]; got.Off != off || string(inOrder[got.Off:got.Off+got.Len]) != want {
			t.Errorf("%s: at %+v, want offset %d and %q", n, got, off, want)
		}
		off += int64(len(want))
	}
	if off != int64(len(inOrder)) {
		t.Errorf("batch of %d bytes, packs end at %d", len(inOrder), off)
	}
}

// The same build makes the same batch, byte for byte, however its
// workers share the nodes out.
func TestSameBuildSameBatch(t *testing.T) {
	f := newBuildFixture(t)
	var nodes strings.Builder
	nodes.WriteString("nodeprofiles:\n  default:\n    system overlay: [t]\n    runtime overlay: [r]\nnodes:\n")
	for i := range 40 {
		fmt.Fprintf(&nodes, "  n%d: {profiles: [default], network devices: {default: {ipaddr: 10.0.0.%d}}}\n", i+1, i+1)
	}
	f.nodes = nodes.String()
	batch := func(workers int) []byte {
		t.Helper()
		b := &Builder{Dir: filepath.Join(t.TempDir(), "overlays"), Workers: workers, NoSync: true}
		if _, err := b.Build(context.Background(), f.snapshot(t), nil, []ImageKind{System, Runtime}, false, nil); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(packPath(b.Dir, "n1"))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	one := batch(1)
	for _, workers := range []int{2, 8} {
		if !bytes.Equal(one, batch(workers)) {
			t.Errorf("a build with %d workers wrote another batch than with one", workers)
		}
	}
}
