package overlay

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/compress"
)

func TestBlobCacheKeepsToItsBound(t *testing.T) {
	mod := time.Unix(1_700_000_000, 0)
	part := func(i int, size int64) Part {
		return Part{Path: fmt.Sprintf("/o/n%04d/__SYSTEM__.pack", i), Size: size, FileSize: size, ModTime: mod, Inode: uint64(i + 1)}
	}
	blobOf := func(p Part) *blob {
		return &blob{data: bytes.Repeat([]byte{'x'}, int(p.Size)), fileSize: p.FileSize, mod: p.ModTime, inode: p.Inode}
	}
	tests := []struct {
		name        string
		parts       []Part
		wantEntries int
	}{
		{name: "all fit", parts: []Part{part(0, 100), part(1, 100)}, wantEntries: 2},
		{name: "others make room", parts: func() []Part {
			var ps []Part
			for i := range 100 {
				ps = append(ps, part(i, 1000))
			}
			return ps
		}(), wantEntries: 8}, // 8 × (1000 + key + overhead) ≤ 10,000
		{name: "too big to keep", parts: []Part{part(0, 2001)}, wantEntries: 0},
		{name: "secret", parts: []Part{{Path: "/o/n1/__SYSTEM__.pack", Size: 10, ModTime: mod, Inode: 9, Secret: true}}, wantEntries: 0},
		{name: "no identity", parts: []Part{{Path: "/o/n1/x", Size: 10}}, wantEntries: 0},
		{name: "same part again", parts: []Part{part(0, 100), part(0, 200)}, wantEntries: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newBlobCache(10_000, 2000)
			for _, p := range tt.parts {
				c.put(p, blobOf(p))
				if _, size := c.stats(); size > c.max {
					t.Fatalf("holds %d bytes, more than its bound of %d", size, c.max)
				}
			}
			entries, size := c.stats()
			var want int64
			c.entries.Range(func(k, v any) bool { want += blobCost(k.(string), v.(*blob).data); return true })
			if entries != tt.wantEntries || size != want {
				t.Errorf("%d entries of %d bytes, want %d entries of %d", entries, size, tt.wantEntries, want)
			}
			// The last put is the one found.
			last := tt.parts[len(tt.parts)-1]
			if _, ok := c.get(last); ok != (tt.wantEntries > 0) {
				t.Errorf("get(%s) found = %v", last.Path, ok)
			}
		})
	}
}

// An entry serves only the file the artifact was checked against.
func TestBlobCacheChecksIdentity(t *testing.T) {
	mod := time.Unix(1_700_000_000, 0)
	p := Part{Path: "/o/n1/__SYSTEM__.pack", Offset: 100, Size: 3, FileSize: 200, ModTime: mod, Inode: 7}
	c := newBlobCache(1<<20, 1<<10)
	c.put(p, &blob{data: []byte("abc"), fileSize: 200, mod: mod, inode: 7})
	tests := []struct {
		name   string
		change func(*Part)
		found  bool
	}{
		{name: "same file", change: func(*Part) {}, found: true},
		{name: "other size", change: func(p *Part) { p.Size = 4 }},
		{name: "other file size", change: func(p *Part) { p.FileSize = 201 }},
		{name: "other time", change: func(p *Part) { p.ModTime = mod.Add(time.Nanosecond) }},
		{name: "other inode", change: func(p *Part) { p.Inode = 8 }},
		{name: "other path", change: func(p *Part) { p.Path += ".gz" }},
		{name: "other offset", change: func(p *Part) { p.Offset = 103 }},
		{name: "secret", change: func(p *Part) { p.Secret = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := p
			tt.change(&q)
			if _, ok := c.get(q); ok != tt.found {
				t.Errorf("found = %v, want %v", ok, tt.found)
			}
		})
	}
}

// A body of parts, some held in memory and some sections of files,
// reads, seeks and sends as their concatenation.
func TestBody(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pack")
	if err := os.WriteFile(file, []byte("..hello ..wide ...."), 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	ino := st.Sys().(*syscall.Stat_t).Ino
	at := func(off, size int64) Part {
		return Part{Path: file, Offset: off, Size: size, FileSize: st.Size(), ModTime: st.ModTime(), Inode: ino, Secret: true}
	}
	all := "hello wide world"
	for _, tc := range []struct {
		name  string
		cache *blobCache
	}{{"from files", nil}, {"held in memory", newBlobCache(1<<20, 1<<10)}} {
		t.Run(tc.name, func(t *testing.T) {
			other := filepath.Join(dir, "world")
			if err := os.WriteFile(other, []byte("world"), 0o600); err != nil {
				t.Fatal(err)
			}
			ost, err := os.Stat(other)
			if err != nil {
				t.Fatal(err)
			}
			parts := []Part{at(2, 6), at(8, 0), at(10, 5),
				{Path: other, Size: 5, FileSize: 5, ModTime: ost.ModTime(), Inode: ost.Sys().(*syscall.Stat_t).Ino}}
			if tc.cache != nil {
				for i := range parts {
					parts[i].Secret = false
				}
			}
			b, err := tc.cache.open(parts)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			for _, off := range []int64{0, 3, 6, 11, 15, 16} {
				if _, err := b.Seek(off, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				var buf bytes.Buffer
				if _, err := buf.ReadFrom(b); err != nil {
					t.Fatal(err)
				}
				if buf.String() != all[off:] {
					t.Errorf("from %d: %q, want %q", off, buf.String(), all[off:])
				}
			}
			var sent bytes.Buffer
			if err := b.Send(&sent); err != nil || sent.String() != all {
				t.Errorf("Send: %q, %v; want %q", sent.String(), err, all)
			}
			if b.Size() != int64(len(all)) {
				t.Errorf("size %d, want %d", b.Size(), len(all))
			}
		})
	}
}

// Secret archives are never held in memory, and an image opened without
// its secrets never has them, whichever is asked first.
func TestArchivesHoldNoSecret(t *testing.T) {
	f := newBuildFixture(t)
	const secret = "password-of-"
	f.write(t, "t/rootfs/etc/ipmi.ww", secret+"{{.Id}}\n")
	if err := os.Chmod(filepath.Join(f.cfg.Paths.Wwoverlaydir, "t/rootfs/etc/ipmi.ww"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.build(t)
	snap := f.snapshot(t)
	a := NewArchives(f.builder, ServeOptions{})
	for _, secrets := range []bool{true, false, true, false} {
		b, err := a.Open(context.Background(), Request{Snap: snap, Node: "n1", Kind: System, Format: compress.None, Secrets: secrets})
		if err != nil {
			t.Fatal(err)
		}
		var body bytes.Buffer
		if err := b.Send(&body); err != nil {
			t.Fatal(err)
		}
		b.Close()
		if got := strings.Contains(body.String(), secret); got != secrets || b.Withheld == secrets {
			t.Errorf("asked with secrets %v: secret sent %v, withheld %v", secrets, got, b.Withheld)
		}
	}
	if n, _ := a.MemoryStats(); n == 0 {
		t.Error("nothing held in memory")
	}
	a.blobs.entries.Range(func(k, v any) bool {
		if strings.Contains(string(v.(*blob).data), secret) {
			t.Errorf("%s held in memory holds a secret", k)
		}
		return true
	})
}
