package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
)

// sharedSet is what a group's shared archive holds.
type sharedSet struct {
	Archive string            `json:"archive"`
	Entries map[string]string `json:"entries"` // path -> entry hash
}

func (b *Builder) sharedPath(sum string, f compress.Format) string {
	return filepath.Join(b.Dir, sharedDir, sum+".img"+f.Ext())
}

// sharedSets works out each group's shared archive. When this build
// rendered every node of a group (two or more), the shared part is what
// all of them render identically; otherwise the group keeps the shared
// archive it has, and whatever a node renders differently goes into its
// own archive, which is unpacked after the shared one and so wins.
// The archives and manifests to write are returned, for writeShared:
// the nodes' images are made meanwhile, from the hash states kept here.
func (s *buildState) sharedSets(jobs []*job) (map[string]*sharedSet, []sharedWrite, error) {
	members := s.snap.groupSizes()
	rendered := map[string][]*job{}
	for _, j := range jobs {
		if j.tree != nil {
			rendered[j.group] = append(rendered[j.group], j)
		}
	}
	out := map[string]*sharedSet{}
	var writes []sharedWrite
	for _, j := range jobs {
		if _, done := out[j.group]; done || j.tree == nil {
			continue
		}
		manifestPath := filepath.Join(s.b.Dir, sharedDir, j.group+".json")
		rs := rendered[j.group]
		if len(rs) < 2 || len(rs) < members[j.group] {
			set := &sharedSet{}
			// The group's archive, when it is there in every form: else
			// the nodes rendered get everything in their own archives.
			if data, err := os.ReadFile(manifestPath); err == nil && json.Unmarshal(data, set) == nil && set.Archive != "" &&
				s.present(&manifest{Shared: set.Archive}) {
				out[j.group] = set
			} else {
				out[j.group] = nil
			}
			continue
		}
		// What every node has the same, secret files aside (they never
		// go into an archive other nodes share): the trees are sorted,
		// each is walked once beside what is common so far.
		var shared pathTree
		for _, it := range rs[0].tree {
			if !s.secret(it.hash) {
				shared = append(shared, it)
			}
		}
		for _, other := range rs[1:] {
			shared = intersect(shared, other.tree)
		}
		if len(shared) == 0 {
			out[j.group] = nil
			continue
		}
		common := make(map[string]string, len(shared))
		for _, it := range shared {
			common[it.path] = it.hash
		}
		data, err := s.appendArchive(nil, shared)
		if err != nil {
			return nil, nil, err
		}
		sum := sha256.Sum256(data)
		set := &sharedSet{Archive: hex.EncodeToString(sum[:]), Entries: common}
		js, err := json.Marshal(set)
		if err != nil {
			return nil, nil, err
		}
		w := sharedWrite{sum: set.Archive, manifestPath: manifestPath, manifest: js}
		_, err = os.Stat(s.b.sharedPath(set.Archive, compress.Zstd))
		if forced := slices.ContainsFunc(rs, func(j *job) bool { return j.force }); err != nil || forced {
			w.archive = data
			s.newShared = true
		}
		if err := s.keepSharedStates(set.Archive, data); err != nil {
			return nil, nil, err
		}
		writes = append(writes, w)
		out[j.group] = set
	}
	return out, writes, nil
}

// sharedWrite is what sharedSets leaves to write of a group's shared
// archive: the archive when new (nil: it is there in every form), and
// its manifest.
type sharedWrite struct {
	sum          string
	archive      []byte
	manifestPath string
	manifest     []byte
}

// writeShared writes the shared archives and manifests sharedSets
// worked out, synced unless the Builder is told not to: they are on disk
// before any node's pack that refers to them is linked.
func (s *buildState) writeShared(writes []sharedWrite) error {
	create := atomicfile.CreateSynced
	if s.b.NoSync {
		create = atomicfile.Create
	}
	for _, w := range writes {
		if w.archive != nil {
			forms, err := s.b.forms(w.archive, Formats)
			if err != nil {
				return err
			}
			// In the order of Formats: zstd's form last, so that its
			// presence (what sharedSets looks for) means all are there.
			for i, f := range Formats {
				if err := create(s.b.sharedPath(w.sum, f), forms[i], archivePerm); err != nil {
					return err
				}
			}
		}
		if err := s.b.replace(w.manifestPath, w.manifest, archivePerm); err != nil {
			return err
		}
	}
	return nil
}

