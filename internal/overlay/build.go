package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
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

// Formats are the forms every archive is written in.
var Formats = []compress.Format{compress.None, compress.Gzip, compress.Zstd}

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
	// NoSync skips flushing the build to disk at its end (tests).
	NoSync bool

	mu      sync.Mutex
	flights map[string]*flight
	// builds counts calls that ran a build, waits callers that joined
	// one under way (tests read them).
	builds, waits atomic.Int64
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
	Own   string           `json:"own"`
	Sizes map[string]int64 `json:"sizes"` // file name -> bytes
}

// job is one node image to check and perhaps build.
type job struct {
	node     string
	kind     ImageKind
	overlays []string
	group    string
	old      *manifest
	inputs   string
	// Set when rendered:
	tree  map[string]string // path -> entry hash
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
	unlock, err := atomicfile.Lock(ctx, filepath.Join(b.Dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	var jobs []*job
	for _, name := range names {
		n := snap.Node(name)
		if n == nil {
			return nil, fmt.Errorf("node %q does not exist", name)
		}
		for _, k := range kinds {
			list := n.SystemOverlay
			if k == Runtime {
				list = n.RuntimeOverlay
			}
			jobs = append(jobs, &job{node: name, kind: k, overlays: list, group: groupKey(k, list)})
		}
	}
	st := &buildState{b: b, snap: snap, entries: map[string]*Entry{}, readCache: map[string]string{}}
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
	b.parallel(ctx, jobs, snap, func(r *renderers, j *job) {
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

	// Split each group into shared and own archives, and write them.
	shared, err := st.sharedSets(jobs)
	if err != nil {
		return nil, err
	}
	b.parallel(ctx, jobs, snap, func(w *renderers, j *job) {
		if j.tree == nil {
			return
		}
		j.res = st.write(w, j, shared[j.group])
		tick()
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !b.NoSync {
		if err := atomicfile.SyncFS(b.Dir); err != nil {
			return nil, err
		}
	}
	if st.newShared {
		if err := b.collectShared(); err != nil {
			b.logger().Warn("removing unused shared archives", "err", err)
		}
	}
	results := make([]Result, 0, len(jobs))
	for _, j := range jobs {
		results = append(results, j.res)
	}
	return results, nil
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
	r.byKey[key] = x
	return x, nil
}

func (b *Builder) parallel(ctx context.Context, jobs []*job, snap *Snapshot, do func(*renderers, *job)) {
	workers := b.Workers
	if workers <= 0 {
		workers = 2
	}
	ch := make(chan *job)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &renderers{snap: snap, byKey: map[string]*Renderer{}}
			for j := range ch {
				do(r, j)
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- j
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

	mu        sync.Mutex
	entries   map[string]*Entry // entry hash -> entry, so equal files are held once
	readCache map[string]string
	newShared bool
}

func (s *buildState) nodeDir(node string) string { return filepath.Join(s.b.Dir, node) }

// check decides whether j's image is up to date: same inputs, same
// files read with the same content, archives present.
func (s *buildState) check(j *job, force bool) error {
	inputs, err := s.snap.inputsDigest(string(j.kind), j.node, j.overlays)
	if err != nil {
		return err
	}
	j.inputs = inputs
	j.old = readManifest(filepath.Join(s.nodeDir(j.node), j.kind.Base()+".json"))
	if force || j.old == nil || j.old.Inputs != inputs || !s.readsCurrent(j.old.Reads) || !s.present(j.node, j.kind, j.old) {
		return nil
	}
	j.res = Result{Node: j.node, Kind: j.kind, Status: Unchanged}
	if j.old.Own != "" {
		j.res.Bytes = j.old.Sizes[j.kind.Base()+"."+j.old.Own[:16]+".img"]
	}
	return nil
}

// readsCurrent reports whether every file a rendering read still has the
// content it had.
func (s *buildState) readsCurrent(reads map[string]string) bool {
	e := env{sysconfdir: s.snap.opts.Sysconfdir, chrootdir: s.snap.opts.Chrootdir, hostRoot: s.snap.opts.HostRoot}
	for key, want := range reads {
		s.mu.Lock()
		got, ok := s.readCache[key]
		s.mu.Unlock()
		if !ok {
			st := &execState{}
			if p, isLink := strings.CutPrefix(key, "link:"); isLink {
				target, _ := e.evalSymlinks(p)
				st.note(key, []byte(target))
			} else {
				_, _ = st.read(key)
			}
			got = st.reads[key]
			s.mu.Lock()
			s.readCache[key] = got
			s.mu.Unlock()
		}
		if got != want {
			return false
		}
	}
	return true
}

func (s *buildState) present(node string, k ImageKind, m *manifest) bool {
	for name := range m.Sizes {
		if _, err := os.Stat(filepath.Join(s.nodeDir(node), name)); err != nil {
			return false
		}
	}
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
	j.tree = make(map[string]string, len(out.Tree))
	j.reads = out.Reads
	for p, e := range out.Tree {
		h := entryHash(e)
		j.tree[p] = h
		s.mu.Lock()
		if _, ok := s.entries[h]; !ok {
			s.entries[h] = e
		}
		s.mu.Unlock()
	}
	return nil
}

func entryHash(e *Entry) string {
	if e.sum != "" {
		return e.sum
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%o\x00%d\x00%d\x00%s\x00", e.Path, e.Kind, e.Mode, e.UID, e.GID, e.Target)
	h.Write(e.Data)
	return hex.EncodeToString(h.Sum(nil))
}

// sharedSet is what a group's shared archive holds.
type sharedSet struct {
	Archive string            `json:"archive"`
	Entries map[string]string `json:"entries"` // path -> entry hash
}

const sharedDir = ".shared"

func (b *Builder) sharedPath(sum string, f compress.Format) string {
	return filepath.Join(b.Dir, sharedDir, sum+".img"+f.Ext())
}

// sharedSets works out each group's shared archive. When this build
// rendered every node of a group (two or more), the shared part is what
// all of them render identically, written if new; otherwise the group
// keeps the shared archive it has, and whatever a node renders
// differently goes into its own archive, which is unpacked after the
// shared one and so wins.
func (s *buildState) sharedSets(jobs []*job) (map[string]*sharedSet, error) {
	members := map[string]int{} // group -> nodes in the whole inventory
	for _, name := range s.snap.NodeNames() {
		n := s.snap.Node(name)
		members[groupKey(System, n.SystemOverlay)]++
		members[groupKey(Runtime, n.RuntimeOverlay)]++
	}
	rendered := map[string][]*job{}
	for _, j := range jobs {
		if j.tree != nil {
			rendered[j.group] = append(rendered[j.group], j)
		}
	}
	out := map[string]*sharedSet{}
	for _, j := range jobs {
		if _, done := out[j.group]; done || j.tree == nil {
			continue
		}
		manifestPath := filepath.Join(s.b.Dir, sharedDir, j.group+".json")
		rs := rendered[j.group]
		if len(rs) < 2 || len(rs) < members[j.group] {
			set := &sharedSet{}
			if data, err := os.ReadFile(manifestPath); err == nil && json.Unmarshal(data, set) == nil && set.Archive != "" {
				out[j.group] = set
			} else {
				out[j.group] = nil
			}
			continue
		}
		common := map[string]string{}
		for p, h := range rs[0].tree {
			common[p] = h
		}
		for _, other := range rs[1:] {
			for p, h := range common {
				if other.tree[p] != h {
					delete(common, p)
				}
			}
		}
		if len(common) == 0 {
			out[j.group] = nil
			continue
		}
		data, err := s.archive(common)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		set := &sharedSet{Archive: hex.EncodeToString(sum[:]), Entries: common}
		if _, err := os.Stat(s.b.sharedPath(set.Archive, compress.Zstd)); err != nil {
			if _, err := s.b.writeForms(func(f compress.Format) string { return s.b.sharedPath(set.Archive, f) }, data, nil); err != nil {
				return nil, err
			}
			s.newShared = true
		}
		js, err := json.Marshal(set)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Replace(manifestPath, js, 0o644); err != nil {
			return nil, err
		}
		out[j.group] = set
	}
	return out, nil
}

// write writes a node's own archive: every entry that is not in the
// shared archive as it is.
func (s *buildState) write(w *renderers, j *job, shared *sharedSet) Result {
	res := Result{Node: j.node, Kind: j.kind}
	own := map[string]string{}
	sharedSum := ""
	if shared != nil {
		sharedSum = shared.Archive
		for p := range shared.Entries {
			if _, ok := j.tree[p]; !ok {
				// The node lacks a file the shared archive has: it cannot
				// use it (cpio cannot delete), so it gets everything.
				sharedSum = ""
				break
			}
		}
	}
	for p, h := range j.tree {
		if sharedSum == "" || shared.Entries[p] != h {
			own[p] = h
		}
	}
	fail := func(err error) Result { return Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err} }
	m := &manifest{Inputs: j.inputs, Reads: j.reads, Output: outputDigest(j.tree), Shared: sharedSum, Sizes: map[string]int64{}}
	var data []byte
	if len(own) > 0 || sharedSum == "" {
		var err error
		if data, err = s.archive(own); err != nil {
			return fail(err)
		}
		sum := sha256.Sum256(data)
		m.Own = hex.EncodeToString(sum[:])
	}
	dir := s.nodeDir(j.node)
	base := j.kind.Base()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	// Warewulf's name for the image it serves (__SYSTEM__.img.gz) is a
	// link to the current archive: the node's own, or the shared one when
	// the node has nothing of its own.
	link := func(f compress.Format) string {
		if m.Own == "" {
			return filepath.Join("..", sharedDir, m.Shared+".img"+f.Ext())
		}
		return base + "." + m.Own[:16] + ".img" + f.Ext()
	}
	switch {
	case m.Own == "":
		// Nothing of its own to write.
	case j.old != nil && j.old.Own == m.Own && s.present(j.node, j.kind, j.old):
		m.Sizes = j.old.Sizes
	default:
		sizes, err := s.b.writeForms(func(f compress.Format) string { return filepath.Join(dir, link(f)) }, data, w)
		if err != nil {
			return fail(err)
		}
		for f, n := range sizes {
			m.Sizes[link(f)] = n
		}
	}
	res.Status = Built
	if j.old != nil && j.old.Own == m.Own && j.old.Shared == m.Shared {
		res.Status = Unchanged
	}
	if err := replaceSymlink(link(compress.Gzip), filepath.Join(dir, base+".img.gz")); err != nil {
		return fail(err)
	}
	js, err := json.Marshal(m)
	if err != nil {
		return fail(err)
	}
	if err := atomicfile.Create(filepath.Join(dir, base+".json"), js, 0o644); err != nil {
		return fail(err)
	}
	keep := ""
	if m.Own != "" {
		keep = m.Own[:16]
	}
	removeOld(dir, base, keep)
	res.Bytes = int64(len(data))
	return res
}

// archive writes the entries (by hash) as a reproducible cpio archive,
// adding the directories above them so it unpacks on its own.
func (s *buildState) archive(tree map[string]string) ([]byte, error) {
	paths := make([]string, 0, len(tree))
	for p := range tree {
		paths = append(paths, p)
	}
	s.mu.Lock()
	entries := make(map[string]*Entry, len(paths))
	for _, p := range paths {
		entries[p] = s.entries[tree[p]]
	}
	s.mu.Unlock()
	for _, p := range paths {
		for dir := filepath.Dir(p); dir != "." && dir != "/"; dir = filepath.Dir(dir) {
			if _, ok := entries[dir]; !ok {
				entries[dir] = &Entry{Path: dir, Kind: KindDir, Mode: 0o755}
			}
		}
	}
	all := make([]*Entry, 0, len(entries))
	for _, e := range entries {
		all = append(all, e)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Path < all[j].Path })
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
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
	return buf.Bytes(), nil
}

// writeForms writes data uncompressed, gzipped and zstd-compressed under
// content-addressed names, and returns each file's size. A worker's
// encoders compress small archives; without a worker the parallel stream
// compressors do.
func (b *Builder) writeForms(name func(compress.Format) string, data []byte, w *renderers) (map[compress.Format]int64, error) {
	sizes := map[compress.Format]int64{}
	for _, f := range Formats {
		out, err := compressed(data, f, w)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Create(name(f), out, 0o644); err != nil {
			return nil, err
		}
		sizes[f] = int64(len(out))
	}
	return sizes, nil
}

func compressed(data []byte, f compress.Format, w *renderers) ([]byte, error) {
	if f == compress.None {
		return data, nil
	}
	if w != nil {
		e, err := w.encoder(f)
		if err != nil {
			return nil, err
		}
		return e.Encode(data)
	}
	var buf bytes.Buffer
	zw, err := compress.NewWriter(&buf, f, compress.Options{})
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func outputDigest(tree map[string]string) string {
	paths := make([]string, 0, len(tree))
	for p := range tree {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	h := sha256.New()
	for _, p := range paths {
		fmt.Fprintf(h, "%s\x00%s\x00", p, tree[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readManifest(path string) *manifest {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	m := &manifest{}
	if json.Unmarshal(data, m) != nil || (m.Own == "" && m.Shared == "") {
		return nil
	}
	return m
}

func replaceSymlink(target, link string) error {
	if cur, err := os.Readlink(link); err == nil && cur == target {
		return nil
	}
	tmp := link + ".tmp"
	_ = os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	return os.Rename(tmp, link)
}

// removeOld deletes a node's previous archives of a kind. A reader that
// has one open keeps reading it.
func removeOld(dir, base, keep string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, base+".") && (keep == "" || !strings.HasPrefix(n, base+"."+keep)) && !strings.HasPrefix(n, base+".img") && !strings.HasSuffix(n, ".json") {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
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
	nodes, err := os.ReadDir(b.Dir)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if !n.IsDir() || strings.HasPrefix(n.Name(), ".") {
			continue
		}
		for _, k := range []ImageKind{System, Runtime} {
			if m := readManifest(filepath.Join(b.Dir, n.Name(), k.Base()+".json")); m != nil && m.Shared != "" {
				used[m.Shared] = true
			}
		}
	}
	files, err := os.ReadDir(sd)
	if err != nil {
		return err
	}
	var errs []error
	for _, f := range files {
		name := f.Name()
		if strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		sum, _, _ := strings.Cut(name, ".")
		if !used[sum] {
			if err := os.Remove(filepath.Join(sd, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
