package daemon

import (
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The daemon takes every file descriptor the hard limit allows. Go raises
// the soft limit itself at start, so the test lowers it first (by one, so
// that other tests of the package are not short of descriptors).
func TestRaiseOpenFiles(t *testing.T) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		t.Fatal(err)
	}
	if r.Max < 2 || r.Max > 1<<40 { // also RLIM_INFINITY
		t.Skipf("hard limit %d", r.Max)
	}
	lowered := syscall.Rlimit{Cur: r.Max - 1, Max: r.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lowered); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r) })
	from, to, err := raiseOpenFiles()
	if err != nil {
		t.Fatal(err)
	}
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([3]uint64{r.Max - 1, r.Max, r.Max}, [3]uint64{from, to, now.Cur}); diff != "" {
		t.Errorf("[from, to, soft limit now] (-want +got):\n%s", diff)
	}
}
