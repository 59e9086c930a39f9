// Package atomicfile writes files so that a reader or a crash never sees a
// torn file, and serializes writers with an advisory lock.
//
// WriteFile writes to a temporary file in the destination directory, fsyncs
// it, renames it over the destination and fsyncs the directory: after a
// crash the path holds either the old or the new content, never a mix.
// A Temp is such a temporary file written at offsets, from several
// goroutines at once, then finished and given its names with Link (hard
// links), for a file whose parts are made in parallel. Lock takes an
// exclusive flock on a separate lock file, because the data file itself
// is replaced by rename and a lock on its old inode would protect
// nothing.
package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// WriteFile atomically replaces path with data. The new file gets perm,
// or the mode of the file it replaces when that exists, so an
// administrator's chmod survives rewrites.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, true)
}

// Replace is WriteFile without the fsyncs, for files that can be made
// again (build artifacts) or that the caller syncs itself (SyncDir):
// readers still never see a partial file.
func Replace(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, false)
}

// Create writes a new file at path atomically, without fsync and without
// looking for a previous file's mode: for content-addressed artifacts,
// whose name changes with their content.
func Create(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, false)
}

// CreateSynced is Create with WriteFile's fsyncs, for a content-addressed
// file that must be on disk before anything refers to it.
func CreateSynced(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, true)
}

func write(path string, data []byte, perm fs.FileMode, durable bool) error {
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	return writeFile(path, data, perm, durable)
}

func writeFile(path string, data []byte, perm fs.FileMode, durable bool) error {
	return writeParts(path, [][]byte{data}, perm, durable)
}

// CreateParts is Create of the concatenation of parts, written with one
// writev(2) instead of joined first: for a file made of blocks the
// caller holds already (a header and archives).
func CreateParts(path string, parts [][]byte, perm fs.FileMode) error {
	return writeParts(path, parts, perm, false)
}

// writeParts writes parts to a new temporary file beside path (named
// ".NAME.tmp-*", which RemoveStale finds), sets its mode, fsyncs it when
// durable, and renames it over path. It uses the system calls directly:
// a regular file gains nothing from the runtime's poller, and builds
// write thousands of these.
func writeParts(path string, parts [][]byte, perm fs.FileMode, durable bool) error {
	tmpName, err := writeTemp(path, parts, perm, durable)
	if err != nil {
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		_ = unix.Unlink(tmpName)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if !durable {
		return nil
	}
	return SyncDir(filepath.Dir(path))
}

// writeTemp writes parts to a new temporary file beside path, sets its
// mode, fsyncs it when durable and returns its name.
func writeTemp(path string, parts [][]byte, perm fs.FileMode, durable bool) (string, error) {
	t, err := NewTemp(path)
	if err != nil {
		return "", err
	}
	if err := t.WriteAt(parts, 0); err != nil {
		t.Remove()
		return "", err
	}
	return t.Finish(perm, durable)
}

// Temp is a new file beside a path, named as the temporary files of the
// writes here (".NAME.tmp-*"), that is written at offsets, by any number
// of goroutines at once, and then finished (to be given its names with
// Link, its temporary name removed after) or removed: for a file whose
// parts are made in parallel and written as each is ready.
type Temp struct {
	path, name string
	fd         int
}

// NewTemp creates a Temp for path, empty and readable by its owner only
// until Finish sets its mode.
func NewTemp(path string) (*Temp, error) {
	prefix := tempPrefix(path)
	for range 10000 {
		name := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return &Temp{path: path, name: name, fd: fd}, nil
		}
		if !errors.Is(err, unix.EEXIST) && !errors.Is(err, unix.EINTR) {
			return nil, fmt.Errorf("write %s: %w", path, &fs.PathError{Op: "open", Path: name, Err: err})
		}
	}
	return nil, fmt.Errorf("write %s: no free temporary name", path)
}

// WriteAt writes the concatenation of parts at offset off, whole. It may
// be called from several goroutines at once, for parts that do not
// overlap.
func (t *Temp) WriteAt(parts [][]byte, off int64) error {
	if err := writeAllAt(t.fd, parts, off); err != nil {
		return fmt.Errorf("write %s: %w", t.path, err)
	}
	return nil
}

