package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/wwboot/wwboot/internal/compress"
)

// ImageKind is a node's system overlay (delivered at boot) or runtime
// overlay (also refreshed by wwclient while the node runs).
type ImageKind string

const (
	System  ImageKind = "system"
	Runtime ImageKind = "runtime"
)

// Base is the Warewulf file name of the kind's image.
func (k ImageKind) Base() string {
	if k == Runtime {
		return "__RUNTIME__"
	}
	return "__SYSTEM__"
}

// overlays is n's overlay list of kind k.
func (k ImageKind) overlays(n *Node) []string {
	if k == Runtime {
		return n.RuntimeOverlay
	}
	return n.SystemOverlay
}

// Formats are the forms an image is served in.
var Formats = []compress.Format{compress.None, compress.Gzip, compress.Zstd}

// storedFormats are the forms of a node's own and secret archives its
// pack holds: uncompressed only. The compressed forms are made from it
// when asked for (derive.go); shared archives, a few per cluster, are
// written in every form.
var storedFormats = []compress.Format{compress.None}

// Builder builds nodes' overlay archives under Dir
// (<wwprovisiondir>/overlays). Each node's image is two archives the
// kernel unpacks one after the other: a shared one holding what renders
// the same for every node using the same overlays (binaries, keys, a
// hosts file of every node), and the node's own with the rest. A build
// records everything it read, so an unchanged node is not rebuilt.
type Builder struct {
	Dir     string
	Workers int
	Log     *slog.Logger
	// NoSync skips the fsyncs that put what a build writes on disk
	// before it returns (tests).
	NoSync bool

	// OnDemandBuilds bounds the builds Artifact runs at once (0: 2).
	OnDemandBuilds int
	// DerivedMemory bounds the bytes of compressed forms Artifact made
	// from packs and keeps (derive.go; 0: 32 MiB, negative: none kept).
	DerivedMemory int64

	// mu guards the on-demand builds (ondemand.go): flights by node and
	// kind, those not started yet in order, and how many builds run.
	mu      sync.Mutex
	flights map[string]*flight
	pending []*flight
	running int
	// manifests caches the parsed manifests of packs by path and kind,
	// each valid while the file keeps its inode, size and modification
	// time (a build links a pack's name to a new batch, a new inode).
	manifests sync.Map // path + "\x00" + kind -> *cachedManifest
	// batches keeps the tables of the batches packs were read from.
	batches batchTables
	// carried is when this Builder last looked for batches to carry
	// (sparseBatches), in Unix nanoseconds.
	carried atomic.Int64
	// derived are the forms of archives made on demand (derive.go).
	derived derivedForms
	// builds counts the images Artifact built, waits the callers that
	// joined a build of the same image (tests and metrics read them).
	builds, waits atomic.Int64
	// swept is set once this Builder removed the temporary files an
	// interrupted build left (removeLeftovers).
	swept atomic.Bool
}

// Status is what a build did with one image.
type Status string

const (
	Built     Status = "built"
	Unchanged Status = "unchanged"
	Failed    Status = "failed"
)

// Result is the outcome for one node's image.
type Result struct {
	Node   string
	Kind   ImageKind
	Status Status
	Err    error
	// Bytes is the size of the node's own archive (uncompressed).
	Bytes int64
}

// manifest records a built image: what it was built from and where its
// archives are.
type manifest struct {
	Inputs string            `json:"inputs"`
	Reads  map[string]string `json:"reads,omitempty"`
	Output string            `json:"output"`
	// Shared is the sha256 of the shared archive unpacked first ("" when
	// the node's archive holds everything).
	Shared string `json:"shared,omitempty"`
	// Own is the sha256 of the node's own archive.
	Own string `json:"own"`
	// Secret is the sha256 of the archive of the node's secret files
	// (Entry.Secret), unpacked last; "" when it has none.
	Secret string `json:"secret,omitempty"`
	// Sections are where each form of the own and secret archives is in
	// the pack, by sectionName.
	Sections map[string]section `json:"sections"`
	// Bodies are the sha256 of the image as the daemon serves it, by
	// bodyKey of the format: recorded when the archives are written, so
	// that a node can tell bytes damaged on disk or on the way.
	Bodies map[string]bodySums `json:"bodies,omitempty"`

	// path is the pack the manifest was read from, and dataStart the
	// offset of its data, where the sections' offsets start (set when
	// read).
	path      string
	dataStart int64
}