// keepSharedStates keeps the sha256 state after each stored form of the
// shared archive sum (sharedHash), made from its data rather than read
// from the files, which may not be written yet.
func (s *buildState) keepSharedStates(sum string, data []byte) error {
	forms, err := s.b.forms(data, storedFormats)
	if err != nil {
		return err
	}
	for i, f := range storedFormats {
		h := sha256.New()
		h.Write(forms[i])
		if err := s.keepState(s.b.sharedPath(sum, f), h); err != nil {
			return err
		}
	}
	return nil
}

// keepState keeps h's state as that after the shared archive form at p.
func (s *buildState) keepState(p string, h hash.Hash) error {
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return fmt.Errorf("shared archive %s: %w", p, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sharedStates == nil {
		s.sharedStates = map[string][]byte{}
	}
	s.sharedStates[p] = state
	return nil
}

// image is one image a build made, before it is in its pack: its
// manifest and data, the manifest's sections pointing into data.
type image struct {
	kind ImageKind
	j    *job // nil for an image kept from the pack replaced
	m    *manifest
	data []byte
}

// nodePack is one node's pack as a build made it, before it is written
// into the build's batch.
type nodePack struct {
	node  string
	parts [][]byte // the pack's head, then its images' data
	size  int64
	idx   packIndex // dataStart from the start of the pack
	// remember are the kinds whose manifests the Builder keeps once the
	// pack is written (Builder.remember).
	remember map[ImageKind]bool
	secret   bool
	// legacy: the node had no pack; its directory of the layout before
	// goes once it has one.
	legacy bool
	jobs   []*job // its images built here; nil for a pack carried
	// off is where the batch holds it, err why it could not be written
	// there (batchWriter).
	off int64
	err error
	// bufs are the build's buffers its parts are in, given back once
	// it is written.
	bufs [][]byte
}

// prepare makes a node's pack (js, the jobs of one node this build
// rendered), its node's lock held: for each image, its own archive,
// every entry that is not in the shared archive as it is, and its
// secret archive, in every stored form, or, when the pack holds that
// very output already, the pack's (reuse). The kind the build did not
// render (or failed to) is kept as the pack it replaces holds it. It
// sets each job's result, and returns nil when the node's pack stays as
// it is.
func (s *buildState) prepare(w *renderers, js []*job, shared map[string]*sharedSet) *nodePack {
	fail := func(err error) {
		for _, j := range js {
			j.res = Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err}
		}
	}
	node := js[0].node
	// What is there now: the images checked, or those another build
	// (wwctl overlay build beside the daemon) wrote since.
	cur := readPack(&s.b.batches, packPath(s.b.Dir, node), "", "")
	// The buffers of the images made here go back to the build unless
	// the pack returned holds them (batchWriter.put gives them back).
	var bufs [][]byte
	var p *nodePack
	defer func() {
		if p == nil {
			s.release(bufs)
		}
	}()
	imgs := make([]image, 0, len(js))
	for _, j := range js {
		// Worked out once for both: the shared archive the image uses
		// and the digest of what it holds.
		sharedSum, output := sharedFor(j, shared[j.group]), outputDigest(j.tree)
		img, ok := s.reuse(j, cur[j.kind], sharedSum, output)
		if ok {
			s.reused.Add(1)
		} else {
			var err error
			if img, err = s.image(w, j, shared[j.group], sharedSum, output); err != nil {
				j.res = Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err}
				continue
			}
			bufs = append(bufs, img.data)
			s.made.Add(1)
		}
		imgs = append(imgs, img)
	}
	if len(imgs) == 0 {
		return nil
	}
	changed := false
	for _, img := range imgs {
		j, m := img.j, img.m
		j.res = Result{Node: j.node, Kind: j.kind, Status: Built, Bytes: int64(len(img.data))}
		if j.old != nil && j.old.Own == m.Own && j.old.Shared == m.Shared && j.old.Secret == m.Secret {
			j.res.Status = Unchanged
		}
		// When the pack holds this very image, it stays.
		c := cur[j.kind]
		if c == nil || j.force || c.Inputs != m.Inputs || c.Output != m.Output || c.Shared != m.Shared ||
			c.Own != m.Own || c.Secret != m.Secret || c.Bodies == nil || !maps.Equal(c.Reads, m.Reads) || !s.present(c) {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	// The kind not built here is copied from the pack replaced.
	built := map[ImageKind]bool{}
	for _, img := range imgs {
		built[img.j.kind] = true
	}
	for _, k := range []ImageKind{System, Runtime} {
		if built[k] {
			continue
		}
		c := cur[k]
		if cur == nil {
			c = s.b.manifest(node, k) // the layout before
		}
		if c != nil {
			m, data, err := imageBytes(c)
			if err != nil {
				fail(fmt.Errorf("node %s: keep its %s overlay image: %w", node, k, err))
				return nil
			}
			imgs = append(imgs, image{kind: k, m: m, data: data})
		}
	}
	// A directory of the layout before is never made again: when the
	// build listed the directory without it, there is none to remove.
	legacy := cur == nil && (s.listed == nil || s.listed[node])
	pk := &nodePack{node: node, idx: packIndex{}, remember: built, legacy: legacy, jobs: js, bufs: bufs}
	pk.parts = make([][]byte, 1, 1+len(imgs))
	var size int64
	for _, img := range imgs {
		for name, sec := range img.m.Sections {
			img.m.Sections[name] = section{Off: size + sec.Off, Len: sec.Len}
		}
		size += int64(len(img.data))
		pk.parts = append(pk.parts, img.data)
		pk.idx[img.kind] = img.m
		pk.secret = pk.secret || img.m.Secret != ""
	}
	head := packHead(pk.idx)
	pk.parts[0] = head
	pk.size = int64(len(head)) + size
	for _, m := range pk.idx {
		m.dataStart = int64(len(head))
	}
	p = pk
	return p
}

// writeNodes writes the packs of the nodes this build rendered (each of
// nodes is one node's jobs) into one batch, holding their locks, and
// links each node's pack name to it; the packs of the nodes carry names
// (sparseBatches) are carried into it. tick is called once a job is
// done. sharedWritten waits for the shared archives the packs refer to
// to be written; when they could not be, no name is linked (and the
// build fails with that error). It sets each job's result.
func (s *buildState) writeNodes(ctx context.Context, nodes [][]*job, shared map[string]*sharedSet, carry map[string]uint64, tick func(), sharedWritten func() error) {
	locked := make([]string, 0, len(nodes)+len(carry))
	for _, js := range nodes {
		locked = append(locked, js[0].node)
	}
	locked = slices.AppendSeq(locked, maps.Keys(carry))
	failAll := func(err error) {
		for _, js := range nodes {
			for _, j := range js {
				j.res = Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err}
				tick()
			}
		}
	}
	unlock, err := s.locks.lockAll(ctx, locked)
	if err != nil {
		failAll(err)
		return
	}
	defer unlock()
	w, err := s.newBatch(locked)
	if err != nil {
		failAll(err)
		return
	}
	s.b.parallel(ctx, len(nodes), s.snap, s.files, func(r *renderers, i int) {
		w.put(i, s.prepare(r, nodes[i], shared))
		for range nodes[i] {
			tick()
		}
	})
	for i, p := range s.b.carryPacks(carry) {
		w.put(len(nodes)+i, p)
	}
	if sharedWritten() != nil {
		w.tmp.Remove()
		return
	}
	w.finish(ctx)
}

