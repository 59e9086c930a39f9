package provision

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
)

// checkedTTL is how long a checked overlay artifact or an image's list of
// kernels is trusted within one load of the inventory. A change to
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
	kernels   sync.Map // image name -> *checked[kernelList]
}

// init makes room for the checks of every one of nodes.
func (c *checks) init(nodes map[string]*inventory.Merged) {
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

func fresh[T any](m *sync.Map, key string) (T, bool) {
	if c, ok := m.Load(key); ok {
		if c := c.(*checked[T]); time.Since(c.at) < checkedTTL {
			return c.v, true
		}
	}
	var zero T
	return zero, false
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

// kernelList is what image.Kernels found in an image.
type kernelList struct {
	kernels []image.Kernel
	err     error
}

// imageKernels returns img's kernels, looked for in its root at most once
// per checkedTTL in this state: every kernel and initramfs request of a
// boot storm asks for them. The caller must not modify them.
func (s *Server) imageKernels(st *state, img string) ([]image.Kernel, error) {
	if v, ok := fresh[kernelList](&st.checks.kernels, img); ok {
		return v.kernels, v.err
	}
	at := time.Now()
	ks, err := image.Kernels(s.o.Images.RootFS(img))
	st.checks.kernels.Store(img, &checked[kernelList]{kernelList{ks, err}, at})
	return ks, err
}

// defaultKernel returns the version of the kernel a node of img gets when
// it names none, "" when there is none.
func (s *Server) defaultKernel(st *state, img string) string {
	ks, err := s.imageKernels(st, img)
	if err != nil {
		return ""
	}
	k, err := image.FindKernel(ks, "")
	if err != nil {
		return ""
	}
	return k.Version
}
