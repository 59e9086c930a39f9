package overlay

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"
)

// A build waits for the node it writes, not for builds of other nodes:
// while n1's pack is locked (another process writing it), a build of n2
// finishes, and the build of n1 writes once the lock is released.
func TestBuildLocksOnlyTheNodeItWrites(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	f.write(t, "t/rootfs/etc/hostname.ww", "{{.Id}} again\n")
	other := &nodeLockSet{b: &Builder{Dir: f.builder.Dir}} // another process's build
	defer other.close()
	unlock, err := other.lockAll(context.Background(), []string{"n1"})
	if err != nil {
		t.Fatal(err)
	}
	snap := f.snapshot(t)
	n1 := make(chan []Result, 1)
	go func() {
		res, _ := (&Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true}).Build(context.Background(), snap, []string{"n1"}, []ImageKind{System}, false, nil)
		n1 <- res
	}()
	done := make(chan []Result, 1)
	go func() {
		res, _ := (&Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true}).Build(context.Background(), snap, []string{"n2"}, []ImageKind{System}, false, nil)
		done <- res
	}()
	select {
	case res := <-done:
		if len(res) != 1 || res[0].Status != Built {
			t.Errorf("n2: %+v", res)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the build of n2 waited for n1's lock")
	}
	select {
	case res := <-n1:
		t.Fatalf("n1 built while its pack was locked: %+v", res)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if res := <-n1; len(res) != 1 || res[0].Status != Built {
		t.Errorf("n1 after the lock: %+v", res)
	}
	a, err := f.builder.Artifact(context.Background(), snap, "n1", System, Formats[0], false)
	if err != nil {
		t.Fatal(err)
	}
	if got := unpack(t, a)["etc/hostname"]; got != "n1 again\n" {
		t.Errorf("n1 hostname %q", got)
	}
}

// The workers of one build share its lock files, and flock(2) does not
// keep apart holders of one open file: two nodes of one lock file are
// still written one at a time, and the lock is the other builds' too.
func TestNodeLockSetExcludes(t *testing.T) {
	dir := t.TempDir()
	set := &nodeLockSet{b: &Builder{Dir: dir}}
	defer set.close()
	// Two names of one lock file.
	a, b := "n1", ""
	for i := 2; b == ""; i++ {
		if n := fmt.Sprintf("n%d", i); nodeLockSlot(n) == nodeLockSlot(a) {
			b = n
		}
	}
	ctx := context.Background()
	unlock, err := set.lockAll(ctx, []string{a})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan func(), 1)
	go func() {
		u, err := set.lockAll(ctx, []string{b})
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatalf("%s locked while %s, of the same lock file, was held by the same build", b, a)
	case <-time.After(100 * time.Millisecond):
	}
	other := &nodeLockSet{b: &Builder{Dir: dir}}
	defer other.close()
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if u, err := other.lockAll(short, []string{a}); err == nil {
		u()
		t.Fatalf("another build locked %s while this one held it", a)
	}
	unlock()
	select {
	case u := <-got:
		u()
	case <-time.After(20 * time.Second):
		t.Fatalf("%s not locked after %s was released", b, a)
	}
	u, err := other.lockAll(ctx, []string{a})
	if err != nil {
		t.Fatalf("another build, after this one released %s: %v", a, err)
	}
	u()
}

// What the builder wrote in a node's directory before packs held both
// images (an archive per form, manifests and links, or a pack per kind)
// is removed when the node's pack is first written, and the directory
// with it when nothing else is in it; other files stay.
func TestBuildRemovesTheFormatsBeforePacks(t *testing.T) {
	ours := []string{"__SYSTEM__.json", "__SYSTEM__.0123456789abcdef.img", "__SYSTEM__.0123456789abcdef.img.gz",
		"__SYSTEM__.secret.0123456789abcdef.img.zst", "__RUNTIME__.json", "__SYSTEM__.pack", "__RUNTIME__.pack",
		".__SYSTEM__.pack.tmp-123"}
	for _, tc := range []struct {
		name   string
		others []string
		want   []string // what n1's directory holds after; nil: gone
	}{
		{name: "only ours", want: nil},
		{name: "an administrator's file", others: []string{"notes"}, want: []string{"notes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newBuildFixture(t)
			dir := filepath.Join(f.builder.Dir, "n1")
			for _, n := range append(slices.Clone(ours), tc.others...) {
				sitetest.Write(t, filepath.Join(dir, n), "old")
			}
			if err := os.Symlink("__SYSTEM__.0123456789abcdef.img.gz", filepath.Join(dir, "__SYSTEM__.img.gz")); err != nil {
				t.Fatal(err)
			}
			f.build(t)
			entries, err := os.ReadDir(dir)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				t.Fatal(err)
			}
			var got []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("n1's directory holds (-want +got):\n%s", diff)
			}
			if idx := readPack(nil, packPath(f.builder.Dir, "n1"), "", ""); len(idx) != 2 {
				t.Errorf("n1's pack holds %d images, want 2", len(idx))
			}
		})
	}
}

