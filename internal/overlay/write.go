package overlay

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
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
			if _, err := s.b.writeForms(func(f compress.Format) string { return s.b.sharedPath(set.Archive, f) }, data, nil, archivePerm); err != nil {
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
	m := &manifest{Inputs: j.inputs, Reads: j.reads, Output: outputDigest(j.tree), Shared: sharedSum, Sizes: map[string]int64{}}
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
	dir := s.nodeDir(j.node)
	base := j.kind.Base()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	// Warewulf's name for the image it serves (__SYSTEM__.img.gz) is a
	// link to the current archive: the node's own, or the shared one when
	// the node has nothing of its own. It never leads to the secrets.
	link := func(f compress.Format) string {
		if m.Own == "" {
			return filepath.Join("..", sharedDir, m.Shared+".img"+f.Ext())
		}
		return ownName(base, m.Own, f)
	}
	// The previous build's archives are looked for on disk once, for
	// both the own and the secret archive.
	oldPresent := sync.OnceValue(func() bool { return s.present(j.node, j.kind, j.old) })
	// writeOnce writes an archive's forms unless the previous build
	// wrote the same ones (and the build is not forced), and records
	// their sizes. It returns the forms it wrote.
	writeOnce := func(sum, prev string, data []byte, perm os.FileMode) (map[compress.Format][]byte, error) {
		if sum == "" {
			return nil, nil
		}
		if !j.force && j.old != nil && prev == sum && oldPresent() {
			for _, f := range Formats {
				name := archiveName(base, sum, f, perm)
				m.Sizes[name] = j.old.Sizes[name]
			}
			return nil, nil
		}
		forms, err := s.b.writeForms(func(f compress.Format) string { return filepath.Join(dir, archiveName(base, sum, f, perm)) }, data, w, perm)
		if err != nil {
			return nil, err
		}
		for f, out := range forms {
			m.Sizes[archiveName(base, sum, f, perm)] = int64(len(out))
		}
		return forms, nil
	}
	var prevOwn, prevSecret string
	if j.old != nil {
		prevOwn, prevSecret = j.old.Own, j.old.Secret
	}
	ownForms, err := writeOnce(m.Own, prevOwn, data, archivePerm)
	if err != nil {
		return fail(err)
	}
	secretForms, err := writeOnce(m.Secret, prevSecret, secretData, secretPerm)
	if err != nil {
		return fail(err)
	}
	if m.Bodies, err = s.bodies(j, m, ownForms, secretForms); err != nil {
		return fail(err)
	}
	res.Status = Built
	if j.old != nil && j.old.Own == m.Own && j.old.Shared == m.Shared && j.old.Secret == m.Secret {
		res.Status = Unchanged
	}
	if err := replaceSymlink(link(compress.Gzip), filepath.Join(dir, base+".img.gz")); err != nil {
		return fail(err)
	}
	js, err := json.Marshal(m)
	if err != nil {
		return fail(err)
	}
	if err := atomicfile.Create(filepath.Join(dir, base+".json"), js, archivePerm); err != nil {
		return fail(err)
	}
	removeOld(dir, base, m.Sizes)
	res.Bytes = int64(len(data) + len(secretData))
	return res
}

// secret reports whether the entry with hash h is a secret file.
func (s *buildState) secret(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[h]
	return e != nil && e.Secret()
}

// ownName is the file name of a node's own archive in format f.
func ownName(base, sum string, f compress.Format) string {
	return base + "." + sum[:16] + ".img" + f.Ext()
}

// Modes of the archives and manifests a build writes. None is
// world-readable: only the daemon (root) serves them, and a shared or
// own archive still shows what a node is given (its hosts, its
// addresses) to whoever logs in on the server. Secret archives are
// root's alone.
const (
	archivePerm os.FileMode = 0o640
	secretPerm  os.FileMode = 0o600
)

// archiveName is the file name of a node's own archive (perm
// archivePerm), or of its secret archive (perm secretPerm), in format f.
func archiveName(base, sum string, f compress.Format, perm os.FileMode) string {
	if perm == secretPerm {
		return base + ".secret." + sum[:16] + ".img" + f.Ext()
	}
	return ownName(base, sum, f)
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
// content-addressed names, and returns each file's bytes. A worker's
// encoders compress small archives; without a worker the parallel stream
// compressors do.
func (b *Builder) writeForms(name func(compress.Format) string, data []byte, w *renderers, perm os.FileMode) (map[compress.Format][]byte, error) {
	forms := map[compress.Format][]byte{}
	for _, f := range Formats {
		out, err := compressed(data, f, w)
		if err != nil {
			return nil, err
		}
		if err := atomicfile.Create(name(f), out, perm); err != nil {
			return nil, err
		}
		if w != nil && f != compress.None {
			out = bytes.Clone(out) // the encoder's buffer, reused by its next call
		}
		forms[f] = out
	}
	return forms, nil
}

// bodies works out the sha256 of the image m describes in every format,
// as the daemon serves it: the shared, own and secret archives one after
// the other. own and secret are the forms this build wrote; the others
// are read back from their files. An image whose archives are all the
// previous build's keeps its sums.
func (s *buildState) bodies(j *job, m *manifest, own, secret map[compress.Format][]byte) (map[string]bodySums, error) {
	if !j.force && own == nil && secret == nil && j.old != nil && j.old.Bodies != nil &&
		j.old.Shared == m.Shared && j.old.Own == m.Own && j.old.Secret == m.Secret {
		return j.old.Bodies, nil
	}
	dir, base := s.nodeDir(j.node), j.kind.Base()
	form := func(written map[compress.Format][]byte, sum string, f compress.Format, perm os.FileMode) ([]byte, error) {
		if out, ok := written[f]; ok {
			return out, nil
		}
		return os.ReadFile(filepath.Join(dir, archiveName(base, sum, f, perm)))
	}
	out := make(map[string]bodySums, len(Formats))
	for _, f := range Formats {
		h, err := s.sharedHash(m.Shared, f)
		if err != nil {
			return nil, err
		}
		if m.Own != "" {
			data, err := form(own, m.Own, f, archivePerm)
			if err != nil {
				return nil, err
			}
			h.Write(data)
		}
		var b bodySums
		if m.Secret != "" {
			b.Public = hex.EncodeToString(h.Sum(nil))
			data, err := form(secret, m.Secret, f, secretPerm)
			if err != nil {
				return nil, err
			}
			h.Write(data)
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

// removeOld deletes a node's previous archives of a kind: every
// base.* file but the current ones (keep), the manifest and Warewulf's
// link. A reader that has one open keeps reading it.
func removeOld(dir, base string, keep map[string]int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		n := e.Name()
		if _, ok := keep[n]; ok || !strings.HasPrefix(n, base+".") || strings.HasPrefix(n, base+".img") || strings.HasSuffix(n, ".json") {
			continue
		}
		_ = os.Remove(filepath.Join(dir, n))
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
