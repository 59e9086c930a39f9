package cli

import (
	"os"
	"runtime/debug"

	"github.com/wwboot/wwboot/internal/hugeheap"
)

// heapPerInventoryByte is about how much heap a build of every node
// grows to for each byte of nodes.conf, with the collector set as
// buildHeap sets it: 210 measured for the bench's 1,000 nodes (400 kB
// of nodes.conf, 85 MB of heap), and room above. The daemon's, with
// 10,000 nodes, is under 100 a byte.
const heapPerInventoryByte = 256

// readyHeap has the heap this process is about to grow (to load the
// inventory and build or serve its nodes' overlays) backed by huge pages
// where the kernel gives them on request (internal/hugeheap), sized from
// nodes.conf. Call it before the inventory is loaded.
func (a *app) readyHeap() {
	fi, err := os.Stat(a.site.Config().NodesConf())
	if err != nil {
		return // the load says what is wrong
	}
	if n, why := (hugeheap.Host{Root: os.DirFS("/")}).Reserve(fi.Size() * heapPerInventoryByte); n > 0 {
		a.log.Debug("heap readied for huge pages", "bytes", n)
	} else {
		a.log.Debug("heap left as it is", "why", why)
	}
}

// buildHeap readies this process for an overlay build, before it loads
// the inventory, and returns what puts things back. A build allocates
// its whole heap at once and keeps most of it to the end: the collector
// is run half as often (unless GOGC says otherwise), and the heap is
// readied for huge pages: together a quarter less time for 1,000 nodes
// on the bench's machine.
func (a *app) buildHeap() func() {
	restore := func() {}
	if a.env.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(200)
		restore = func() { debug.SetGCPercent(old) }
	}
	a.readyHeap()
	return restore
}
