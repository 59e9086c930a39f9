package overlay

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"
)

// A build waits for the node it writes, not for builds of other nodes:
// while n1's directory is locked (another process writing it), a build
// of n2 finishes, and the build of n1 writes once the lock is released.
func TestBuildLocksOnlyTheNodeItWrites(t *testing.T) {
	f := newBuildFixture(t)
	f.build(t)
	f.write(t, "t/rootfs/etc/hostname.ww", "{{.Id}} again\n")
	unlock, err := lockDir(context.Background(), filepath.Join(f.builder.Dir, "n1"))
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
		t.Fatalf("n1 built while its directory was locked: %+v", res)
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

// The archives, manifest and link the builder wrote before packs are
// removed when a node's pack is first written; other files stay.
func TestBuildRemovesTheFormatBeforePacks(t *testing.T) {
	f := newBuildFixture(t)
	dir := filepath.Join(f.builder.Dir, "n1")
	old := []string{"__SYSTEM__.json", "__SYSTEM__.0123456789abcdef.img", "__SYSTEM__.0123456789abcdef.img.gz",
		"__SYSTEM__.secret.0123456789abcdef.img.zst", "__RUNTIME__.json"}
	for _, n := range old {
		sitetest.Write(t, filepath.Join(dir, n), "old")
	}
	if err := os.Symlink("__SYSTEM__.0123456789abcdef.img.gz", filepath.Join(dir, "__SYSTEM__.img.gz")); err != nil {
		t.Fatal(err)
	}
	sitetest.Write(t, filepath.Join(dir, "notes"), "an administrator's")
	f.build(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff([]string{"__RUNTIME__.pack", "__SYSTEM__.pack", "notes"}, got); diff != "" {
		t.Errorf("n1 holds (-want +got):\n%s", diff)
	}
}