// batchWriter writes a build's packs into a new batch as they are made,
// in the order of their indices whatever order they come in, so that
// the same build makes the same batch. A pack's data is dropped once it
// is written: the packs of thousands of nodes are never all in memory.
// The table, written last at the start, has room for every node the
// build may write; the room the nodes left as they were do not take is
// left as zeros.
type batchWriter struct {
	s   *buildState
	tmp *atomicfile.Temp

	mu    sync.Mutex
	next  int               // index of the next pack to place
	off   int64             // where it goes
	done  map[int]*nodePack // put but not placed (nil: no pack)
	packs []*nodePack       // placed, in order
	// flushed is how far the batch has been given to the disk to
	// write (writebackEvery).
	flushed int64
}

// writebackEvery is how much of a batch is written before the disk is
// told to start writing it, when the build syncs: the sync at the end
// then waits for the last part only, not for the whole batch.
const writebackEvery = 1 << 20

// newBatch starts a batch for the packs of nodes, or of some of them.
func (s *buildState) newBatch(nodes []string) (*batchWriter, error) {
	tmp, err := atomicfile.NewTemp(filepath.Join(s.b.Dir, "batch"+packExt))
	if err != nil {
		return nil, err
	}
	return &batchWriter{s: s, tmp: tmp, off: batchHeadSize(nodes), done: map[int]*nodePack{}}, nil
}

