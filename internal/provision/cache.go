package provision

import (
	"sync"
	"time"

	"github.com/wwboot/wwboot/internal/image"
)

// checkedTTL is how long an image's list of kernels is trusted within
// one load of the inventory. A change to nodes.conf makes a new load,
// which starts afresh; what the TTL bounds is how late the daemon
// notices a rebuilt image. (The overlay images' checks are
// overlay.Archives'.)
const checkedTTL = 5 * time.Second

// checks are a state's cached checks: a boot storm asks for the same
// images' kernels many times within seconds.
type checks struct {
	kernels sync.Map // image name -> *checked[kernelList]
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
