package overlay

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Builds of one directory run at the same time, in one process (the
// daemon's on-demand builds) or several (wwctl overlay build beside the
// daemon). Each holds the directory's lock file (<Dir>/.lock) shared for
// its whole length, and the locks of the nodes whose packs it writes
// (nodeLockSet) while it makes and writes them. What needs every build
// to be away, removing what a killed build left and the shared archives
// no image refers to any more, takes the lock file exclusively.

// flockFile is an open file holding, or waiting for, a flock(2) lock.
type flockFile struct {
	f    *os.File
	path string
}

// lockDir is the directory under Dir of the nodes' lock files.
const lockDir = ".locks"

// openLock opens (creating it if need be) the lock file at path.
func openLock(path string) (*flockFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
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

// nodeLocks is how many lock files the nodes' locks are spread over.
const nodeLocks = 64

// openNodeLock opens lock file slot of the nodes' packs: one of nodeLocks
// lock files in <Dir>/.locks, picked by a hash of a node's name
// (nodeLockSlot), so that no file is made per node. Nodes share them: a
// build takes all it needs at once, in order (nodeLockSet.lockAll).
func (b *Builder) openNodeLock(slot uint32) (*flockFile, error) {
	dir := filepath.Join(b.Dir, lockDir)
	path := filepath.Join(dir, fmt.Sprintf("%02d", slot))
	l, err := openLock(path)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("lock overlay images: %w", err)
		}
		l, err = openLock(path)
	}
	return l, err
}

// nodeLockSlot is which of the nodeLocks lock files is node's.
func nodeLockSlot(node string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(node))
	return h.Sum32() % nodeLocks
}

// nodeLockSet is the nodes' locks of one build. Each lock file is opened
// once, the first time the build needs it, and closed when the build
// ends. flock(2) does not exclude holders of the same open file, so a
// mutex per file keeps apart what shares it as well.
type nodeLockSet struct {
	b     *Builder
	slots [nodeLocks]struct {
		mu sync.Mutex
		l  *flockFile
	}
}

// lockAll takes the locks of nodes, in the order of their lock files
// so that two builds taking several never wait for each other, waiting
// until ctx ends. unlock releases them all.
func (s *nodeLockSet) lockAll(ctx context.Context, nodes []string) (unlock func(), err error) {
	var slots []uint32
	for _, n := range nodes {
		slots = append(slots, nodeLockSlot(n))
	}
	slices.Sort(slots)
	slots = slices.Compact(slots)
	var held []uint32
	release := func() {
		for _, i := range held {
			slot := &s.slots[i]
			_ = unix.Flock(int(slot.l.f.Fd()), unix.LOCK_UN)
			slot.mu.Unlock()
		}
	}
	for _, i := range slots {
		slot := &s.slots[i]
		slot.mu.Lock()
		if slot.l == nil {
			if slot.l, err = s.b.openNodeLock(i); err != nil {
				slot.mu.Unlock()
				release()
				return nil, err
			}
		}
		if err := slot.l.lock(ctx, unix.LOCK_EX); err != nil {
			slot.mu.Unlock()
			release()
			return nil, err
		}
		held = append(held, i)
	}
	return release, nil
}

// close closes the lock files opened; no lock may be held.
func (s *nodeLockSet) close() {
	for i := range s.slots {
		if l := s.slots[i].l; l != nil {
			_ = l.f.Close()
			s.slots[i].l = nil
		}
	}
}