// bodySums are the sha256 of a node's image in one format: its parts
// one after the other, and the same without the secret part.
type bodySums struct {
	All string `json:"all"`
	// Public is "" when the image has no secret part (All then).
	Public string `json:"public,omitempty"`
}

// bodyKey names format f in manifest.Bodies: the served file's suffix.
func bodyKey(f compress.Format) string { return "img" + f.Ext() }

// job is one node image to check and perhaps build.
type job struct {
	node     string
	kind     ImageKind
	overlays []string
	group    string
	old      *manifest
	inputs   string
	// force rewrites the archives even when the previous build wrote the
	// same ones, which repairs a damaged file.
	force bool
	// err, when set, fails the job before anything is read: its overlay
	// list could not be made (Snapshot.overlayList).
	err error
	// Set when rendered:
	tree  pathTree
	reads map[string]string
	res   Result
}

// Build brings the images of the named nodes (every node when none) of
// the given kinds up to date and reports each. force rebuilds unchanged
// images too. progress, when set, is called after each image.
func (b *Builder) Build(ctx context.Context, snap *Snapshot, names []string, kinds []ImageKind, force bool, progress func(done, total int)) ([]Result, error) {
	if len(names) == 0 {
		names = snap.NodeNames()
	}
	if err := os.MkdirAll(filepath.Join(b.Dir, sharedDir), 0o755); err != nil {
		return nil, fmt.Errorf("build overlays: %w", err)
	}
	lk, err := openLock(filepath.Join(b.Dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer lk.close()
	// Once per Builder (the daemon's first build), when no other build
	// runs (the lock taken exclusively): a temporary file here is then a
	// killed build's. Other builds are not waited for: this one holds the
	// lock shared, as they do, and a later one removes the leftovers.
	sweep := func() {
		if n, err := b.removeLeftovers(); err != nil {
			b.logger().Warn("removing files an interrupted build left", "err", err)
		} else {
			b.swept.Store(true)
			if n > 0 {
				b.logger().Info("removed files an interrupted build left", "files", n, "dir", b.Dir)
			}
		}
	}
	exclusive := false
	if !b.swept.Load() {
		if exclusive, err = lk.try(unix.LOCK_EX); err != nil {
			return nil, err
		}
	}
	if !exclusive {
		if err := lk.lock(ctx, unix.LOCK_SH); err != nil {
			return nil, err
		}
		if !b.swept.Load() {
			// Converting may drop the shared lock when it fails: taken
			// again below.
			if exclusive, err = lk.try(unix.LOCK_EX); err != nil {
				return nil, err
			}
		}
	}
	if exclusive {
		sweep()
	}
	if err := lk.lock(ctx, unix.LOCK_SH); err != nil {
		return nil, err
	}

	var jobs []*job
	for _, name := range names {
		n := snap.Node(name)
		if n == nil {
			return nil, fmt.Errorf("node %q does not exist", name)
		}
		for _, k := range kinds {
			list, err := snap.overlayList(k, n)
			jobs = append(jobs, &job{node: name, kind: k, overlays: list, group: groupKey(k, list), err: err})
		}
	}
	st := &buildState{b: b, snap: snap, entries: map[string]*Entry{}, files: newFileCache(), locks: &nodeLockSet{b: b}}
	if len(names) >= listFrom {
		st.listed = b.listNames()
	}
	defer st.locks.close()
	total, done := len(jobs), 0
	var progressMu sync.Mutex
	tick := func() {
		if progress == nil {
			return
		}
		progressMu.Lock()
		done++
		progress(done, total)
		progressMu.Unlock()
	}

	// Render what is stale.
	b.parallel(ctx, len(jobs), snap, st.files, func(r *renderers, i int) {
		j := jobs[i]
		if j.err != nil {
			j.res = Result{Node: j.node, Kind: j.kind, Status: Failed, Err: j.err}
			tick()
			return
		}
		if err := st.check(j, force); err != nil {
			j.res = Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err}
			tick()
			return
		}
		if j.res.Status == Unchanged {
			tick()
			return
		}
		if err := st.render(r, j); err != nil {
			j.res = Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err}
			tick()
		}
	})

	results := func() []Result {
		out := make([]Result, 0, len(jobs))
		for _, j := range jobs {
			out = append(out, j.res)
		}
		return out
	}
	// Nothing stale (the daemon's common case, every wwclient poll):
	// nothing to split, write or flush, unless batches are to be
	// carried (a copy of the directory that kept no hard links leaves a
	// whole batch for each node: the first build gathers them again).
	if !slices.ContainsFunc(jobs, func(j *job) bool { return j.tree != nil }) {
		if carry := b.sparseBatches(nil); len(carry) > 0 && ctx.Err() == nil {
			st.writeNodes(ctx, nil, nil, carry, tick, func() error { return nil })
			if st.syncErr != nil {
				return nil, st.syncErr
			}
		}
		return results(), ctx.Err()
	}

	// Split each group into shared and own archives, and write them.
	shared, writes, err := st.sharedSets(jobs)
	if err != nil {
		return nil, err
	}
	// The shared archives are written while the nodes' packs are made,
	// and are on disk before a pack that refers to them is linked.
	written := make(chan error, 1)
	go func() { written <- st.writeShared(writes) }()
	sharedWritten := sync.OnceValue(func() error { return <-written })
	// A node's images are written together, into its one pack.
	var nodes [][]*job
	at := map[string]int{}
	for _, j := range jobs {
		if j.tree == nil {
			continue
		}
		i, ok := at[j.node]
		if !ok {
			i = len(nodes)
			at[j.node] = i
			nodes = append(nodes, nil)
		}
		nodes[i] = append(nodes[i], j)
	}
	building := make(map[string]bool, len(nodes))
	for _, js := range nodes {
		building[js[0].node] = true
	}
	st.writeNodes(ctx, nodes, shared, b.sparseBatches(building), tick, sharedWritten)
	if err := sharedWritten(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.logger().Debug("overlay images rendered", "nodes", len(nodes), "archived", st.made.Load(), "taken from their packs", st.reused.Load())
	if st.syncErr != nil {
		return nil, st.syncErr
	}
	// Shared archives no image refers to are removed when no other build
	// runs (one that does may be about to refer to one); else a later
	// build removes them.
	if st.newShared {
		if ok, _ := lk.try(unix.LOCK_EX); ok {
			if err := b.collectShared(); err != nil {
				b.logger().Warn("removing unused shared archives", "err", err)
			}
		}
	}
	return results(), nil
}

func (b *Builder) logger() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

// renderers is one worker's state: a Renderer per overlay list and
// compressors reused from one small archive to the next.
type renderers struct {
	snap  *Snapshot
	files *fileCache
	byKey map[string]*Renderer
	enc   map[compress.Format]*compress.Encoder
}

func (r *renderers) encoder(f compress.Format) (*compress.Encoder, error) {
	if e, ok := r.enc[f]; ok {
		return e, nil
	}
	e, err := compress.NewEncoder(f, 0)
	if err != nil {
		return nil, err
	}
	if r.enc == nil {
		r.enc = map[compress.Format]*compress.Encoder{}
	}
	r.enc[f] = e
	return e, nil
}

func (r *renderers) get(overlays []string) (*Renderer, error) {
	key := strings.Join(overlays, ",")
	if x, ok := r.byKey[key]; ok {
		return x, nil
	}
	x, err := r.snap.Renderer(overlays...)
	if err != nil {
		return nil, err
	}
	x.files = r.files
	r.byKey[key] = x
	return x, nil
}

// parallel calls do for 0..n-1 on the Builder's workers, each with its
// own renderers, until ctx ends.
func (b *Builder) parallel(ctx context.Context, n int, snap *Snapshot, files *fileCache, do func(*renderers, int)) {
	workers := b.Workers
	if workers <= 0 {
		workers = 2
	}
	ch := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &renderers{snap: snap, files: files, byKey: map[string]*Renderer{}}
			for i := range ch {
				do(r, i)
			}
		}()
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		ch <- i
	}
	close(ch)
	wg.Wait()
}