// StartWriteback starts writing the n bytes at off to disk and returns
// without waiting for them, so that a sync at Finish has less left to
// wait for. It is only a hint: a failure is Finish's fsync's to report.
func (t *Temp) StartWriteback(off, n int64) {
	_ = unix.SyncFileRange(t.fd, off, n, unix.SYNC_FILE_RANGE_WRITE)
}

// Finish sets the file's mode, fsyncs it when sync is set, closes it and
// returns its name; the caller links it and removes that name. Call it
// once every WriteAt has returned. On failure the file is removed.
func (t *Temp) Finish(perm fs.FileMode, sync bool) (string, error) {
	err := ignoringEINTR(func() error { return unix.Fchmod(t.fd, uint32(perm.Perm())) })
	if err != nil {
		t.Remove()
		return "", fmt.Errorf("write %s: chmod: %w", t.path, err)
	}
	if sync {
		if err := ignoringEINTR(func() error { return unix.Fsync(t.fd) }); err != nil {
			t.Remove()
			return "", fmt.Errorf("write %s: fsync: %w", t.path, err)
		}
	}
	err = unix.Close(t.fd)
	t.fd = -1
	if err != nil {
		t.Remove()
		return "", fmt.Errorf("write %s: close: %w", t.path, err)
	}
	return t.name, nil
}

// Remove closes and deletes a file that is not to be finished.
func (t *Temp) Remove() {
	if t.fd >= 0 {
		_ = unix.Close(t.fd)
		t.fd = -1
	}
	_ = unix.Unlink(t.name)
}

// tempPrefix is how the temporary files written for path start.
func tempPrefix(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
}

// Link gives the file at src the name path as well (a hard link, no
// copy), replacing what path names atomically: a reader opens the file
// before or the one at src, never nothing. It does not sync.
func Link(src, path string) error {
	err := ignoringEINTR(func() error { return unix.Link(src, path) })
	if err == nil || !errors.Is(err, unix.EEXIST) {
		if err != nil {
			return fmt.Errorf("link %s: %w", path, err)
		}
		return nil
	}
	prefix := tempPrefix(path)
	for range 10000 {
		tmpName := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		err := ignoringEINTR(func() error { return unix.Link(src, tmpName) })
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return fmt.Errorf("link %s: %w", path, err)
		}
		if err := os.Rename(tmpName, path); err != nil {
			_ = unix.Unlink(tmpName)
			return fmt.Errorf("link %s: %w", path, err)
		}
		return nil
	}
	return fmt.Errorf("link %s: no free temporary name", path)
}

// maxIovecs is how many buffers one writev(2) takes (IOV_MAX on Linux).
const maxIovecs = 1024

// writeAllAt writes parts to fd in order from offset off, whole, going
// on after a short write or an interrupted one.
func writeAllAt(fd int, parts [][]byte, off int64) error {
	var iov [][]byte
	for _, p := range parts {
		if len(p) > 0 {
			iov = append(iov, p)
		}
	}
	for len(iov) > 0 {
		n, err := unix.Pwritev(fd, iov[:min(len(iov), maxIovecs)], off)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrShortWrite
		}
		off += int64(n)
		for n > 0 {
			if n < len(iov[0]) {
				iov[0] = iov[0][n:]
				break
			}
			n -= len(iov[0])
			iov = iov[1:]
		}
	}
	return nil
}

// ignoringEINTR calls f again while it is interrupted by a signal.
func ignoringEINTR(f func() error) error {
	for {
		if err := f(); !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// SyncDir fsyncs the directory dir: the names created, linked, renamed
// or removed in it are then on disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}

// RemoveStale deletes temporary files that WriteFile left for path when
// its process died mid-write. Call it only while holding the lock that
// serializes writers of path: then no live writer owns such a file.
func RemoveStale(path string) error {
	matches, err := filepath.Glob(filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*"))
	if err != nil {
		return fmt.Errorf("clean up %s: %w", path, err)
	}
	for _, m := range matches {
		if err := os.Remove(m); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("clean up %s: %w", path, err)
		}
	}
	return nil
}

// Lock takes an exclusive advisory lock on lockPath, creating the file if
// needed, and returns the function that releases it. It waits for other
// holders until ctx is done. The lock is released by the kernel if the
// process dies, so a crash never leaves a stale lock behind.
func Lock(ctx context.Context, lockPath string) (unlock func(), err error) {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", lockPath, err)
	}
	delay := time.Millisecond
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", lockPath, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 50*time.Millisecond {
			delay *= 2
		}
	}
}
