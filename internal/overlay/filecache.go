package overlay

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"syscall"
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
	// missingDirs are directories found missing: a file under one is
	// missing too, without asking the kernel. With shared ssh host keys
	// every node tries keys/nodes/<node>/ssh_host_<type>_key for each key
	// type in two templates, and the directory never exists.
	missingDirs map[string]bool
	// names holds the entries of the parents of missing directories,
	// read once (nil when they could not be read): keys/nodes/ answers
	// for every node's keys/nodes/<node>/, without one syscall a node.
	names map[string]map[string]bool
}

type cachedFile struct {
	once sync.Once
	data []byte
	text string // data as a string, which Include returns to every node
	err  error
	sum  string // sha256 of data, "" when the file could not be read
}

type cachedLink struct {
	once   sync.Once
	target string
	err    error
}

func newFileCache() *fileCache {
	return &fileCache{files: map[string]*cachedFile{}, links: map[string]*cachedLink{}, missingDirs: map[string]bool{}, names: map[string]map[string]bool{}}
}

// read returns the content of the file at p and its sha256 ("" when it
// cannot be read).
func (c *fileCache) read(p string) (data []byte, sum string, err error) {
	f := c.file(p)
	return f.data, f.sum, f.err
}

// file returns the cached file at p, read.
func (c *fileCache) file(p string) *cachedFile {
	c.mu.Lock()
	f, ok := c.files[p]
	if !ok {
		f = &cachedFile{}
		c.files[p] = f
	}
	c.mu.Unlock()
	f.once.Do(func() {
		if c.underMissingDir(p) {
			// What os.ReadFile returns for it.
			f.err = &fs.PathError{Op: "open", Path: p, Err: syscall.ENOENT}
			return
		}
		if f.data, f.err = os.ReadFile(p); f.err == nil {
			s := sha256.Sum256(f.data)
			f.sum = hex.EncodeToString(s[:])
			f.text = string(f.data)
		} else if isENOENT(f.err) && filepath.Clean(p) == p {
			c.noteMissingDir(filepath.Dir(p))
		}
	})
	return f
}

// underMissingDir reports whether a directory above p is known to be
// missing, which makes opening p fail with ENOENT. Only a clean path
// is answered: in one with "..", a lexical parent is not necessarily
// what the kernel walks through (x/../ where x is a symbolic link).
func (c *fileCache) underMissingDir(p string) bool {
	if filepath.Clean(p) != p {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for dir := filepath.Dir(p); ; dir = filepath.Dir(dir) {
		if c.missingDirs[dir] {
			return true
		}
		next := filepath.Dir(dir)
		if next == dir {
			return false
		}
		if names := c.names[next]; names != nil && !names[filepath.Base(dir)] {
			return true
		}
	}
}

// noteMissingDir records dir as missing when it is (a file in it could
// not be opened, and the directory itself may be what is missing), and
// so on up to the first directory that exists, whose names it reads.
func (c *fileCache) noteMissingDir(dir string) {
	for {
		c.mu.Lock()
		known := c.missingDirs[dir]
		c.mu.Unlock()
		if known {
			return
		}
		if _, err := os.Lstat(dir); !isENOENT(err) {
			return
		}
		c.mu.Lock()
		c.missingDirs[dir] = true
		c.mu.Unlock()
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		if _, err := os.Lstat(parent); isENOENT(err) {
			dir = parent
			continue
		}
		c.mu.Lock()
		_, listed := c.names[parent]
		if !listed {
			c.names[parent] = nil // being read: no answer from it meanwhile
		}
		c.mu.Unlock()
		if !listed {
			names := readNames(parent)
			c.mu.Lock()
			c.names[parent] = names
			c.mu.Unlock()
		}
		return
	}
}

// readNames returns the names in dir, nil when it cannot be read.
func readNames(dir string) map[string]bool {
	d, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer d.Close()
	list, err := d.Readdirnames(-1)
	if err != nil {
		return nil
	}
	names := make(map[string]bool, len(list))
	for _, n := range list {
		names[n] = true
	}
	return names
}

// isENOENT reports whether err is exactly "no such file or directory",
// not another error that also counts as fs.ErrNotExist.
func isENOENT(err error) bool {
	var errno syscall.Errno
	return errors.As(err, &errno) && errno == syscall.ENOENT
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