// groupKey names the nodes that use the same overlays for a kind; they
// share one shared archive.
func groupKey(k ImageKind, overlays []string) string {
	sum := sha256.Sum256([]byte(string(k) + "\x00" + strings.Join(overlays, "\x00")))
	return hex.EncodeToString(sum[:8])
}

// buildState is shared by the workers of one build.
type buildState struct {
	b    *Builder
	snap *Snapshot

	// mu guards entries, files and sharedStates: written while the
	// nodes render, read (by both workers at once) while their images
	// are made.
	mu      sync.RWMutex
	entries map[string]*Entry // entry hash -> entry, so equal files are held once
	// files are the server files the build's templates read, read once
	// (fileCache).
	files *fileCache
	// sharedStates are the sha256 states after a shared archive's form,
	// by its path: every node of the group continues from it.
	sharedStates map[string][]byte
	newShared    bool
	// syncErr is the failure to put the batch's names on disk.
	syncErr error
	// listed are the names in the Builder's directory when the build
	// started (nil: not listed): a node with neither a pack nor a
	// directory of the layout before there has no image to check, and
	// two failing stats a job are saved. A pack another build writes
	// after the listing only makes this build build the node again.
	listed map[string]bool
	// assumePresent skips checking that every form of the archives is on
	// disk (Artifact checks the ones it serves).
	assumePresent bool
	// locks are the nodes' locks, taken to write their packs.
	locks *nodeLockSet
	// bufs are buffers for images' data, given back by the packs
	// written (buffer, release).
	bufMu sync.Mutex
	bufs  [][]byte
	// made and reused count the images written: archived anew, or taken
	// from the pack they replace (reuse).
	made, reused atomic.Int64
}

