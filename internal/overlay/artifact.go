package overlay

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/compress"
)

// Part is one archive of an image; a node unpacks the parts in order.
// It is Size bytes at Offset in the file at Path: a shared archive's own
// file, or a section of the node's pack.
type Part struct {
	Path   string
	Offset int64
	Size   int64
	// FileSize, ModTime and Inode are the file's when the artifact was
	// assembled: they let whoever keeps the part's bytes tell that the
	// file is still the one checked, without reading it again.
	FileSize int64
	ModTime  time.Time
	Inode    uint64
	// Secret marks the archive of the node's secret files.
	Secret bool
	// Data, when set, are the part's bytes, made in memory from the
	// uncompressed form at Offset in Path (a form the pack does not
	// hold, derive.go); Size is their length.
	Data []byte
}

// Read returns the part's bytes as its file holds them now (Data when
// set).
func (p Part) Read() ([]byte, error) {
	if p.Data != nil {
		return bytes.Clone(p.Data), nil
	}
	f, err := os.Open(p.Path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, p.Size)
	if _, err := f.ReadAt(data, p.Offset); err != nil {
		return nil, fmt.Errorf("read %s: %w", p.Path, err)
	}
	return data, nil
}

// Artifact is a node's image of one kind in one format.
type Artifact struct {
	Node   string
	Kind   ImageKind
	Format compress.Format
	Parts  []Part
	// ETag identifies the content: it changes exactly when a part does.
	ETag string
	// PublicETag is the ETag of Public's content.
	PublicETag string
	// SHA256 is the content's sha256 as the build recorded it, and
	// PublicSHA256 Public's: "" for an image built before builds
	// recorded them.
	SHA256, PublicSHA256 string
}

// Public returns the artifact without its secret part: what a request
// that has not proved it comes from the node gets.
func (a *Artifact) Public() *Artifact {
	pub := *a
	pub.Parts = nil
	for _, p := range a.Parts {
		if !p.Secret {
			pub.Parts = append(pub.Parts, p)
		}
	}
	pub.ETag, pub.SHA256 = a.PublicETag, a.PublicSHA256
	return &pub
}

// HasSecrets reports whether the artifact has a secret part.
func (a *Artifact) HasSecrets() bool {
	for _, p := range a.Parts {
		if p.Secret {
			return true
		}
	}
	return false
}

// Size is the total length of the parts.
func (a *Artifact) Size() int64 {
	var n int64
	for _, p := range a.Parts {
		n += p.Size
	}
	return n
}

// Artifact returns a node's image of kind k in format f. With build set
// it first brings the image up to date when its inputs changed; callers
// asking for the same image at the same time share one build, and the
// stale images asked for while builds run are built together
// (ondemand.go).
func (b *Builder) Artifact(ctx context.Context, snap *Snapshot, node string, k ImageKind, f compress.Format, build bool) (*Artifact, error) {
	if snap.Node(node) == nil {
		return nil, fmt.Errorf("node %q does not exist", node)
	}
	// Most requests find the image up to date: that check reads the
	// pack's manifest, which builds replace atomically, and needs no lock.
	// A part found missing then means a build after all.
	if build {
		if m := b.upToDate(snap, node, k); m != nil {
			if a, err := b.assembleFrom(m, node, k, f); err == nil {
				return a, nil
			}
		}
		if err := b.buildOnDemand(ctx, snap, node, k); err != nil {
			return nil, err
		}
	}
	return b.assemble(node, k, f)
}

// assemble lists the parts of node's image of kind k in format f, as its
// manifest records them.
func (b *Builder) assemble(node string, k ImageKind, f compress.Format) (*Artifact, error) {
	m := b.manifest(node, k)
	if m == nil {
		return nil, fmt.Errorf("node %q has no %s overlay image; run wwctl overlay build", node, k)
	}
	return b.assembleFrom(m, node, k, f)
}

