package provision

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
)

// checkedTTL is how long a checked overlay artifact or an image's list of
// kernels (plan.go) is trusted within one load of the inventory. A change to
// nodes.conf or an overlay makes a new load, which starts afresh; what
// the TTL bounds is how late the daemon notices a file a template read,
// a rebuilt image, or images rebuilt by hand.
const checkedTTL = 5 * time.Second

// checks are a state's cached checks. A boot storm asks for the same
// nodes' images several times within seconds, and checking an overlay
// image reads its manifest under the builder's lock.
type checks struct {
	// nodes has every node of the state, made with it and then only
	// read: found without a lock. artifacts has any other.
	nodes     map[string]*nodeChecks
	artifacts sync.Map // node -> *nodeChecks
}

// init makes room for the checks of every one of nodes.
func (c *checks) init(nodes map[string]*inventory.NodeView) {
	c.nodes = make(map[string]*nodeChecks, len(nodes))
	all := make([]nodeChecks, len(nodes))
	i := 0
	for name := range nodes {
		c.nodes[name] = &all[i]
		i++
	}
}

// nodeChecks are a node's checked overlay images, by kind and by index
// of the format in overlay.Formats: found without building a key.
type nodeChecks struct {
	artifacts [2][3]atomic.Pointer[checked[*overlay.Artifact]]
}

// slot returns the place of node's artifact of kind in format f, or nil
// for a format the cache does not know.
func (c *checks) slot(node string, kind overlay.ImageKind, f compress.Format) *atomic.Pointer[checked[*overlay.Artifact]] {
	fi := slices.Index(overlay.Formats, f)
	if fi < 0 || fi > 2 {
		return nil
	}
	ki := 0
	if kind == overlay.Runtime {
		ki = 1
	}
	nc := c.nodes[node]
	if nc == nil {
		v, ok := c.artifacts.Load(node)
		if !ok {
			v, _ = c.artifacts.LoadOrStore(node, &nodeChecks{})
		}
		nc = v.(*nodeChecks)
	}
	return &nc.artifacts[ki][fi]
}

type checked[T any] struct {
	v  T
	at time.Time
}

// artifact returns req's node's overlay image of kind, brought up to date
// first when autobuild overlays is set, unless that was done less than
// checkedTTL ago in this state. The builder checks without a lock and
// runs one build for concurrent requests of a stale image.
func (s *Server) artifact(ctx context.Context, req *request, kind overlay.ImageKind) (*overlay.Artifact, error) {
	slot := req.st.checks.slot(req.node, kind, req.format)
	if slot != nil {
		if c := slot.Load(); c != nil && time.Since(c.at) < checkedTTL {
			return c.v, nil
		}
	}
	at := time.Now()
	a, err := s.o.Builder.Artifact(ctx, req.st.snap, req.node, kind, req.format, req.st.cfg.Warewulf.AutobuildOverlays)
	if err != nil {
		return nil, err
	}
	if slot != nil {
		slot.Store(&checked[*overlay.Artifact]{a, at})
	}
	return a, nil
}

// forgetArtifact drops a cached artifact whose parts could not be opened
// (rebuilt meanwhile), so that the next request checks again.
func (s *Server) forgetArtifact(req *request, kind overlay.ImageKind) {
	if slot := req.st.checks.slot(req.node, kind, req.format); slot != nil {
		slot.Store(nil)
	}
}