// check decides whether j's image is up to date: same inputs, same
// files read with the same content, archives present.
func (s *buildState) check(j *job, force bool) error {
	inputs, err := s.snap.inputsDigest(string(j.kind), j.node, j.overlays)
	if err != nil {
		return err
	}
	j.inputs, j.force = inputs, force
	if s.listed == nil || s.listed[j.node+packExt] || s.listed[j.node] {
		j.old = s.b.manifest(j.node, j.kind)
	}
	// An image built before bodies were recorded is built again, once,
	// so that the daemon can give its sha256; one in the layout before
	// packs held both images is built into the node's pack.
	if force || j.old == nil || j.old.Bodies == nil || j.old.path != packPath(s.b.Dir, j.node) || j.old.Inputs != inputs || !s.readsCurrent(j.old.Reads) || (!s.assumePresent && !s.present(j.old)) {
		return nil
	}
	j.res = Result{Node: j.node, Kind: j.kind, Status: Unchanged, Bytes: j.old.uncompressed()}
	return nil
}

// listFrom is how many nodes a build has before it lists the directory
// rather than look each node's pack up: one getdents pass costs about
// what a few dozen failing stats do.
const listFrom = 64

// listNames returns the names in the Builder's directory, or nil when it
// cannot be read (every node is then looked up).
func (b *Builder) listNames() map[string]bool {
	entries, err := os.ReadDir(b.Dir)
	if err != nil {
		return nil
	}
	names := make(map[string]bool, len(entries))
	for _, e := range entries {
		names[e.Name()] = true
	}
	return names
}

