package daemon

import (
	"fmt"
	"syscall"
)

// raiseOpenFiles raises the process's RLIMIT_NOFILE soft limit to its
// hard limit and returns the soft limit before and after.
func raiseOpenFiles() (from, to uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if r.Cur >= r.Max {
		return r.Cur, r.Cur, nil
	}
	from = r.Cur
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return from, from, fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", r.Max, err)
	}
	return from, r.Max, nil
}