// put hands over the pack of index i, or nil for none, and writes it
// and the packs after it that waited for it. Each index from 0 up is
// put once, from any goroutine.
func (w *batchWriter) put(i int, p *nodePack) {
	w.mu.Lock()
	w.done[i] = p
	var ready []*nodePack
	from := w.off
	for {
		q, ok := w.done[w.next]
		if !ok {
			break
		}
		delete(w.done, w.next)
		w.next++
		if q == nil {
			continue
		}
		q.off = w.off
		w.off += q.size
		w.packs = append(w.packs, q)
		ready = append(ready, q)
	}
	// The packs before from are written (or being written by another
	// worker, which the sync at the end waits for anyway).
	var flush, upTo int64
	if !w.s.b.NoSync && from-w.flushed >= writebackEvery {
		flush, upTo = w.flushed, from
		w.flushed = from
	}
	w.mu.Unlock()
	if upTo > flush {
		w.tmp.StartWriteback(flush, upTo-flush)
	}
	// Written outside the lock: each pack has its place, and the other
	// workers go on making theirs.
	for _, q := range ready {
		q.err = w.tmp.WriteAt(q.parts, q.off)
		q.parts = nil
		w.s.release(q.bufs)
		q.bufs = nil
	}
}

// maxBuffers bounds the buffers a build keeps for the images it makes.
const maxBuffers = 32

// buffer returns an empty buffer for an image's data: one given back
// (release) by a pack written, so that a build of thousands of nodes
// does not allocate the bytes of every image anew.
func (s *buildState) buffer() []byte {
	s.bufMu.Lock()
	defer s.bufMu.Unlock()
	if n := len(s.bufs); n > 0 {
		b := s.bufs[n-1]
		s.bufs = s.bufs[:n-1]
		return b[:0]
	}
	return nil
}

// release gives back buffers that buffer returned, once nothing refers
// to their bytes.
func (s *buildState) release(bufs [][]byte) {
	s.bufMu.Lock()
	defer s.bufMu.Unlock()
	for _, b := range bufs {
		if len(s.bufs) < maxBuffers && cap(b) > 0 {
			s.bufs = append(s.bufs, b)
		}
	}
}