// uncompressed is the size of the node's own and secret archives.
func (m *manifest) uncompressed() int64 {
	return m.Sections[sectionName(false, compress.None)].Len + m.Sections[sectionName(true, compress.None)].Len
}

// readsCurrent reports whether every file a rendering read still has the
// content it had.
func (s *buildState) readsCurrent(reads map[string]string) bool {
	e := env{sysconfdir: s.snap.opts.Sysconfdir, chrootdir: s.snap.opts.Chrootdir, hostRoot: s.snap.opts.HostRoot}
	files := s.fileCache()
	for key, want := range reads {
		var got string
		if p, isLink := strings.CutPrefix(key, "link:"); isLink {
			target, _ := files.link(e, p)
			sum := sha256.Sum256([]byte(target))
			got = hex.EncodeToString(sum[:])
		} else {
			_, got, _ = files.read(key)
		}
		if got != want {
			return false
		}
	}
	return true
}

// fileCache returns the build's cache of the files templates read.
func (s *buildState) fileCache() *fileCache {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = newFileCache()
	}
	return s.files
}

// present reports whether the shared archive m refers to is there in
// every form (the pack m was read from holds the rest: Builder.manifest
// checked its length).
func (s *buildState) present(m *manifest) bool {
	if m.Shared != "" {
		for _, f := range Formats {
			if _, err := os.Stat(s.b.sharedPath(m.Shared, f)); err != nil {
				return false
			}
		}
	}
	return true
}

func (s *buildState) render(rs *renderers, j *job) error {
	r, err := rs.get(j.overlays)
	if err != nil {
		return err
	}
	out, err := r.Render(s.snap.Node(j.node), "", j.overlays)
	if err != nil {
		return fmt.Errorf("node %s: %w", j.node, err)
	}
	// Not nil, even empty: the job was rendered.
	j.tree = make(pathTree, 0, len(out.Tree))
	j.reads = out.Reads
	for p, e := range out.Tree {
		j.tree = append(j.tree, treeItem{path: p, hash: entryHash(e)})
	}
	s.mu.Lock()
	for _, it := range j.tree {
		if _, ok := s.entries[it.hash]; !ok {
			s.entries[it.hash] = out.Tree[it.path]
		}
	}
	s.mu.Unlock()
	slices.SortFunc(j.tree, func(a, b treeItem) int { return strings.Compare(a.path, b.path) })
	return nil
}

// pathTree is a node's rendered tree as a build keeps it until its image
// is made: each path, in order, with its entry's hash. A thousand nodes'
// trees are in memory at once, and a sorted slice takes half the space
// of a map (first touches of memory are much of a build's cost) and is
// walked in order without sorting it.
type pathTree []treeItem

type treeItem struct{ path, hash string }

// hash returns the hash of the entry at p, or "" when t has none.
func (t pathTree) hash(p string) string {
	if i, ok := slices.BinarySearchFunc(t, p, func(it treeItem, p string) int { return strings.Compare(it.path, p) }); ok {
		return t[i].hash
	}
	return ""
}

// entryHash is the sha256, in hex, of everything about e that makes the
// file it unpacks to: its path, kind, mode, owner, target and data, each
// but the data followed by a NUL (kind, owner in decimal, mode in octal).
func entryHash(e *Entry) string {
	if e.sum != "" {
		return e.sum
	}
	var buf [256]byte
	b := append(buf[:0], e.Path...)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(e.Kind), 10)
	b = append(b, 0)
	b = strconv.AppendUint(b, uint64(e.Mode), 8)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(e.UID), 10)
	b = append(b, 0)
	b = strconv.AppendInt(b, int64(e.GID), 10)
	b = append(b, 0)
	b = append(b, e.Target...)
	b = append(b, 0)
	h := sha256.New()
	h.Write(b)
	h.Write(e.Data)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

const sharedDir = ".shared"
