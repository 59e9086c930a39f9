package overlay

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Bounds of the overlay archives kept in memory, when ServeOptions
// leave them unset. A node's own archive is typically a few kB and the
// shared one, which every node of a group gets, tens of kB: 10,000
// nodes' images fit many times over.
const (
	defaultBlobBytes = 32 << 20
	defaultBlobMax   = 1 << 20
)

// blobOverhead is what an entry costs besides its bytes and key (map
// slot, entry), counted so that many small archives keep to the bound.
const blobOverhead = 128

// blobCache keeps the bytes of small overlay archives in memory so that
// an answer is written from memory instead of opening, stating and
// sending files. An entry is used only for the file the artifact was
// checked against (same path, size, modification time and inode): a
// rebuild writes new files (a pack's name is linked to a new batch, a
// shared archive is replaced by rename) and the next check of the
// artifact names them, so the cache never outlives what the artifact
// check decides. Secret archives are never kept. It holds at most max
// bytes; when full, arbitrary entries make room.
type blobCache struct {
	max     int64 // bytes held at most, counting per-entry overhead
	maxBlob int64 // largest archive kept

	// entries are read without a lock; mu serializes changes to them and
	// to size.
	entries sync.Map // blobKey -> *blob
	mu      sync.Mutex
	size    int64
}

// blob is an archive's content and the identity of the file read.
type blob struct {
	data     []byte
	fileSize int64
	mod      time.Time
	inode    uint64
	// lastModified is mod as Last-Modified gives it.
	lastModified string
}

func newBlobCache(max, maxBlob int64) *blobCache {
	if max <= 0 || maxBlob <= 0 {
		return nil
	}
	return &blobCache{max: max, maxBlob: min(maxBlob, max)}
}

// blobKey names part p's bytes: its file and where they are in it.
func blobKey(p Part) string { return p.Path + "@" + strconv.FormatInt(p.Offset, 10) }

func blobCost(key string, data []byte) int64 {
	return int64(len(key)+len(data)) + blobOverhead
}

// cacheable reports whether p may be kept.
func (c *blobCache) cacheable(p Part) bool {
	return c != nil && !p.Secret && p.Size <= c.maxBlob && p.Inode != 0
}

// get returns p's bytes if they are held for the file p was checked
// against.
func (c *blobCache) get(p Part) (*blob, bool) {
	if !c.cacheable(p) {
		return nil, false
	}
	v, ok := c.entries.Load(blobKey(p))
	if !ok {
		return nil, false
	}
	b := v.(*blob)
	if int64(len(b.data)) != p.Size || b.fileSize != p.FileSize || b.inode != p.Inode || !b.mod.Equal(p.ModTime) {
		return nil, false
	}
	return b, true
}

// put keeps b as p's bytes, evicting others as needed.
func (c *blobCache) put(p Part, b *blob) {
	if !c.cacheable(p) {
		return
	}
	key := blobKey(p)
	cost := blobCost(key, b.data)
	if cost > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries.LoadAndDelete(key); ok {
		c.size -= blobCost(key, old.(*blob).data)
	}
	if c.size+cost > c.max {
		c.entries.Range(func(k, v any) bool {
			c.entries.Delete(k)
			c.size -= blobCost(k.(string), v.(*blob).data)
			return c.size+cost > c.max
		})
	}
	c.entries.Store(key, b)
	c.size += cost
}

// stats returns the entries and bytes held.
func (c *blobCache) stats() (entries int, size int64) {
	if c == nil {
		return 0, 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries.Range(func(any, any) bool { entries++; return true })
	return entries, c.size
}

// open returns the parts as one body: each from memory when held, else
// from its file, which it reads into memory when it may be kept and is
// still the file checked. Parts too big or secret stay sections of open
// files, sent by sendfile(2). A nil cache opens every part.
func (c *blobCache) open(parts []Part) (*Body, error) {
	body := &Body{}
	body.segs = body.seg[:0]
	for _, p := range parts {
		if p.Data != nil {
			body.add(segment{data: p.Data, size: int64(len(p.Data))}, p.ModTime, "")
			continue
		}
		if b, ok := c.get(p); ok {
			body.add(segment{data: b.data, size: int64(len(b.data))}, b.mod, b.lastModified)
			continue
		}
		sg, mod, err := c.load(body, p)
		if err != nil {
			body.Close()
			return nil, err
		}
		body.add(sg, mod, "")
	}
	return body, nil
}

// load opens p (or finds its file open in body already) and, when it
// may be kept, reads it into memory.
func (c *blobCache) load(body *Body, p Part) (segment, time.Time, error) {
	var f *os.File
	for _, sg := range body.segs {
		if sg.f != nil && sg.f.Name() == p.Path {
			f = sg.f
		}
	}
	if f == nil {
		var err error
		if f, err = os.Open(p.Path); err != nil {
			return segment{}, time.Time{}, err
		}
		body.files = append(body.files, f)
	}
	st, err := f.Stat()
	if err != nil {
		return segment{}, time.Time{}, err
	}
	if !st.Mode().IsRegular() {
		return segment{}, time.Time{}, fmt.Errorf("%s is not a regular file", p.Path)
	}
	b := &blob{fileSize: st.Size(), mod: st.ModTime()}
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		b.inode = sys.Ino
	}
	// The file must be the one checked: a pack replaced since (a rebuild
	// between the check and now) may hold other sections at other
	// places. The next request checks again.
	if b.fileSize != p.FileSize || b.inode != p.Inode || !b.mod.Equal(p.ModTime) {
		return segment{}, time.Time{}, fmt.Errorf("%s changed since it was checked", p.Path)
	}
	if !c.cacheable(p) {
		return segment{f: f, off: p.Offset, size: p.Size}, b.mod, nil
	}
	b.data = make([]byte, p.Size)
	if _, err := f.ReadAt(b.data, p.Offset); err != nil {
		return segment{}, time.Time{}, fmt.Errorf("read %s: %w", p.Path, err)
	}
	b.lastModified = b.mod.UTC().Format(http.TimeFormat)
	c.put(p, b)
	return segment{data: b.data, size: p.Size}, b.mod, nil
}
