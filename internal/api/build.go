package api

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/overlay"
)

// snapshot reads the inventory and prepares rendering.
func (s *Server) snapshot() (*overlay.Snapshot, error) {
	return s.site.Snapshot()
}

// overlayState is one of a node's overlay images as Warewulf's API
// shows it: the overlays it is built from and, when it was built, when.
type overlayState struct {
	Overlays []string   `json:"overlays,omitempty"`
	MTime    *time.Time `json:"mtime,omitempty"`
}

// nodeOverlays is GET /api/nodes/{id}/overlays, Warewulf's shape.
type nodeOverlays struct {
	SystemOverlay  *overlayState `json:"system overlay"`
	RuntimeOverlay *overlayState `json:"runtime overlay"`
}

// getNodeOverlays answers the node's merged overlay lists, each with the
// time its image was built (none when it was not).
func (s *Server) getNodeOverlays(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("id")
	inv, err := s.site.Nodes().Load()
	if err != nil {
		return err
	}
	if _, ok := inv.Nodes[name]; !ok {
		return errorf(http.StatusNotFound, "node %q does not exist", name)
	}
	m, err := inv.Merge(name)
	if err != nil {
		return err
	}
	state := func(k overlay.ImageKind, overlays []string) *overlayState {
		st := &overlayState{Overlays: overlays}
		if t, ok := s.o.Builder.BuiltAt(name, k); ok {
			st.MTime = &t
		}
		return st
	}
	reply(w, http.StatusOK, nodeOverlays{SystemOverlay: state(overlay.System, m.SystemOverlay),
		RuntimeOverlay: state(overlay.Runtime, m.RuntimeOverlay)})
	return nil
}

// buildRequest is the optional body of POST /api/nodes/overlays/build
// (ours: Warewulf's takes none and builds every node).
type buildRequest struct {
	// Nodes are hostlist patterns; none means every node.
	Nodes []string `json:"nodes"`
}

// buildAllOverlays builds the system and runtime overlay images of the
// nodes the body names, or of every node, and answers the names of the
// nodes built, sorted, as Warewulf does.
func (s *Server) buildAllOverlays(w http.ResponseWriter, r *http.Request) error {
	var req buildRequest
	if err := decodeOptionalBody(r, &req); err != nil {
		return err
	}
	names, err := hostlist.Expand(req.Nodes...)
	if err != nil {
		return errorf(http.StatusBadRequest, "nodes: %v", err)
	}
	if len(names) == 0 {
		inv, err := s.site.Nodes().Load()
		if err != nil {
			return err
		}
		names = inv.NodeNames()
	}
	if err := s.buildOverlays(r, names); err != nil {
		return err
	}
	sort.Strings(names)
	reply(w, http.StatusOK, names)
	return nil
}

// buildNodeOverlays builds one node's images and answers its name.
func (s *Server) buildNodeOverlays(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("id")
	if err := s.buildOverlays(r, []string{name}); err != nil {
		return err
	}
	reply(w, http.StatusOK, name)
	return nil
}

// buildOverlays builds the nodes' images as "wwctl overlay build
// --force" does: always, as Warewulf's API does, so that a client sees
// new images (and mtimes) after the call. A failed image is an error
// (500) listing each failure.
func (s *Server) buildOverlays(r *http.Request, names []string) error {
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	var missing []string
	for _, n := range names {
		if snap.Node(n) == nil {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return errorf(http.StatusNotFound, "no such node: %s", hostlist.Compress(missing))
	}
	results, err := s.o.Builder.Build(r.Context(), snap, names, []overlay.ImageKind{overlay.System, overlay.Runtime}, true, nil)
	if err != nil {
		return err
	}
	var failed []string
	for _, res := range results {
		if res.Status == overlay.Failed {
			failed = append(failed, fmt.Sprintf("%s %s overlay: %v", res.Node, res.Kind,
				strings.TrimPrefix(fmt.Sprint(res.Err), "node "+res.Node+": ")))
		}
	}
	if len(failed) > 0 {
		return &httpError{code: http.StatusInternalServerError,
			msg: fmt.Sprintf("%d of %d overlay images failed to build", len(failed), len(results)), problems: failed}
	}
	return nil
}

// getStatus answers the contract's status document, without the
// unknown hardware addresses the daemon's /status adds.
func (s *Server) getStatus(w http.ResponseWriter, r *http.Request) error {
	doc := contract.StatusDoc{Nodes: map[string]contract.NodeStatus{}}
	if s.o.Status != nil {
		for k, v := range s.o.Status() {
			doc.Nodes[k] = v
		}
	}
	reply(w, http.StatusOK, doc)
	return nil
}
