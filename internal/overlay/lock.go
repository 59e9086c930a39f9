package overlay

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// Builds of one directory run at the same time, in one process (the
// daemon's on-demand builds) or several (wwctl overlay build beside the
// daemon). Each holds the directory's lock file (<Dir>/.lock) shared for
// its whole length, and a node's directory locked (flock on the directory
// itself, no file of its own) while it writes that node's images. What
// needs every build to be away, removing what a killed build left and
// the shared archives no image refers to any more, takes the lock file
// exclusively.

// flockFile is an open file holding, or waiting for, a flock(2) lock.
type flockFile struct {
	f    *os.File
	path string
}

// openLock opens (creating it if need be) the lock file at path, or, when
// dir is set, the directory at path.
func openLock(path string, dir bool) (*flockFile, error) {
	var f *os.File
	var err error
	if dir {
		f, err = os.Open(path)
	} else {
		f, err = os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return &flockFile{f: f, path: path}, nil
}

// lock takes the lock (how: unix.LOCK_SH or unix.LOCK_EX), waiting for it
// until ctx ends. Taking the other kind of lock on a file already locked
// converts the lock.
func (l *flockFile) lock(ctx context.Context, how int) error {
	delay := time.Millisecond
	for {
		ok, err := l.try(how)
		if ok || err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lock %s: %w", l.path, ctx.Err())
		case <-time.After(delay):
		}
		delay = min(2*delay, 50*time.Millisecond)
	}
}

// try takes the lock if no one holds it in a conflicting way.
func (l *flockFile) try(how int) (bool, error) {
	for {
		err := unix.Flock(int(l.f.Fd()), how|unix.LOCK_NB)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return false, nil
		}
		return false, fmt.Errorf("lock %s: %w", l.path, err)
	}
}

// close releases the lock.
func (l *flockFile) close() {
	_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
	_ = l.f.Close()
}

// lockDir locks the node directory dir for writing its images.
func lockDir(ctx context.Context, dir string) (unlock func(), err error) {
	l, err := openLock(dir, true)
	if err != nil {
		return nil, err
	}
	if err := l.lock(ctx, unix.LOCK_EX); err != nil {
		_ = l.f.Close()
		return nil, err
	}
	return l.close, nil
}
