// Package atomicfile writes files so that a reader or a crash never sees a
// torn file, and serializes writers with an advisory lock.
//
// WriteFile writes to a temporary file in the destination directory, fsyncs
// it, renames it over the destination and fsyncs the directory: after a
// crash the path holds either the old or the new content, never a mix.
// Lock takes an exclusive flock on a separate lock file, because the data
// file itself is replaced by rename and a lock on its old inode would
// protect nothing.
package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
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
// again (build artifacts): readers still never see a partial file, and
// one SyncFS after many Replaces makes them all durable at once.
func Replace(path string, data []byte, perm fs.FileMode) error {
	return write(path, data, perm, false)
}

// Create writes a new file at path atomically, without fsync and without
// looking for a previous file's mode: for content-addressed artifacts,
// whose name changes with their content.
func Create(path string, data []byte, perm fs.FileMode) error {
	return writeFile(path, data, perm, false)
}

// SyncFS flushes the filesystem holding dir to disk.
func SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("syncfs %s: %w", dir, err)
	}
	return nil
}

func write(path string, data []byte, perm fs.FileMode, durable bool) error {
	if st, err := os.Stat(path); err == nil {
		perm = st.Mode().Perm()
	}
	return writeFile(path, data, perm, durable)
}

func writeFile(path string, data []byte, perm fs.FileMode, durable bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			_ = tmp.Close()
			_ = os.Remove(tmpName)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if durable {
		if err := tmp.Sync(); err != nil {
			return fmt.Errorf("write %s: fsync: %w", path, err)
		}
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmpName, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if !durable {
		return nil
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
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
