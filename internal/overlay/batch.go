package overlay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
)

// A build writes the packs of all the nodes it built into one file, a
// batch, and gives it each node's pack name (<node>.pack) as a hard link,
// so that a build of thousands of nodes makes one inode instead of one a
// node (new inodes, not bytes, were what such a build spent its time on,
// and more so on a file system where many were freed lately). It is:
//
//	batchMagic (22 bytes)
//	the table's length, 4 bytes big-endian
//	the table: for each node, its name's length (2 bytes), its name, and
//	  where its pack is in the batch, offset and length (8 bytes each)
//	the nodes' packs, each as packMagic starts it, one after the other
//
// A reader of <node>.pack finds the node's pack in the table and reads it
// as a file of its own, its data's offsets moved by where it starts. A
// batch is never written again: a later build links a node's name to a
// newer batch, and a batch goes when no name is left linked to it. So
// that batches left with few nodes do not hold disk space for long, a
// build carries the packs of a batch with fewer than half its nodes left
// into its own (sparseBatches, carryPacks).
const batchMagic = "wwboot overlay pack 3\n"

// maxBatchTable bounds the table a batch may declare.
const maxBatchTable = 64 << 20

// batchEntry is one node's pack in a batch.
type batchEntry struct {
	node string
	pack section // from the start of the batch
}

// batchHead returns what a batch of entries holds before the packs.
func batchHead(entries []batchEntry) []byte {
	size := 0
	for _, e := range entries {
		size += 2 + len(e.node) + 16
	}
	head := make([]byte, 0, len(batchMagic)+4+size)
	head = append(head, batchMagic...)
	head = binary.BigEndian.AppendUint32(head, uint32(size))
	for _, e := range entries {
		head = binary.BigEndian.AppendUint16(head, uint16(len(e.node)))
		head = append(head, e.node...)
		head = binary.BigEndian.AppendUint64(head, uint64(e.pack.Off))
		head = binary.BigEndian.AppendUint64(head, uint64(e.pack.Len))
	}
	return head
}

// batchHeadSize is the length of batchHead of nodes.
func batchHeadSize(nodes []string) int64 {
	size := int64(len(batchMagic) + 4)
	for _, n := range nodes {
		size += int64(2 + len(n) + 16)
	}
	return size
}

// batchTable is where each node's pack is in a batch.
type batchTable map[string]section

// readBatchTable reads the table of the batch r (of size bytes).
func readBatchTable(r io.ReaderAt, size int64) (batchTable, error) {
	var head [len(batchMagic) + 4]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return nil, err
	}
	if string(head[:len(batchMagic)]) != batchMagic {
		return nil, errors.New("not an overlay batch")
	}
	n := int64(binary.BigEndian.Uint32(head[len(batchMagic):]))
	if n > maxBatchTable || int64(len(head))+n > size {
		return nil, fmt.Errorf("overlay batch table of %d bytes in a file of %d", n, size)
	}
	buf := make([]byte, n)
	if n > 0 {
		if _, err := r.ReadAt(buf, int64(len(head))); err != nil {
			return nil, err
		}
	}
	t := batchTable{}
	for len(buf) > 0 {
		if len(buf) < 2 {
			return nil, errors.New("overlay batch table cut short")
		}
		l := int(binary.BigEndian.Uint16(buf))
		if len(buf) < 2+l+16 {
			return nil, errors.New("overlay batch table cut short")
		}
		node := string(buf[2 : 2+l])
		off := int64(binary.BigEndian.Uint64(buf[2+l:]))
		ln := int64(binary.BigEndian.Uint64(buf[2+l+8:]))
		if off < int64(len(head))+n || ln < 0 || off > size || ln > size-off {
			return nil, fmt.Errorf("overlay batch puts node %q's pack outside the file", node)
		}
		t[node] = section{Off: off, Len: ln}
		buf = buf[2+l+16:]
	}
	return t, nil
}

// batchKey identifies a batch file's content: batches are never written
// again, so a file of the same inode, size and time is the same batch.
type batchKey struct {
	dev, ino, size uint64
	mod            int64
}

// batchTables keeps the tables of the batches read, so that the packs of
// a thousand nodes linked to one batch do not read its table a thousand
// times.
type batchTables struct {
	mu sync.Mutex
	m  map[batchKey]batchTable
}

// maxBatchTables bounds the tables kept; past it they are all dropped.
const maxBatchTables = 256