// finish writes the table of the packs written, puts the batch on disk
// and links each node's pack name to it. A node whose pack could not be
// written or linked fails. Once ctx has ended, the batch is removed.
func (w *batchWriter) finish(ctx context.Context) {
	s := w.s
	fail := func(p *nodePack, err error) {
		for _, j := range p.jobs {
			j.res = Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err}
		}
	}
	var packs []*nodePack
	var entries []batchEntry
	perm := archivePerm
	for _, p := range w.packs {
		if p.err != nil {
			fail(p, p.err)
			continue
		}
		packs = append(packs, p)
		entries = append(entries, batchEntry{node: p.node, pack: section{Off: p.off, Len: p.size}})
		if p.secret {
			perm = secretPerm
		}
	}
	if ctx.Err() != nil || len(packs) == 0 {
		w.tmp.Remove()
		return
	}
	// The batch is on disk before a name links to it, and the names
	// are once the directory is synced below: what the build wrote,
	// and nothing else of the filesystem (syncfs would wait for every
	// other writer's data too, an image build's gigabytes included).
	err := w.tmp.WriteAt([][]byte{batchHead(entries)}, 0)
	var tmp string
	if err == nil {
		tmp, err = w.tmp.Finish(perm, !s.b.NoSync)
	} else {
		w.tmp.Remove()
	}
	if err != nil {
		for _, p := range packs {
			fail(p, err)
		}
		return
	}
	defer os.Remove(tmp)
	st, statErr := os.Stat(tmp)
	link := func(i int) {
		p := packs[i]
		path := packPath(s.b.Dir, p.node)
		if err := atomicfile.Link(tmp, path); err != nil {
			fail(p, err)
			return
		}
		// The index just written is the one the daemon's next check and
		// collectShared read: keep it, for the file as it is now (no
		// other build replaces it while this one holds the node's lock).
		for _, m := range p.idx {
			m.path, m.dataStart = path, entries[i].pack.Off+m.dataStart
		}
		if statErr == nil {
			s.b.remember(path, st, p.idx, p.remember)
		}
		// A node built before packs held both images has a directory of
		// its own, which nothing reads any more.
		if p.legacy {
			removeNodeDir(filepath.Join(s.b.Dir, p.node))
		}
	}
	// Each pack's name is its own: linked on the build's workers.
	spread(s.b.Workers, len(packs), link)
	if !s.b.NoSync {
		s.syncErr = atomicfile.SyncDir(s.b.Dir)
	}
}

// removeNodeDir deletes what builds wrote in a node's directory before a
// node's images were one pack beside the others (a pack per kind; before
// that an archive per form, a manifest and a link; and the temporary
// files of a build killed while writing them), and the directory when
// nothing else is in it. The caller holds the node's lock.
func removeNodeDir(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		for _, base := range []string{System.Base(), Runtime.Base()} {
			if strings.HasPrefix(n, base+".") || strings.HasPrefix(n, "."+base+".") && strings.Contains(n, ".tmp-") {
				_ = os.Remove(filepath.Join(dir, n))
			}
		}
	}
	_ = os.Remove(dir) // fails, as it should, when something else is left
}

// sharedFor is the shared archive j's image uses: shared's, unless the
// node lacks a file it has (cpio cannot delete), when the node gets
// everything in its own archive ("").
func sharedFor(j *job, shared *sharedSet) string {
	if shared == nil {
		return ""
	}
	for p := range shared.Entries {
		if j.tree.hash(p) == "" {
			return ""
		}
	}
	return shared.Archive
}

// reuse returns, when the pack holds j's output already (c, read under
// the node's lock: the same entries, output, split the same way around
// the same shared archive, sharedSum, in the forms stored today), that
// image with j's inputs, read from the pack instead of archived,
// compressed and summed again.
// That is a rebuild after a change that renders the same for this node
// (a template edited for other nodes, a setting it does not read). A
// forced build, which repairs damaged packs, makes every image anew.
func (s *buildState) reuse(j *job, c *manifest, sharedSum, output string) (image, bool) {
	if j.force || c == nil || c.Bodies == nil || c.Output != output || c.Shared != sharedSum || !s.present(c) || !storedForms(c) {
		return image{}, false
	}
	m, data, err := imageBytes(c)
	if err != nil {
		return image{}, false // made anew
	}
	m.Inputs, m.Reads = j.inputs, j.reads
	return image{kind: j.kind, j: j, m: m, data: data}, true
}

// storedForms reports whether m's sections are the forms image makes
// today: each of storedFormats of its own archive, and of its secret one
// when it has one.
func storedForms(m *manifest) bool {
	n := 0
	for _, a := range []struct {
		secret bool
		sum    string
	}{{false, m.Own}, {true, m.Secret}} {
		if a.sum == "" {
			continue
		}
		for _, f := range storedFormats {
			if _, ok := m.Sections[sectionName(a.secret, f)]; !ok {
				return false
			}
			n++
		}
	}
	return n == len(m.Sections)
}

