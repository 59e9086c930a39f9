package provision

import (
	"context"
	"sync"
	"time"

	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/overlay"
)

// checkedTTL is how long a checked overlay artifact or an image's default
// kernel is trusted within one load of the inventory. A change to
// nodes.conf or an overlay makes a new load, which starts afresh; what
// the TTL bounds is how late the daemon notices a file a template read,
// a rebuilt image, or images rebuilt by hand.
const checkedTTL = 5 * time.Second

// checks are a state's cached checks. A boot storm asks for the same
// nodes' images several times within seconds, and checking an overlay
// image reads its manifest under the builder's lock.
type checks struct {
	artifacts sync.Map // node \x00 kind \x00 format -> *checked[*overlay.Artifact]
	kernels   sync.Map // image name -> *checked[string]
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
	key := req.node + "\x00" + string(kind) + "\x00" + string(req.format)
	if a, ok := fresh[*overlay.Artifact](&req.st.checks.artifacts, key); ok {
		return a, nil
	}
	at := time.Now()
	a, err := s.o.Builder.Artifact(ctx, req.st.snap, req.node, kind, req.format, req.st.cfg.Warewulf.AutobuildOverlays)
	if err != nil {
		return nil, err
	}
	req.st.checks.artifacts.Store(key, &checked[*overlay.Artifact]{a, at})
	return a, nil
}

// forgetArtifact drops a cached artifact whose parts could not be opened
// (rebuilt meanwhile), so that the next request checks again.
func (s *Server) forgetArtifact(req *request, kind overlay.ImageKind) {
	req.st.checks.artifacts.Delete(req.node + "\x00" + string(kind) + "\x00" + string(req.format))
}

// defaultKernel returns the version of the kernel a node of img gets when
// it names none, "" when there is none.
func (s *Server) defaultKernel(st *state, img string) string {
	if v, ok := fresh[string](&st.checks.kernels, img); ok {
		return v
	}
	at, version := time.Now(), ""
	if ks, err := image.Kernels(s.o.Images.RootFS(img)); err == nil {
		if k, err := image.FindKernel(ks, ""); err == nil {
			version = k.Version
		}
	}
	st.checks.kernels.Store(img, &checked[string]{version, at})
	return version
}
