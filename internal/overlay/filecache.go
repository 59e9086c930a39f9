package overlay

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"sync"
)

// fileCache holds the server and image files the templates of one build
// read, and the links they resolved, so that each is read and hashed
// once a build rather than once a node (every node's ssh.host_keys,
// syncuser and localtime overlays read the same files). A build is a
// point in time: a file changed while it runs is seen by the next build,
// which compares the recorded hashes. Safe for concurrent use; the bytes
// it returns must not be modified.
type fileCache struct {
	mu    sync.Mutex
	files map[string]*cachedFile
	links map[string]*cachedLink
}

type cachedFile struct {
	once sync.Once
	data []byte
	err  error
	sum  string // sha256 of data, "" when the file could not be read
}

type cachedLink struct {
	once   sync.Once
	target string
	err    error
}

func newFileCache() *fileCache {
	return &fileCache{files: map[string]*cachedFile{}, links: map[string]*cachedLink{}}
}

// read returns the content of the file at p and its sha256 ("" when it
// cannot be read).
func (c *fileCache) read(p string) (data []byte, sum string, err error) {
	c.mu.Lock()
	f, ok := c.files[p]
	if !ok {
		f = &cachedFile{}
		c.files[p] = f
	}
	c.mu.Unlock()
	f.once.Do(func() {
		if f.data, f.err = os.ReadFile(p); f.err == nil {
			s := sha256.Sum256(f.data)
			f.sum = hex.EncodeToString(s[:])
		}
	})
	return f.data, f.sum, f.err
}

// link returns what the server path p resolves to, as e.evalSymlinks
// does.
func (c *fileCache) link(e env, p string) (string, error) {
	c.mu.Lock()
	l, ok := c.links[p]
	if !ok {
		l = &cachedLink{}
		c.links[p] = l
	}
	c.mu.Unlock()
	l.once.Do(func() { l.target, l.err = e.evalSymlinks(p) })
	return l.target, l.err
}
