package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wwboot/wwboot/internal/compress"
)

// Part is one archive of an image; a node unpacks the parts in order.
type Part struct {
	Path string
	Size int64
}

// Artifact is a node's image of one kind in one format.
type Artifact struct {
	Node   string
	Kind   ImageKind
	Format compress.Format
	Parts  []Part
	// ETag identifies the content: it changes exactly when a part does.
	ETag string
}

// Size is the total length of the parts.
func (a *Artifact) Size() int64 {
	var n int64
	for _, p := range a.Parts {
		n += p.Size
	}
	return n
}

type flight struct {
	done chan struct{}
	err  error
}

// Artifact returns a node's image of kind k in format f. With build set
// it first brings the image up to date when its inputs changed; callers
// asking for the same image at the same time share one build.
func (b *Builder) Artifact(ctx context.Context, snap *Snapshot, node string, k ImageKind, f compress.Format, build bool) (*Artifact, error) {
	if snap.Node(node) == nil {
		return nil, fmt.Errorf("node %q does not exist", node)
	}
	if build {
		if err := b.once(ctx, node+"\x00"+string(k), func() error {
			res, err := b.Build(ctx, snap, []string{node}, []ImageKind{k}, false, nil)
			if err != nil {
				return err
			}
			return res[0].Err
		}); err != nil {
			return nil, err
		}
	}
	dir := filepath.Join(b.Dir, node)
	m := readManifest(filepath.Join(dir, k.Base()+".json"))
	if m == nil {
		return nil, fmt.Errorf("node %q has no %s overlay image; run wwctl overlay build", node, k)
	}
	a := &Artifact{Node: node, Kind: k, Format: f}
	var paths []string
	if m.Shared != "" {
		paths = append(paths, b.sharedPath(m.Shared, f))
	}
	if m.Own != "" {
		paths = append(paths, filepath.Join(dir, k.Base()+"."+m.Own[:16]+".img"+f.Ext()))
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("node %q %s overlay: %w", node, k, err)
		}
		a.Parts = append(a.Parts, Part{Path: p, Size: st.Size()})
	}
	sum := sha256.Sum256([]byte(m.Shared + "\x00" + m.Own + "\x00" + string(f)))
	a.ETag = hex.EncodeToString(sum[:16])
	return a, nil
}

// once runs fn for key unless a call for key is under way, in which case
// it waits for that call and returns its error.
func (b *Builder) once(ctx context.Context, key string, fn func() error) error {
	b.mu.Lock()
	if b.flights == nil {
		b.flights = map[string]*flight{}
	}
	if f, ok := b.flights[key]; ok {
		b.waits.Add(1)
		b.mu.Unlock()
		select {
		case <-f.done:
			return f.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	f := &flight{done: make(chan struct{})}
	b.flights[key] = f
	b.mu.Unlock()
	b.builds.Add(1)
	f.err = fn()
	b.mu.Lock()
	delete(b.flights, key)
	b.mu.Unlock()
	close(f.done)
	return f.err
}