// image makes j's image: its archives and their manifest, with the
// sha256 of the image as served in each format. sharedSum is
// sharedFor(j, shared), output the digest of j's tree.
func (s *buildState) image(w *renderers, j *job, shared *sharedSet, sharedSum, output string) (image, error) {
	// Both in the order of the paths, as the tree is.
	var own, secret pathTree
	s.mu.RLock()
	for _, it := range j.tree {
		switch e := s.entries[it.hash]; {
		case e != nil && e.Secret():
			secret = append(secret, it)
		case sharedSum == "" || shared.Entries[it.path] != it.hash:
			own = append(own, it)
		}
	}
	s.mu.RUnlock()
	m := &manifest{Inputs: j.inputs, Reads: j.reads, Output: output, Shared: sharedSum, Sections: map[string]section{}}
	// The data is the own archive then the secret one, uncompressed,
	// archived one after the other into one buffer; other stored forms
	// follow.
	data := s.buffer()
	var ownLen int
	if len(own) > 0 || sharedSum == "" {
		var err error
		if data, err = s.appendArchive(data, own); err != nil {
			return image{}, err
		}
		ownLen = len(data)
		sum := sha256.Sum256(data)
		m.Own = hex.EncodeToString(sum[:])
	}
	if len(secret) > 0 {
		var err error
		if data, err = s.appendArchive(data, secret); err != nil {
			return image{}, err
		}
		sum := sha256.Sum256(data[ownLen:])
		m.Secret = hex.EncodeToString(sum[:])
	}
	raw := data
	for _, a := range []struct {
		secret   bool
		sum      string
		from, to int
	}{{false, m.Own, 0, ownLen}, {true, m.Secret, ownLen, len(raw)}} {
		if a.sum == "" {
			continue
		}
		for _, f := range storedFormats {
			if f == compress.None {
				m.Sections[sectionName(a.secret, f)] = section{Off: int64(a.from), Len: int64(a.to - a.from)}
				continue
			}
			out, err := compressed(raw[a.from:a.to], f, w)
			if err != nil {
				return image{}, err
			}
			m.Sections[sectionName(a.secret, f)] = section{Off: int64(len(data)), Len: int64(len(out))}
			data = append(data, out...)
		}
	}
	// The sums of an image the node's pack holds already are kept, unless
	// the build is forced, which repairs a damaged pack.
	if o := j.old; o != nil && !j.force && o.Bodies != nil && o.Shared == m.Shared && o.Own == m.Own && o.Secret == m.Secret &&
		len(o.Sections) == len(m.Sections) {
		m.Bodies = o.Bodies
	} else {
		var err error
		if m.Bodies, err = s.bodies(m, data); err != nil {
			return image{}, err
		}
	}
	return image{kind: j.kind, j: j, m: m, data: data}, nil
}

// secret reports whether the entry with hash h is a secret file.
func (s *buildState) secret(h string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.entries[h]
	return e != nil && e.Secret()
}

// Modes of the archives and packs a build writes. None is
// world-readable: only the daemon (root) serves them, and a shared or
// own archive still shows what a node is given (its hosts, its
// addresses) to whoever logs in on the server. A batch holding a secret
// archive is root's alone.
const (
	archivePerm os.FileMode = 0o640
	secretPerm  os.FileMode = 0o600
)

// intersect keeps, in place, the items of a that b has too (same path,
// same hash); both are in the order of their paths.
func intersect(a, b pathTree) pathTree {
	out, j := a[:0], 0
	for _, it := range a {
		for j < len(b) && b[j].path < it.path {
			j++
		}
		if j < len(b) && b[j] == it {
			out = append(out, it)
		}
	}
	return out
}

