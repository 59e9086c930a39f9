package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Install builds a new tree in <Chroots>/.NAME.new-N beside the images.
// A process killed in the middle leaves it there, so each tree has a lock
// file, <tree>.lock, flocked by the process that makes the tree for as
// long as it lives: the kernel releases the lock when the process dies,
// and a tree whose lock nobody holds is a leftover. The lock file exists
// before its tree, and is removed only by whoever holds its lock, so a
// live tree always has a held lock.
const (
	newInfix   = ".new-"
	lockSuffix = ".lock"
)

// newTree makes a new locked tree for image name in dir and returns its
// path and the function that removes its lock file and releases it (the
// tree itself is the caller's to move or remove first).
func newTree(dir, name string) (tree string, release func(), err error) {
	for range 100 {
		f, err := os.CreateTemp(dir, "."+name+newInfix+"*"+lockSuffix)
		if err != nil {
			return "", nil, err
		}
		ok, err := lockNB(f)
		if err == nil && ok {
			// RemoveStale may have taken the new file for a leftover and
			// removed it before we locked it: then start again.
			if linked(f) {
				tree = strings.TrimSuffix(f.Name(), lockSuffix)
				if err := os.Mkdir(tree, 0o700); err != nil {
					os.Remove(f.Name())
					f.Close()
					return "", nil, err
				}
				return tree, func() {
					os.Remove(f.Name())
					f.Close()
				}, nil
			}
		}
		f.Close()
		if err != nil {
			return "", nil, err
		}
	}
	return "", nil, fmt.Errorf("cannot make a locked directory in %s", dir)
}

// lockNB takes f's exclusive flock without waiting; false if another
// process holds it.
func lockNB(f *os.File) (bool, error) {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		case !errors.Is(err, unix.EINTR):
			return false, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
		}
	}
}

// linked reports whether f is still the file at its name.
func linked(f *os.File) bool {
	open, err1 := f.Stat()
	named, err2 := os.Lstat(f.Name())
	return err1 == nil && err2 == nil && os.SameFile(open, named)
}

// RemoveStale removes what killed imports left in Chroots: new trees
// (.NAME.new-N) whose lock is not held, and lock files without a tree.
// A tree with a held lock belongs to an import still running and is left
// alone. Failures are logged: they must not stop the import at hand.
func (im *Images) RemoveStale() {
	entries, err := os.ReadDir(im.Chroots)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			im.log().Warn("cannot look for leftovers of killed imports", "err", err)
		}
		return
	}
	for _, e := range entries {
		n := e.Name()
		if !strings.HasPrefix(n, ".") || !strings.Contains(n, newInfix) {
			continue
		}
		p := filepath.Join(im.Chroots, n)
		lockPath := p
		if !strings.HasSuffix(n, lockSuffix) {
			if !e.IsDir() {
				continue
			}
			lockPath = p + lockSuffix
		}
		if err := removeIfStale(p, lockPath); err != nil {
			im.log().Warn("cannot remove the leftover of a killed import", "path", p, "err", err)
		} else if p != lockPath && !exists(p) {
			im.log().Info("removed the leftover of a killed import", "path", p)
		}
	}
}

// removeIfStale removes p (a tree, or the lock file itself when p is
// lockPath) and lockPath unless lockPath's lock is held. A tree without a
// lock file is a leftover too: a live tree always has one.
func removeIfStale(p, lockPath string) error {
	f, err := os.OpenFile(lockPath, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if p == lockPath {
			return nil // removed meanwhile
		}
		return os.RemoveAll(p)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	ok, err := lockNB(f)
	if err != nil || !ok {
		return err // in use
	}
	if !linked(f) {
		return nil // removed and maybe made again meanwhile: not ours
	}
	if p != lockPath {
		if err := os.RemoveAll(p); err != nil {
			return err
		}
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
