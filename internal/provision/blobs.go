package provision

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/overlay"
)

// Bounds of the overlay archives kept in memory, when Options leave them
// unset. A node's own archive is typically a few kB and the shared one,
// which every node of a group gets, tens of kB: 10,000 nodes' images fit
// many times over.
const (
	defaultBlobBytes = 32 << 20
	defaultBlobMax   = 1 << 20
)

// blobOverhead is what an entry costs besides its bytes and path (map
// slot, entry), counted so that many small archives keep to the bound.
const blobOverhead = 128

// blobCache keeps the bytes of small overlay archives in memory so that
// an answer is written from memory instead of opening, stating and
// sending files. An entry is used only for the file the artifact was
// checked against (same path, size, modification time and inode): a
// rebuild writes new files (archives are content-addressed, replaced by
// rename) and the next check of the artifact names them, so the cache
// never outlives what the artifact check decides. Secret archives are
// never kept. It holds at most max bytes; when full, arbitrary entries
// make room.
type blobCache struct {
	max     int64 // bytes held at most, counting per-entry overhead
	maxBlob int64 // largest archive kept

	// entries are read without a lock; mu serializes changes to them and
	// to size.
	entries sync.Map // path -> *blob
	mu      sync.Mutex
	size    int64
}

// blob is an archive's content and the identity of the file read.
type blob struct {
	data  []byte
	mod   time.Time
	inode uint64
	// lastModified is mod as Last-Modified gives it.
	lastModified string
}

func newBlobCache(max, maxBlob int64) *blobCache {
	if max <= 0 || maxBlob <= 0 {
		return nil
	}
	return &blobCache{max: max, maxBlob: min(maxBlob, max)}
}

func blobCost(path string, data []byte) int64 {
	return int64(len(path)+len(data)) + blobOverhead
}

// cacheable reports whether p may be kept.
func (c *blobCache) cacheable(p overlay.Part) bool {
	return c != nil && !p.Secret && p.Size <= c.maxBlob && p.Inode != 0
}

// get returns p's bytes if they are held for the file p was checked
// against.
func (c *blobCache) get(p overlay.Part) (*blob, bool) {
	if !c.cacheable(p) {
		return nil, false
	}
	v, ok := c.entries.Load(p.Path)
	if !ok {
		return nil, false
	}
	b := v.(*blob)
	if int64(len(b.data)) != p.Size || b.inode != p.Inode || !b.mod.Equal(p.ModTime) {
		return nil, false
	}
	return b, true
}

// put keeps b as p's bytes, evicting others as needed.
func (c *blobCache) put(p overlay.Part, b *blob) {
	if !c.cacheable(p) {
		return
	}
	cost := blobCost(p.Path, b.data)
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries.LoadAndDelete(p.Path); ok {
		c.size -= blobCost(p.Path, old.(*blob).data)
	}
	if c.size+cost > c.max {
		c.entries.Range(func(k, v any) bool {
			c.entries.Delete(k)
			c.size -= blobCost(k.(string), v.(*blob).data)
			return c.size+cost > c.max
		})
	}
	c.entries.Store(p.Path, b)
	c.size += cost
}

// open returns the parts as one stream: each from memory when held, else
// from its file, which it reads into memory when it may be kept and is
// still the file checked. Parts too big or secret stay open files, sent
// by sendfile(2). A nil cache opens every part.
func (c *blobCache) open(parts []overlay.Part) (*partsReader, error) {
	pr := &partsReader{}
	pr.segs = pr.seg[:0]
	for _, p := range parts {
		if b, ok := c.get(p); ok {
			pr.add(segment{data: b.data, size: int64(len(b.data))}, b.mod, b.lastModified)
			continue
		}
		sg, mod, err := c.load(p)
		if err != nil {
			pr.Close()
			return nil, err
		}
		pr.add(sg, mod, "")
	}
	return pr, nil
}

// load opens p and, when it may be kept, reads it and closes it again.
func (c *blobCache) load(p overlay.Part) (segment, time.Time, error) {
	f, err := os.Open(p.Path)
	if err != nil {
		return segment{}, time.Time{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return segment{}, time.Time{}, err
	}
	size := st.Size()
	if !c.cacheable(p) || size > c.maxBlob || !st.Mode().IsRegular() {
		return segment{f: f, size: size}, st.ModTime(), nil
	}
	defer f.Close()
	data := make([]byte, size)
	if _, err := io.ReadFull(f, data); err != nil {
		return segment{}, time.Time{}, fmt.Errorf("read %s: %w", p.Path, err)
	}
	b := &blob{data: data, mod: st.ModTime(), lastModified: st.ModTime().UTC().Format(http.TimeFormat)}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		b.inode = sys.Ino
	}
	// Replaced since the check (a rebuild between the check and now):
	// sent, as the file would be, but not kept for the next request,
	// which names the file the check found.
	if size == p.Size && b.inode == p.Inode && b.mod.Equal(p.ModTime) {
		c.put(p, b)
	}
	return segment{data: data, size: size}, b.mod, nil
}