// appendArchive writes the entries (by hash, in the order of their
// paths) as a reproducible cpio archive after buf, which it returns
// grown, adding the directories above them so that it unpacks on its
// own.
func (s *buildState) appendArchive(buf []byte, items pathTree) ([]byte, error) {
	s.mu.RLock()
	entries := make([]*Entry, len(items))
	for i, it := range items {
		entries[i] = s.entries[it.hash]
	}
	s.mu.RUnlock()
	// The directories above the entries that are not entries: once each
	// (going up stops at one that is an entry or was added, whose own
	// parents are seen to already).
	var dirs []*Entry
	var added map[string]bool
	for _, it := range items {
		for dir := path.Dir(it.path); dir != "." && dir != "/"; dir = path.Dir(dir) {
			if added[dir] || items.hash(dir) != "" {
				break
			}
			if added == nil {
				added = map[string]bool{}
			}
			added[dir] = true
			dirs = append(dirs, &Entry{Path: dir, Kind: KindDir, Mode: 0o755})
		}
	}
	all := entries
	if len(dirs) > 0 {
		slices.SortFunc(dirs, func(a, b *Entry) int { return strings.Compare(a.Path, b.Path) })
		all = make([]*Entry, 0, len(entries)+len(dirs))
		i, j := 0, 0
		for i < len(entries) || j < len(dirs) {
			if j == len(dirs) || i < len(entries) && entries[i].Path < dirs[j].Path {
				all = append(all, entries[i])
				i++
			} else {
				all = append(all, dirs[j])
				j++
			}
		}
	}
	// The archive's size, near enough: a header and padding per entry
	// besides its name and data.
	size := 512
	for _, e := range all {
		size += 128 + len(e.Path) + len(e.Data) + len(e.Target)
	}
	out := bytes.NewBuffer(slices.Grow(buf, size))
	w := cpio.NewWriter(out)
	for _, e := range all {
		var err error
		switch e.Kind {
		case KindDir:
			err = w.AddDir(e.Path, e.Mode, uint32(e.UID), uint32(e.GID))
		case KindSymlink:
			err = w.AddSymlink(e.Path, e.Target, uint32(e.UID), uint32(e.GID))
		default:
			err = w.AddFile(e.Path, e.Mode, uint32(e.UID), uint32(e.GID), e.Data)
		}
		if err != nil {
			return nil, fmt.Errorf("archive %s: %w", e.Path, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// replace replaces the file at path with data, on disk when it returns
// unless the Builder is told not to sync.
func (b *Builder) replace(path string, data []byte, perm os.FileMode) error {
	if b.NoSync {
		return atomicfile.Replace(path, data, perm)
	}
	return atomicfile.WriteFile(path, data, perm)
}

// forms returns data in each of formats, in their order.
func (b *Builder) forms(data []byte, formats []compress.Format) ([][]byte, error) {
	out := make([][]byte, 0, len(formats))
	for _, f := range formats {
		form := data
		if f != compress.None {
			// Pooled one-shot encoders: a streaming zstd writer
			// allocates its window and job buffers (16 MB) each time.
			var err error
			if form, err = b.derived.compress(data, f); err != nil {
				return nil, err
			}
		}
		out = append(out, form)
	}
	return out, nil
}

// bodies works out the sha256 of the image m describes in every format,
// as the daemon serves it: the shared archive, then the own and secret
// archives from data (the pack's data).
func (s *buildState) bodies(m *manifest, data []byte) (map[string]bodySums, error) {
	out := make(map[string]bodySums, len(storedFormats))
	for _, f := range storedFormats {
		h, err := s.sharedHash(m.Shared, f)
		if err != nil {
			return nil, err
		}
		if m.Own != "" {
			b, _ := m.sectionBytes(data, false, f)
			h.Write(b)
		}
		var b bodySums
		if m.Secret != "" {
			b.Public = hex.EncodeToString(h.Sum(nil))
			sec, _ := m.sectionBytes(data, true, f)
			h.Write(sec)
		}
		b.All = hex.EncodeToString(h.Sum(nil))
		out[bodyKey(f)] = b
	}
	return out, nil
}

// sharedHash returns a sha256 that has hashed the shared archive sum's
// form f (none when sum is ""). Each form is read once a build: the
// state after it is kept for the group's other nodes.
func (s *buildState) sharedHash(sum string, f compress.Format) (hash.Hash, error) {
	h := sha256.New()
	if sum == "" {
		return h, nil
	}
	p := s.b.sharedPath(sum, f)
	s.mu.RLock()
	state, ok := s.sharedStates[p]
	s.mu.RUnlock()
	if ok {
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
			return nil, fmt.Errorf("shared archive %s: %w", p, err)
		}
		return h, nil
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	h.Write(data)
	if err := s.keepState(p, h); err != nil {
		return nil, err
	}
	return h, nil
}

func compressed(data []byte, f compress.Format, w *renderers) ([]byte, error) {
	if f == compress.None {
		return data, nil
	}
	e, err := w.encoder(f)
	if err != nil {
		return nil, err
	}
	return e.Encode(data)
}

// outputDigest is the sha256, in hex, of a node's rendered tree: each
// path and its entry's hash, in the order of the paths, each followed by
// a NUL.
func outputDigest(tree pathTree) string {
	// Hashed a few kilobytes at a time, from a buffer that stays on the
	// stack.
	h := sha256.New()
	var buf [4096]byte
	b := buf[:0]
	for _, it := range tree {
		if len(b)+len(it.path)+len(it.hash)+2 > len(buf) {
			h.Write(b)
			b = buf[:0]
		}
		b = append(b, it.path...)
		b = append(b, 0)
		b = append(b, it.hash...)
		b = append(b, 0)
	}
	h.Write(b)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// removeLeftovers deletes the temporary files a build that was killed
// left beside the packs and in the shared directory: atomicfile's
// ".NAME.tmp-*" (and, from builds before packs held both images, the
// same in node directories and replaceSymlink's "NAME.tmp" links). Call it
// only while holding the build lock. It returns how many it removed.
func (b *Builder) removeLeftovers() (int, error) {
	dirs, err := os.ReadDir(b.Dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
	sweep := func(dir string, entries []os.DirEntry) {
		for _, e := range entries {
			n := e.Name()
			temp := strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-") && !e.IsDir()
			link := strings.HasSuffix(n, ".tmp") && e.Type()&fs.ModeSymlink != 0
			if !temp && !link {
				continue
			}
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
				continue
			}
			removed++
		}
	}
	sweep(b.Dir, dirs)
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		dir := filepath.Join(b.Dir, d.Name())
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sweep(dir, entries)
	}
	return removed, errors.Join(errs...)
}

// collectShared removes shared archives no group or node refers to.
func (b *Builder) collectShared() error {
	used := map[string]bool{}
	sd := filepath.Join(b.Dir, sharedDir)
	groups, _ := filepath.Glob(filepath.Join(sd, "*.json"))
	for _, g := range groups {
		set := &sharedSet{}
		if data, err := os.ReadFile(g); err == nil && json.Unmarshal(data, set) == nil {
			used[set.Archive] = true
		}
	}
	// Only an archive no group uses now may be unused: the nodes' packs
	// are read when there is one (after a full build there is none).
	files, err := os.ReadDir(sd)
	if err != nil {
		return err
	}
	var unused []string
	for _, f := range files {
		name := f.Name()
		if strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		if sum, _, _ := strings.Cut(name, "."); !used[sum] {
			unused = append(unused, name)
		}
	}
	if len(unused) == 0 {
		return nil
	}
	nodes, err := os.ReadDir(b.Dir)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		node, ok := packNode(n)
		if !ok && n.IsDir() && !strings.HasPrefix(n.Name(), ".") {
			node = n.Name() // a node in the layout before
		} else if !ok {
			continue
		}
		for _, k := range []ImageKind{System, Runtime} {
			if m := b.manifest(node, k); m != nil && m.Shared != "" {
				used[m.Shared] = true
			}
		}
	}
	var errs []error
	for _, name := range unused {
		if sum, _, _ := strings.Cut(name, "."); !used[sum] {
			if err := os.Remove(filepath.Join(sd, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
