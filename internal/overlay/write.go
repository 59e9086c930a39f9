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
	"path/filepath"
	"slices"
	"sort"
	"strings"

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
// all of them render identically, written if new; otherwise the group
// keeps the shared archive it has, and whatever a node renders
// differently goes into its own archive, which is unpacked after the
// shared one and so wins.
func (s *buildState) sharedSets(jobs []*job) (map[string]*sharedSet, error) {
	members := s.snap.groupSizes()
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
		// Secret files never go into an archive other nodes share.
		for p, h := range common {
			if s.secret(h) {
				delete(common, p)
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
		_, err = os.Stat(s.b.sharedPath(set.Archive, compress.Zstd))
		if forced := slices.ContainsFunc(rs, func(j *job) bool { return j.force }); err != nil || forced {
			if err := s.b.writeForms(func(f compress.Format) string { return s.b.sharedPath(set.Archive, f) }, data, archivePerm); err != nil {
				return nil, err
			}
			s.newShared = true
		}
		js, err := json.Marshal(set)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Replace(manifestPath, js, archivePerm); err != nil {
			return nil, err
		}
		out[j.group] = set
	}
	return out, nil
}

// write writes a node's image: its own archive, every entry that is not
// in the shared archive as it is, and its secret archive, in every form,
// into the node's pack, holding the node's directory lock.
func (s *buildState) write(ctx context.Context, w *renderers, j *job, shared *sharedSet) Result {
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
	secret := map[string]string{}
	for p, h := range j.tree {
		switch {
		case s.secret(h):
			secret[p] = h
		case sharedSum == "" || shared.Entries[p] != h:
			own[p] = h
		}
	}
	fail := func(err error) Result { return Result{Node: j.node, Kind: j.kind, Status: Failed, Err: err} }
	m := &manifest{Inputs: j.inputs, Reads: j.reads, Output: outputDigest(j.tree), Shared: sharedSum, Sections: map[string]section{}}
	var data, secretData []byte
	if len(own) > 0 || sharedSum == "" {
		var err error
		if data, err = s.archive(own); err != nil {
			return fail(err)
		}
		sum := sha256.Sum256(data)
		m.Own = hex.EncodeToString(sum[:])
	}
	if len(secret) > 0 {
		var err error
		if secretData, err = s.archive(secret); err != nil {
			return fail(err)
		}
		sum := sha256.Sum256(secretData)
		m.Secret = hex.EncodeToString(sum[:])
	}
	res.Bytes = int64(len(data) + len(secretData))
	dir := s.nodeDir(j.node)
	// A directory made by this build holds nothing to clean up
	// (removeOld), also when the node's other image is written.
	s.mu.Lock()
	fresh := s.made[j.node]
	s.mu.Unlock()
	if err := os.Mkdir(dir, 0o755); err == nil {
		fresh = true
		s.mu.Lock()
		if s.made == nil {
			s.made = map[string]bool{}
		}
		s.made[j.node] = true
		s.mu.Unlock()
	} else if !errors.Is(err, fs.ErrExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fail(err)
		}
	}
	unlock, err := lockDir(ctx, dir)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	status := func() Status {
		if j.old != nil && j.old.Own == m.Own && j.old.Shared == m.Shared && j.old.Secret == m.Secret {
			return Unchanged
		}
		return Built
	}
	path := s.packPath(j.node, j.kind)
	// What is there now: the image checked, or one another build (wwctl
	// overlay build beside the daemon) wrote since. When that is this
	// very image, it stays.
	cur := s.b.manifest(path)
	if cur != nil && !j.force && cur.Inputs == m.Inputs && cur.Output == m.Output && cur.Shared == m.Shared &&
		cur.Own == m.Own && cur.Secret == m.Secret && cur.Bodies != nil && maps.Equal(cur.Reads, m.Reads) && s.present(cur) {
		res.Status = status()
		return res
	}
	// The forms of an archive the pack on disk holds already are taken
	// from it rather than compressed again (a template's input changed,
	// its output did not), unless the build is forced, which repairs a
	// damaged pack.
	var prev []byte
	if cur != nil && !j.force && (cur.Own == m.Own || cur.Secret == m.Secret) {
		if prev, err = readPackData(path, cur); err != nil {
			prev = nil
		}
	}
	type form struct {
		secret bool
		f      compress.Format
		out    []byte
	}
	forms := make([]form, 0, 2*len(storedFormats))
	total := 0
	for _, a := range []struct {
		secret bool
		sum    string
		data   []byte
	}{{false, m.Own, data}, {true, m.Secret, secretData}} {
		if a.sum == "" {
			continue
		}
		same := prev != nil && (a.secret && cur.Secret == a.sum || !a.secret && cur.Own == a.sum)
		for _, f := range storedFormats {
			out, ok := []byte(nil), false
			if same {
				out, ok = cur.sectionBytes(prev, a.secret, f)
			}
			if !ok {
				if out, err = compressed(a.data, f, w); err != nil {
					return fail(err)
				}
				if f != compress.None {
					out = bytes.Clone(out) // the encoder's buffer, reused by its next call
				}
			}
			forms = append(forms, form{a.secret, f, out})
			total += len(out)
		}
	}
	packData := make([]byte, 0, total)
	for _, fm := range forms {
		m.Sections[sectionName(fm.secret, fm.f)] = section{Off: int64(len(packData)), Len: int64(len(fm.out))}
		packData = append(packData, fm.out...)
	}
	if cur != nil && !j.force && prev != nil && cur.Bodies != nil && cur.Shared == m.Shared && cur.Own == m.Own && cur.Secret == m.Secret &&
		len(cur.Sections) == len(m.Sections) {
		m.Bodies = cur.Bodies
	} else if m.Bodies, err = s.bodies(m, packData); err != nil {
		return fail(err)
	}
	pack, err := encodePack(m, packData)
	if err != nil {
		return fail(err)
	}
	perm := archivePerm
	if m.Secret != "" {
		perm = secretPerm
	}
	if err := atomicfile.Create(path, pack, perm); err != nil {
		return fail(err)
	}
	// The manifest just written is the one the daemon's next check and
	// collectShared read: keep it, for the file as it is now (no other
	// build replaces it while this one holds the directory's lock).
	m.dataStart = int64(len(pack) - len(packData))
	s.b.remember(path, m)
	// Once a node has its pack, what is beside it is a killed build's
	// temporary file at most, which the first build of a process removes
	// (removeLeftovers): no need to list the directory each time.
	if cur == nil && !fresh {
		removeOld(dir, j.kind.Base())
	}
	res.Status = status()
	return res
}