// table returns the table of the batch f, of which st is the stat.
func (c *batchTables) table(f *os.File, st os.FileInfo) (batchTable, error) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if c == nil || !ok {
		return readBatchTable(f, st.Size())
	}
	key := statKey(sys)
	if t, ok := c.get(key); ok {
		return t, nil
	}
	t, err := readBatchTable(f, st.Size())
	if err != nil {
		return nil, err
	}
	c.put(key, t)
	return t, nil
}

// statKey is the batchKey of a file of stat st.
func statKey(st *syscall.Stat_t) batchKey {
	return batchKey{dev: uint64(st.Dev), ino: st.Ino, size: uint64(st.Size), mod: st.Mtim.Nano()}
}

func (c *batchTables) get(key batchKey) (batchTable, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.m[key]
	return t, ok
}

func (c *batchTables) put(key batchKey, t batchTable) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxBatchTables {
		c.m = map[batchKey]batchTable{}
	}
	c.m[key] = t
}

// carryEvery is how often a Builder looks for batches to carry: every
// build of wwctl (a Builder each), at most once a minute in the daemon,
// whose on-demand builds come many at a time.
const carryEvery = time.Minute

// sparseBatches returns the nodes, none of building, whose packs are in
// batches that fewer than half of their nodes will still be linked to
// once the nodes of building have packs of their own, each with the
// inode of its batch: a build carries these packs into its own
// batch (carryPacks), so that the old batch goes and frees the space the
// packs of its other nodes took.
func (b *Builder) sparseBatches(building map[string]bool) map[string]uint64 {
	now := time.Now().UnixNano()
	if last := b.carried.Load(); last != 0 && now-last < int64(carryEvery) || !b.carried.CompareAndSwap(last, now) {
		return nil
	}
	entries, err := os.ReadDir(b.Dir)
	if err != nil {
		return nil
	}
	type batch struct {
		st    syscall.Stat_t
		path  string
		nodes []string // those not built here
		built uint64   // links of nodes built here, which go
	}
	byIno := map[uint64]*batch{}
	for _, e := range entries {
		node, ok := packNode(e)
		if !ok {
			continue
		}
		path := packPath(b.Dir, node)
		var st syscall.Stat_t
		if err := syscall.Lstat(path, &st); err != nil {
			continue
		}
		bt := byIno[st.Ino]
		if bt == nil {
			bt = &batch{st: st, path: path}
			byIno[st.Ino] = bt
		}
		if building[node] {
			bt.built++
		} else {
			bt.nodes = append(bt.nodes, node)
		}
	}
	out := map[string]uint64{}
	for ino, bt := range byIno {
		t, ok := b.batches.get(statKey(&bt.st))
		if !ok {
			f, err := os.Open(bt.path)
			if err != nil {
				continue
			}
			st, err := f.Stat()
			if err == nil {
				t, err = b.batches.table(f, st)
			}
			f.Close()
			if err != nil {
				continue // not a batch: a pack of the layout before
			}
		}
		if len(bt.nodes) == 0 || 2*(uint64(bt.st.Nlink)-min(bt.built, uint64(bt.st.Nlink))) >= uint64(len(t)) {
			continue
		}
		for _, n := range bt.nodes {
			out[n] = ino
		}
	}
	return out
}

// carryPacks reads the packs of the nodes carry names (sparseBatches),
// whose locks the caller holds, as they are in their batches, to be
// written into the build's. A node whose pack is no longer in the batch
// found (another build replaced it) is left alone.
func (b *Builder) carryPacks(carry map[string]uint64) []*nodePack {
	var out []*nodePack
	for _, node := range slices.Sorted(maps.Keys(carry)) {
		if p := b.carryPack(node, carry[node]); p != nil {
			out = append(out, p)
		}
	}
	return out
}

func (b *Builder) carryPack(node string, ino uint64) *nodePack {
	f, st, at, err := openNodePack(&b.batches, packPath(b.Dir, node))
	if err != nil {
		return nil
	}
	defer f.Close()
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || sys.Ino != ino {
		return nil
	}
	data := make([]byte, at.Len)
	if _, err := f.ReadAt(data, at.Off); err != nil {
		return nil
	}
	idx, err := decodePackHead(bytes.NewReader(data), "", "")
	if err != nil {
		return nil
	}
	p := &nodePack{node: node, parts: [][]byte{data}, size: at.Len, idx: idx, remember: map[ImageKind]bool{}}
	for k, m := range idx {
		p.remember[k] = true
		p.secret = p.secret || m.Secret != ""
		if m.end() > at.Len {
			return nil
		}
	}
	return p
}
