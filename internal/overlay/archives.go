package overlay

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wwboot/wwboot/internal/compress"
)

// defaultCheckTTL is ServeOptions.CheckTTL when unset.
const defaultCheckTTL = 5 * time.Second

// ServeOptions are how Archives keeps what it serves.
type ServeOptions struct {
	// Memory bounds the bytes of archives kept in memory (0: 32 MiB;
	// negative: none), and MemoryMax the size of the largest one kept
	// (0: 1 MiB). Larger and secret archives are sent from their files.
	Memory, MemoryMax int64
	// CheckTTL is how long a checked image is trusted within one
	// snapshot (0: 5 s). A new snapshot (a change to nodes.conf or an
	// overlay) starts afresh; what the TTL bounds is how late a change to
	// a file a template read, or an image rebuilt by hand, is noticed.
	CheckTTL time.Duration
}

// Archives serves nodes' overlay images, as the daemon sends them: it
// checks an image against the snapshot (building it first when asked),
// trusts that check for a while, keeps small archives in memory and opens
// the rest. Safe for concurrent use.
type Archives struct {
	b     *Builder
	ttl   time.Duration
	blobs *blobCache // nil: none kept
	// joinBufs are buffers a body held in memory is joined in (Send).
	joinBufs sync.Pool // *[]byte
}

// NewArchives returns the images b builds, served as o says.
func NewArchives(b *Builder, o ServeOptions) *Archives {
	a := &Archives{b: b, ttl: o.CheckTTL}
	if a.ttl <= 0 {
		a.ttl = defaultCheckTTL
	}
	if o.Memory >= 0 {
		total, largest := o.Memory, o.MemoryMax
		if total == 0 {
			total = defaultBlobBytes
		}
		if largest <= 0 {
			largest = defaultBlobMax
		}
		a.blobs = newBlobCache(total, largest)
	}
	return a
}

// Request names the image asked for.
type Request struct {
	Snap   *Snapshot
	Node   string
	Kind   ImageKind
	Format compress.Format
	// Secrets asks for the secret part too: only for a request that
	// proved it comes from the node.
	Secrets bool
	// Build brings the image up to date first when its inputs changed
	// (warewulf.autobuild overlays).
	Build bool
}

// Open returns the image r asks for, opened: Body.Withheld tells that it
// has a secret part r did not ask for. The caller closes it.
func (a *Archives) Open(ctx context.Context, r Request) (*Body, error) {
	slot := r.Snap.served().slot(r.Node, r.Kind, r.Format)
	var err error
	for try := 0; ; try++ {
		var art *Artifact
		if slot != nil {
			if c := slot.Load(); c != nil && time.Since(c.at) < a.ttl {
				art = c.a
			}
		}
		if art == nil {
			at := time.Now()
			if art, err = a.b.Artifact(ctx, r.Snap, r.Node, r.Kind, r.Format, r.Build); err != nil {
				return nil, err
			}
			if slot != nil {
				slot.Store(&checkedArtifact{art, at})
			}
		}
		withheld := false
		if art.HasSecrets() && !r.Secrets {
			art, withheld = art.Public(), true
		}
		var body *Body
		if body, err = a.blobs.open(art.Parts); err == nil {
			body.ETag, body.SHA256, body.Withheld, body.joinBufs = art.ETag, art.SHA256, withheld, &a.joinBufs
			return body, nil
		}
		// Rebuilt since it was checked: check again, once.
		if slot != nil {
			slot.Store(nil)
		}
		if try > 0 {
			return nil, fmt.Errorf("node %s %s overlay: %w", r.Node, r.Kind, err)
		}
	}
}

// MemoryStats returns how many archives are held in memory and the
// bytes they take.
func (a *Archives) MemoryStats() (archives int, bytes int64) { return a.blobs.stats() }

// servedChecks are the images Archives checked in one snapshot: a boot
// storm asks for the same nodes' images several times within seconds.
type servedChecks struct {
	nodes sync.Map // node -> *nodeChecks
}

// nodeChecks are a node's checked images, by kind and by index of the
// format in Formats: found without building a key.
type nodeChecks struct {
	artifacts [2][3]atomic.Pointer[checkedArtifact]
}

type checkedArtifact struct {
	a  *Artifact
	at time.Time
}

// served returns the snapshot's checks.
func (s *Snapshot) served() *servedChecks {
	s.servedOnce.Do(func() { s.servedChecks = &servedChecks{} })
	return s.servedChecks
}

// slot returns the place of node's image of kind in format f, or nil for
// a format the cache does not know.
func (c *servedChecks) slot(node string, kind ImageKind, f compress.Format) *atomic.Pointer[checkedArtifact] {
	fi := slices.Index(Formats, f)
	if fi < 0 || fi > 2 {
		return nil
	}
	ki := 0
	if kind == Runtime {
		ki = 1
	}
	v, ok := c.nodes.Load(node)
	if !ok {
		v, _ = c.nodes.LoadOrStore(node, &nodeChecks{})
	}
	return &v.(*nodeChecks).artifacts[ki][fi]
}