// A node's two images share its pack: a build of one kind keeps the
// other as it was, also when two builds, one per kind, write the node
// at the same time (each holds the node's lock while it reads and
// replaces the pack).
func TestOneKindBuiltKeepsTheOther(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	snap := f.snapshot(t)
	before, err := f.builder.Artifact(context.Background(), snap, "n1", System, Formats[0], false)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		f.write(t, "r/rootfs/etc/motd.ww", fmt.Sprintf("welcome %d to {{.Id}}\n", i))
		f.write(t, "t/rootfs/etc/hostname.ww", fmt.Sprintf("{{.Id}} %d\n", i))
		snap := f.snapshot(t)
		var wg sync.WaitGroup
		for _, k := range []ImageKind{Runtime, System} {
			wg.Go(func() {
				b := &Builder{Dir: f.builder.Dir, Workers: 1, NoSync: true}
				res, err := b.Build(context.Background(), snap, []string{"n1"}, []ImageKind{k}, false, nil)
				if err != nil || len(res) != 1 || res[0].Status != Built {
					t.Errorf("round %d, %s: %+v, %v", i, k, res, err)
				}
			})
		}
		wg.Wait()
		for _, c := range []struct {
			kind       ImageKind
			path, want string
		}{
			{Runtime, "etc/motd", fmt.Sprintf("welcome %d to n1\n", i)},
			{System, "etc/hostname", fmt.Sprintf("n1 %d\n", i)},
		} {
			a, err := f.builder.Artifact(context.Background(), snap, "n1", c.kind, Formats[0], false)
			if err != nil {
				t.Fatal(err)
			}
			if got := unpack(t, a)[c.path]; got != c.want {
				t.Errorf("round %d: %s %s is %q, want %q", i, c.kind, c.path, got, c.want)
			}
		}
	}
	// Only the runtime image changes: the system image stays byte for
	// byte (same ETag), and is served from the new pack.
	f.write(t, "r/rootfs/etc/motd.ww", "last\n")
	snap = f.snapshot(t)
	sys, err := f.builder.Artifact(context.Background(), snap, "n1", System, Formats[0], false)
	if err != nil {
		t.Fatal(err)
	}
	// Read now: a part is read from the pack by offset, and the build
	// replaces the pack.
	sysFiles := unpack(t, sys)
	if _, err := f.builder.Build(context.Background(), snap, []string{"n1"}, []ImageKind{Runtime}, false, nil); err != nil {
		t.Fatal(err)
	}
	after, err := f.builder.Artifact(context.Background(), snap, "n1", System, Formats[0], false)
	if err != nil {
		t.Fatal(err)
	}
	if after.ETag != sys.ETag || after.SHA256 != sys.SHA256 || after.ETag == before.ETag {
		t.Errorf("system image ETag %s → %s (first build %s), sha256 %s → %s", sys.ETag, after.ETag, before.ETag, sys.SHA256, after.SHA256)
	}
	if diff := cmp.Diff(sysFiles, unpack(t, after)); diff != "" {
		t.Errorf("system image after a runtime build (-before +after):\n%s", diff)
	}
	if got := unpack(t, mustArtifact(t, f, snap, Runtime))["etc/motd"]; got != "last\n" {
		t.Errorf("runtime motd %q", got)
	}
}