// assembleFrom lists the parts manifest m records, each as it is on disk
// now.
func (b *Builder) assembleFrom(m *manifest, node string, k ImageKind, f compress.Format) (*Artifact, error) {
	pack := m.path
	a := &Artifact{Node: node, Kind: k, Format: f, Parts: make([]Part, 0, 3)}
	derived := false
	if m.Shared != "" {
		a.Parts = append(a.Parts, Part{Path: b.sharedPath(m.Shared, f), Size: -1})
	}
	for _, secret := range []bool{false, true} {
		sum := m.Own
		if secret {
			sum = m.Secret
		}
		if sum == "" {
			continue
		}
		s, ok := m.Sections[sectionName(secret, f)]
		if ok {
			a.Parts = append(a.Parts, Part{Path: pack, Offset: m.dataStart + s.Off, Size: s.Len, Secret: secret})
			continue
		}
		raw, ok := m.Sections[sectionName(secret, compress.None)]
		if !ok || f == compress.None {
			return nil, fmt.Errorf("node %q %s overlay: its pack has no %s", node, k, sectionName(secret, f))
		}
		p, err := b.derivedPart(pack, m.dataStart, raw, sum, secret, f)
		if err != nil {
			return nil, fmt.Errorf("node %q %s overlay: %w", node, k, err)
		}
		a.Parts = append(a.Parts, p)
		derived = true
	}
	var last *Part
	for i := range a.Parts {
		p := &a.Parts[i]
		if last != nil && last.Path == p.Path {
			p.FileSize, p.ModTime, p.Inode = last.FileSize, last.ModTime, last.Inode
			continue
		}
		st, err := os.Stat(p.Path)
		if err != nil {
			return nil, fmt.Errorf("node %q %s overlay: %w", node, k, err)
		}
		p.FileSize, p.ModTime = st.Size(), st.ModTime()
		if p.Size < 0 {
			p.Size = st.Size()
		}
		if p.Data == nil && p.Offset+p.Size > p.FileSize {
			return nil, fmt.Errorf("node %q %s overlay: %s is shorter than its manifest says", node, k, p.Path)
		}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			p.Inode = sys.Ino
		}
		last = p
	}
	etag := func(secret string) string {
		sum := sha256.Sum256([]byte(m.Shared + "\x00" + m.Own + "\x00" + secret + "\x00" + string(f)))
		return hex.EncodeToString(sum[:16])
	}
	a.ETag, a.PublicETag = etag(m.Secret), etag("")
	if derived {
		if err := b.derive(a, m, pack, f); err != nil {
			return nil, fmt.Errorf("node %q %s overlay: %w", node, k, err)
		}
		return a, nil
	}
	sums := m.Bodies[bodyKey(f)]
	a.SHA256, a.PublicSHA256 = sums.All, sums.Public
	if m.Secret == "" {
		a.PublicSHA256 = sums.All
	}
	return a, nil
}

type cachedManifest struct {
	ino, size uint64
	mod       int64
	m         *manifest
}

// manifest is the manifest of node's image of kind k, nil when its pack
// holds none. A node without a pack may have one of the layout before
// (legacyPackPath), read until its next build replaces it.
func (b *Builder) manifest(node string, k ImageKind) *manifest {
	if m, exists := b.manifestAt(packPath(b.Dir, node), k, ""); exists {
		return m
	}
	m, _ := b.manifestAt(legacyPackPath(b.Dir, node, k), k, k)
	return m
}

// BuiltAt returns when node's image of kind k was last written: the
// modification time of the pack that holds it. A pack holds both kinds,
// so a build of either kind moves it. ok is false when no image of that
// kind was built.
func (b *Builder) BuiltAt(node string, k ImageKind) (t time.Time, ok bool) {
	if b.manifest(node, k) == nil {
		return time.Time{}, false
	}
	for _, p := range []string{packPath(b.Dir, node), legacyPackPath(b.Dir, node, k)} {
		if st, err := os.Stat(p); err == nil {
			return st.ModTime(), true
		}
	}
	return time.Time{}, false
}

// manifestAt is the manifest of kind k in the pack at path (a pack of
// the layout before read as an image of kind old), through the Builder's
// cache: a stat instead of a read and a parse when the file is the one
// read before. exists says whether there is a file at path. The manifest
// returned must not be modified.
func (b *Builder) manifestAt(path string, k, old ImageKind) (m *manifest, exists bool) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return readPack(&b.batches, path, old, k)[k], true
	}
	key := cachedManifest{ino: sys.Ino, size: uint64(st.Size()), mod: st.ModTime().UnixNano()}
	cacheKey := path + "\x00" + string(k)
	if c, ok := b.manifests.Load(cacheKey); ok {
		if c := c.(*cachedManifest); c.ino == key.ino && c.size == key.size && c.mod == key.mod {
			return c.m, true
		}
	}
	if m = readPack(&b.batches, path, old, k)[k]; m != nil {
		key.m = m
		b.manifests.Store(cacheKey, &key)
	}
	return m, true
}

// remember caches the manifests of the kinds in idx as those of the pack
// at path, which holds them (a build just wrote it); st is its file's
// stat (the batch's, which every pack name of the build links to).
func (b *Builder) remember(path string, st os.FileInfo, idx packIndex, kinds map[ImageKind]bool) {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return
	}
	for k := range kinds {
		if m := idx[k]; m != nil {
			b.manifests.Store(path+"\x00"+string(k), &cachedManifest{ino: sys.Ino, size: uint64(st.Size()), mod: st.ModTime().UnixNano(), m: m})
		}
	}
}

// upToDate returns node's manifest of kind k when the image was built
// from the inputs snap gives it, with every file it read unchanged, and
// nil otherwise.
func (b *Builder) upToDate(snap *Snapshot, node string, k ImageKind) *manifest {
	n := snap.Node(node)
	if n == nil {
		return nil
	}
	// Whether the archives are there shows when Artifact opens the ones
	// it serves; a build would check every form of them.
	st := &buildState{b: b, snap: snap, assumePresent: true}
	list, err := snap.overlayList(k, n)
	if err != nil {
		return nil // a build reports the error
	}
	j := &job{node: node, kind: k, overlays: list}
	if st.check(j, false) != nil || j.res.Status != Unchanged {
		return nil
	}
	return j.old
}
