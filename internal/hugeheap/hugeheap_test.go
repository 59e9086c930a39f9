package hugeheap

import (
	"os"
	"testing"
	"testing/fstest"

	"golang.org/x/sys/unix"
)

func host(files map[string]string) Host {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return Host{Root: fsys}
}

func TestPlan(t *testing.T) {
	const gb = int64(1) << 30
	usual := map[string]string{
		thp + "/enabled":                "always [madvise] never\n",
		thp + "/hpage_pmd_size":         "2097152\n",
		"proc/sys/vm/overcommit_memory": "0\n",
		"proc/meminfo":                  "MemTotal:       24683520 kB\nMemFree:        24000000 kB\nMemAvailable:   20971520 kB\n",
	}
	with := func(name, data string) map[string]string {
		m := map[string]string{}
		for k, v := range usual {
			m[k] = v
		}
		if data == "" {
			delete(m, name)
		} else {
			m[name] = data
		}
		return m
	}
	tests := []struct {
		name  string
		files map[string]string
		size  int64
		want  int64
		page  uintptr
	}{
		{name: "on request", files: usual, size: 256 << 20, want: 256 << 20, page: 2 << 20},
		{name: "capped at half of what is available", files: usual, size: 100 * gb, want: 10 * gb, page: 2 << 20},
		{name: "too small", files: usual, size: minSize - 1},
		{name: "always", files: with(thp+"/enabled", "[always] madvise never\n"), size: gb},
		{name: "never", files: with(thp+"/enabled", "always madvise [never]\n"), size: gb},
		{name: "no transparent huge pages", files: with(thp+"/enabled", ""), size: gb},
		{name: "strict overcommit", files: with("proc/sys/vm/overcommit_memory", "2\n"), size: gb},
		{name: "overcommit unknown", files: with("proc/sys/vm/overcommit_memory", ""), size: gb},
		{name: "no meminfo", files: with("proc/meminfo", ""), size: gb},
		{name: "meminfo without MemAvailable", files: with("proc/meminfo", "MemTotal: 1 kB\n"), size: gb},
		{name: "little memory", files: with("proc/meminfo", "MemAvailable: 16384 kB\n"), size: gb},
		{name: "other huge page size", files: with(thp+"/hpage_pmd_size", "524288\n"), size: gb, want: gb, page: 512 << 10},
		{name: "huge page size unreadable", files: with(thp+"/hpage_pmd_size", "lots\n"), size: gb, want: gb, page: 2 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, page, why := host(tc.files).plan(tc.size)
			if got != tc.want || page != tc.page {
				t.Errorf("plan(%d) = %d bytes of %d-byte pages (%s), want %d of %d", tc.size, got, page, why, tc.want, tc.page)
			}
			if (got == 0) != (why != "") {
				t.Errorf("plan(%d) = %d with reason %q: a reason goes with 0 and only with 0", tc.size, got, why)
			}
		})
	}
}

func TestSelected(t *testing.T) {
	for in, want := range map[string]string{
		"always [madvise] never\n": "madvise",
		"[always] madvise never":   "always",
		"never\n":                  "never",
	} {
		if got := selected([]byte(in)); got != want {
			t.Errorf("selected(%q) = %q, want %q", in, got, want)
		}
	}
}

// minorFaults is the process's count of page faults served without I/O.
func minorFaults(t *testing.T) int64 {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return ru.Minflt
}

// TestReserveSavesFaults checks, on this machine, the point of the
// package: a heap grown into after Reserve takes a fault per huge page,
// not one per 4 kB page.
func TestReserveSavesFaults(t *testing.T) {
	h := Host{Root: os.DirFS("/")}
	const size = 64 << 20
	if n, _, why := h.plan(size); n == 0 {
		t.Skipf("nothing to reserve here: %s", why)
	}
	if got, why := h.Reserve(size); got < size/2 {
		t.Fatalf("Reserve(%d) marked %d bytes (%s)", size, got, why)
	}
	const grow = 32 << 20
	pages := int64(grow / os.Getpagesize())
	before := minorFaults(t)
	b := make([]byte, grow)
	for i := 0; i < len(b); i += os.Getpagesize() {
		b[i] = 1
	}
	faults := minorFaults(t) - before
	// 16 faults for 16 huge pages; allow for the kernel failing to find
	// some and for the runtime's own faults meanwhile.
	if faults > pages/4 {
		t.Errorf("touching %d MB took %d page faults for its %d pages: the heap is not backed by huge pages", grow>>20, faults, pages)
	}
	t.Logf("touching %d MB took %d page faults", grow>>20, faults)
}