func mustArtifact(t *testing.T, f *buildFixture, snap *Snapshot, k ImageKind) *Artifact {
	t.Helper()
	a, err := f.builder.Artifact(context.Background(), snap, "n1", k, Formats[0], false)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// toLayoutBefore rewrites node's pack as the layout before packs held
// both images wrote it: NODE/__SYSTEM__.pack and NODE/__RUNTIME__.pack,
// each a packMagic1 header, the image's manifest and its sections.
func toLayoutBefore(t *testing.T, dir, node string) {
	t.Helper()
	path := packPath(dir, node)
	for k, m := range readPack(nil, path, "", "") {
		c, data, err := imageBytes(m)
		if err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		out := binary.BigEndian.AppendUint32([]byte(packMagic1), uint32(len(js)))
		out = append(append(out, js...), data...)
		sitetest.Write(t, legacyPackPath(dir, node, k), string(out))
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// A node whose images are still in the layout before (a pack per kind in
// a directory of its own) is served from them, their shared archive is
// kept, and its next build, of one kind only, writes the node's pack with
// both images and removes the directory.
func TestLayoutBeforeServedThenReplaced(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	for _, n := range []string{"n1", "n2", "n3"} {
		toLayoutBefore(t, f.builder.Dir, n)
	}
	// Without the groups' records, only the packs keep a shared archive.
	groups, _ := filepath.Glob(filepath.Join(f.builder.Dir, sharedDir, "*.json"))
	for _, g := range groups {
		if err := os.Remove(g); err != nil {
			t.Fatal(err)
		}
	}
	b := &Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true} // a new process: nothing cached
	if err := b.collectShared(); err != nil {
		t.Fatal(err)
	}
	snap := f.snapshot(t)
	want := map[ImageKind]map[string]string{}
	for _, k := range []ImageKind{System, Runtime} {
		for _, form := range Formats {
			a, err := b.Artifact(context.Background(), snap, "n1", k, form, false)
			if err != nil {
				t.Fatalf("%s %s in the layout before: %v", k, form, err)
			}
			got := unpack(t, a)
			if want[k] == nil {
				want[k] = got
			} else if diff := cmp.Diff(want[k], got); diff != "" {
				t.Errorf("%s as %s (-as none +got):\n%s", k, form, diff)
			}
		}
	}
	if got := want[System]["etc/hostname"]; got != "n1\n" {
		t.Errorf("system hostname %q", got)
	}
	if got := want[Runtime]["etc/motd"]; got != "welcome to n1\n" {
		t.Errorf("runtime motd %q", got)
	}
	if _, err := b.Build(context.Background(), snap, []string{"n1"}, []ImageKind{System}, false, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.Dir, "n1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("n1's directory after its build: %v", err)
	}
	if idx := readPack(nil, packPath(b.Dir, "n1"), "", ""); len(idx) != 2 {
		t.Fatalf("n1's pack holds %d images, want 2", len(idx))
	}
	for _, k := range []ImageKind{System, Runtime} {
		a, err := b.Artifact(context.Background(), snap, "n1", k, compress.Gzip, false)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[k], unpack(t, a)); diff != "" {
			t.Errorf("%s after the build (-before +after):\n%s", k, diff)
		}
	}
}

// The daemon keeps the manifests of the images it serves only: serving a
// node's system image reads the system manifest out of the node's pack,
// not the runtime one (a 10,000-node daemon would hold twice the
// manifests otherwise).
func TestServingKeepsTheKindAsked(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	b := &Builder{Dir: f.builder.Dir, Workers: 1, NoSync: true}
	if _, err := b.Artifact(context.Background(), f.snapshot(t), "n1", System, compress.None, true); err != nil {
		t.Fatal(err)
	}
	var kept []string
	b.manifests.Range(func(k, _ any) bool {
		kept = append(kept, strings.TrimPrefix(k.(string), b.Dir))
		return true
	})
	if diff := cmp.Diff([]string{"/n1.pack\x00system"}, kept); diff != "" {
		t.Errorf("manifests kept (-want +got):\n%s", diff)
	}
	if idx := readPack(nil, packPath(b.Dir, "n1"), "", Runtime); len(idx) != 1 || idx[Runtime] == nil {
		t.Errorf("readPack of the runtime image alone: %v", idx)
	}
}

// TestCollectSharedRemovesOnlyUnused checks that collecting shared
// archives removes one that neither a group nor a node's pack refers
// to, keeps the others, and keeps one that only a node's pack refers to
// (its group having moved on to another archive).
func TestCollectSharedRemovesOnlyUnused(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	sd := filepath.Join(f.builder.Dir, sharedDir)
	stray := filepath.Join(sd, strings.Repeat("ab", 32)+".img")
	sitetest.Write(t, stray, "no one's")
	list := func() []string {
		t.Helper()
		var names []string
		entries, err := os.ReadDir(sd)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	before := list()
	// A group record naming another archive: its nodes' packs still
	// name the one they use.
	groups, _ := filepath.Glob(filepath.Join(sd, "*.json"))
	if len(groups) == 0 {
		t.Fatal("no group records after a build")
	}
	for _, g := range groups {
		sitetest.Write(t, g, `{"archive":"`+strings.Repeat("cd", 32)+`","entries":{}}`)
	}
	b := &Builder{Dir: f.builder.Dir, Workers: 2, NoSync: true} // a new process: nothing cached
	if err := b.collectShared(); err != nil {
		t.Fatal(err)
	}
	want := slices.DeleteFunc(slices.Clone(before), func(n string) bool { return n == filepath.Base(stray) })
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("shared directory after collecting (-want +got):\n%s", diff)
	}
}
