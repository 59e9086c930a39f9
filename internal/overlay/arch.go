package overlay

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/arch"
)

// wwclientOverlay is the overlay that carries the node agent, built for
// the server's architecture; its copies wwclient.<arch> carry the agent
// built for each architecture (WithWwclientArchs).
const wwclientOverlay = "wwclient"

// overlayList is the list of overlays node n's image of kind k is built
// from: the node's own list, with the wwclient overlay replaced by its
// copy wwclient.<arch> when the node's image (RenderOptions.ImageArch)
// is of another architecture than the server's, so that every node runs
// the agent of its image's architecture. A node whose image has no
// agent for its architecture, or that names the copy of another
// architecture than its image's, gets an error naming the image, the
// architecture and the missing file: a node must not boot without a
// working agent.
func (s *Snapshot) overlayList(k ImageKind, n *Node) ([]string, error) {
	list := k.overlays(n)
	if s.opts.ImageArch == nil || n.ImageName == "" || !slices.ContainsFunc(list, isWwclient) {
		return list, nil
	}
	a := s.imageArch(n.ImageName)
	if a == "" {
		return list, nil // not known: the server's, as before
	}
	out := slices.Clone(list)
	for i, name := range out {
		if other, ok := strings.CutPrefix(name, wwclientOverlay+"."); ok && other != a && slices.Contains(arch.Supported(), other) {
			return nil, fmt.Errorf("overlay %s carries the %s wwclient, but image %q is %s (use overlay %s, or %s)",
				name, other, n.ImageName, a, wwclientOverlay, wwclientOverlay+"."+a)
		}
		if name != wwclientOverlay || a == arch.Host() {
			continue
		}
		copyName := wwclientOverlay + "." + a
		if _, _, ok := s.store.Locate(copyName); !ok {
			return nil, fmt.Errorf("image %q is %s: %w", n.ImageName, a, s.store.missing(copyName))
		}
		out[i] = copyName
	}
	return out, nil
}

func isWwclient(name string) bool {
	return name == wwclientOverlay || strings.HasPrefix(name, wwclientOverlay+".")
}

// imageArch is RenderOptions.ImageArch, asked once per image and
// snapshot.
func (s *Snapshot) imageArch(image string) string {
	if v, ok := s.archs.Load(image); ok {
		return v.(string)
	}
	a := s.opts.ImageArch(image)
	s.archs.Store(image, a)
	return a
}

// missingOverlay is implemented by built-in overlay trees that can say
// why an overlay they would serve is not there (WithWwclientArchs: its
// binary is not installed).
type missingOverlay interface {
	Missing(name string) error
}

// missing says why the overlay called name does not exist.
func (s *Store) missing(name string) error {
	if m, ok := s.Builtin.(missingOverlay); ok {
		if err := m.Missing(name); err != nil {
			return err
		}
	}
	return fmt.Errorf("overlay %q does not exist", name)
}
