// Package hugeheap lets a command that is about to grow a large heap in
// one go (an overlay build of thousands of nodes, the daemon loading
// them) have it backed by transparent huge pages where the kernel gives
// them only on request (transparent_hugepage "madvise", Debian's
// default).
//
// Each 4 kB page a process touches first costs a page fault; on a
// virtual machine a fault can cost 15 µs, and a build that grows its
// heap to 80 MB takes 20,000 of them, a quarter of its CPU time. With
// 2 MB pages it takes forty. Go asks for huge pages only when the kernel
// gives them to everyone ("always"), so Reserve asks for them itself: it
// allocates a block of the size the work will need, which the runtime
// maps and does not touch, marks its range for huge pages, and frees it.
// The runtime then grows the heap into that range, which keeps the mark.
package hugeheap

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"runtime/debug"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// defaultHugePage is the size of a transparent huge page where the
// kernel does not say (x86-64, and arm64 with 4 kB base pages).
const defaultHugePage = 2 << 20

// minSize is the least worth reserving: below it, the faults saved do
// not pay for the collection Reserve runs.
const minSize = 16 << 20

// Host is what Reserve reads of the machine: /sys/kernel/mm and
// /proc/sys/vm/overcommit_memory and /proc/meminfo, from the root of a
// file system (os.DirFS("/") on a real one).
type Host struct {
	Root fs.FS
}

// plan says how much of size Reserve reserves on this host and in pages
// of what size: 0 for nothing, with why not.
func (h Host) plan(size int64) (int64, uintptr, string) {
	if size < minSize {
		return 0, 0, "too small to be worth it"
	}
	enabled, err := fs.ReadFile(h.Root, thp+"/enabled")
	if err != nil {
		return 0, 0, "no transparent huge pages"
	}
	if !bytes.Contains(enabled, []byte("[madvise]")) {
		// "always": every process has them already; "never": none can.
		return 0, 0, fmt.Sprintf("transparent huge pages are %q, not on request", selected(enabled))
	}
	page := uintptr(defaultHugePage)
	if b, err := fs.ReadFile(h.Root, thp+"/hpage_pmd_size"); err == nil {
		if n, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 40); err == nil && n > 0 && n&(n-1) == 0 {
			page = uintptr(n)
		}
	}
	// With strict accounting the block counts against the commit limit
	// even though it is never touched: a failed allocation would end
	// the program.
	if oc, err := fs.ReadFile(h.Root, "proc/sys/vm/overcommit_memory"); err != nil || string(bytes.TrimSpace(oc)) == "2" {
		return 0, 0, "memory overcommit is strict or unknown"
	}
	avail, err := memAvailable(h.Root)
	if err != nil {
		return 0, 0, err.Error()
	}
	size = min(size, avail/2)
	if size < minSize || size < 2*int64(page) {
		return 0, 0, "too little memory available"
	}
	return size, page, ""
}

const thp = "sys/kernel/mm/transparent_hugepage"

// Reserve prepares up to size bytes of heap to be backed by huge pages
// and reports how many bytes it marked, or, when it did nothing, why
// not (no huge pages on request, strict overcommit, too small, too
// little memory). It runs a garbage collection, which frees the block
// and gives its untouched range back as released memory, so that the
// runtime's scavenger has nothing of it to return; call it before the
// work, when the heap is small. It is a hint: whatever it does, the
// program works the same.
func (h Host) Reserve(size int64) (marked int64, why string) {
	size, page, why := h.plan(size)
	if size == 0 {
		return 0, why
	}
	if marked = mark(size, page); marked == 0 {
		why = "madvise refused"
	}
	debug.FreeOSMemory()
	return marked, why
}

// mark allocates size bytes, asks for huge pages over the whole pages
// of them, and drops them. Nothing touches the block: the runtime takes
// fresh memory from the kernel for it, already zero.
func mark(size int64, page uintptr) int64 {
	b := make([]byte, size)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	lo := int((start+page-1)&^(page-1) - start)
	hi := int((start+uintptr(size))&^(page-1) - start)
	if lo >= hi || unix.Madvise(b[lo:hi], unix.MADV_HUGEPAGE) != nil {
		return 0
	}
	return int64(hi - lo)
}

// selected is the bracketed choice of a /sys/kernel/mm setting.
func selected(setting []byte) string {
	if _, rest, ok := bytes.Cut(setting, []byte("[")); ok {
		if v, _, ok := bytes.Cut(rest, []byte("]")); ok {
			return string(v)
		}
	}
	return string(bytes.TrimSpace(setting))
}

// memAvailable is MemAvailable of /proc/meminfo, in bytes.
func memAvailable(root fs.FS) (int64, error) {
	data, err := fs.ReadFile(root, "proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read meminfo: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := bytes.Fields(sc.Bytes())
		if len(f) == 3 && string(f[0]) == "MemAvailable:" && string(f[2]) == "kB" {
			kb, err := strconv.ParseInt(string(f[1]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("meminfo: MemAvailable %q: %w", f[1], err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("meminfo: no MemAvailable")
}