// secret reports whether the entry with hash h is a secret file.
func (s *buildState) secret(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[h]
	return e != nil && e.Secret()
}

// Modes of the archives and packs a build writes. None is
// world-readable: only the daemon (root) serves them, and a shared or
// own archive still shows what a node is given (its hosts, its
// addresses) to whoever logs in on the server. A pack with a secret
// archive is root's alone.
const (
	archivePerm os.FileMode = 0o640
	secretPerm  os.FileMode = 0o600
)

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
	// The archive's size, near enough: a header and padding per entry
	// besides its name and data.
	size := 512
	for _, e := range all {
		size += 128 + len(e.Path) + len(e.Data) + len(e.Target)
	}
	buf := bytes.NewBuffer(make([]byte, 0, size))
	w := cpio.NewWriter(buf)
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
// content-addressed names (the shared archives).
func (b *Builder) writeForms(name func(compress.Format) string, data []byte, perm os.FileMode) error {
	for _, f := range Formats {
		out := data
		if f != compress.None {
			// Pooled one-shot encoders: a streaming zstd writer
			// allocates its window and job buffers (16 MB) each time.
			var err error
			if out, err = b.derived.compress(data, f); err != nil {
				return err
			}
		}
		if err := atomicfile.Create(name(f), out, perm); err != nil {
			return err
		}
	}
	return nil
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
	s.mu.Lock()
	state, ok := s.sharedStates[p]
	s.mu.Unlock()
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
	state, err = h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("shared archive %s: %w", p, err)
	}
	s.mu.Lock()
	if s.sharedStates == nil {
		s.sharedStates = map[string][]byte{}
	}
	s.sharedStates[p] = state
	s.mu.Unlock()
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

// removeOld deletes what a node directory holds of base besides its
// pack: the archives, manifest and link of the format before packs, and
// the temporary files of a build of base that was killed. The caller
// holds the directory's lock, so no build is writing base there. A reader
// that has a file open keeps reading it.
func removeOld(dir, base string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	pack := packName(base)
	for _, e := range entries {
		n := e.Name()
		old := strings.HasPrefix(n, base+".") && n != pack
		temp := strings.HasPrefix(n, "."+base+".") && strings.Contains(n, ".tmp-")
		if old || temp {
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}

// removeLeftovers deletes the temporary files a build that was killed
// left in the node directories and the shared one: atomicfile's
// ".NAME.tmp-*" and replaceSymlink's "NAME.tmp" links. Call it only while
// holding the build lock. It returns how many it removed.
func (b *Builder) removeLeftovers() (int, error) {
	dirs, err := os.ReadDir(b.Dir)
	if err != nil {
		return 0, err
	}
	removed := 0
	var errs []error
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
		for _, e := range entries {
			n := e.Name()
			temp := strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp-")
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
	nodes, err := os.ReadDir(b.Dir)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if !n.IsDir() || strings.HasPrefix(n.Name(), ".") {
			continue
		}
		for _, k := range []ImageKind{System, Runtime} {
			if m := b.manifest(filepath.Join(b.Dir, n.Name(), packName(k.Base()))); m != nil && m.Shared != "" {
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
