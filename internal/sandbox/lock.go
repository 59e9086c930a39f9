package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// InUseError is Lock's error when another process holds the image.
type InUseError struct {
	Image string
	PID   int // 0 when the holder had not written its pid yet
}

func (e *InUseError) Error() string {
	pid := "unknown pid"
	if e.PID > 0 {
		pid = "pid " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("image %s is in use by another wwctl image exec/shell (%s)", e.Image, pid)
}

// Lock takes an exclusive lock on the image directory imageDir
// (<chrootdir>/<name>, the parent of rootfs) for an exec or shell session,
// with flock on <imageDir>/.lock. It does not wait: if another process
// holds the lock it fails at once with an *InUseError naming the holder's
// pid. The lock belongs to the open file, so it is released by unlock or
// by the holder's death, whichever comes first; a crash never leaves the
// image locked. unlock may be called more than once.
func Lock(ctx context.Context, imageDir string) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("lock image %s: %w", filepath.Base(imageDir), err)
	}
	path := filepath.Join(imageDir, ".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock image %s: %w", filepath.Base(imageDir), err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if errors.Is(err, unix.EWOULDBLOCK) {
		b, _ := os.ReadFile(path)
		f.Close()
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return nil, &InUseError{Image: filepath.Base(imageDir), PID: pid}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock image %s: %w", filepath.Base(imageDir), err)
	}
	// The pid is for the message only: the lock is the flock.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return sync.OnceFunc(func() {
		_ = f.Truncate(0)
		f.Close()
	}), nil
}
