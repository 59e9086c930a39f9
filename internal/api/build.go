package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/overlay"
)

// snapshot reads the inventory and prepares rendering.
func (s *Server) snapshot() (*overlay.Snapshot, error) {
	return s.site.Snapshot()
}

// nodeOverlays is a node's merged overlay lists.
type nodeOverlays struct {
	SystemOverlay  []string `json:"system overlay"`
	RuntimeOverlay []string `json:"runtime overlay"`
}

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
	out := nodeOverlays{SystemOverlay: append([]string{}, m.SystemOverlay...), RuntimeOverlay: append([]string{}, m.RuntimeOverlay...)}
	reply(w, http.StatusOK, out)
	return nil
}

// buildRequest is the optional body of POST /api/nodes/overlays/build.
type buildRequest struct {
	// Nodes are hostlist patterns; none means every node.
	Nodes []string `json:"nodes"`
}

// buildResult is one overlay image a build made or found up to date.
type buildResult struct {
	Node   string `json:"node"`
	Kind   string `json:"kind"`
	Status string `json:"status"`
	Bytes  int64  `json:"bytes"`
	Error  string `json:"error,omitempty"`
}

type buildReport struct {
	Message   string        `json:"message"`
	Built     int           `json:"built"`
	Unchanged int           `json:"unchanged"`
	Failed    int           `json:"failed"`
	Results   []buildResult `json:"results"`
}

// buildAllOverlays builds the system and runtime overlay images of the
// nodes the body names, or of every node.
func (s *Server) buildAllOverlays(w http.ResponseWriter, r *http.Request) error {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	var req buildRequest
	if len(bytes.TrimSpace(data)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			return errorf(http.StatusBadRequest, "request body: %v", err)
		}
	}
	names, err := hostlist.Expand(req.Nodes...)
	if err != nil {
		return errorf(http.StatusBadRequest, "nodes: %v", err)
	}
	return s.buildOverlays(w, r, names)
}

func (s *Server) buildNodeOverlays(w http.ResponseWriter, r *http.Request) error {
	return s.buildOverlays(w, r, []string{r.PathValue("id")})
}

// buildOverlays builds as "wwctl overlay build" does: only images whose
// inputs changed, or all with ?force. Any failed image makes the answer
// 500, with every result.
func (s *Server) buildOverlays(w http.ResponseWriter, r *http.Request, names []string) error {
	force, err := boolQuery(r, "force")
	if err != nil {
		return err
	}
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
	results, err := s.o.Builder.Build(r.Context(), snap, names, []overlay.ImageKind{overlay.System, overlay.Runtime}, force, nil)
	if err != nil {
		return err
	}
	rep := buildReport{Results: []buildResult{}}
	for _, res := range results {
		br := buildResult{Node: res.Node, Kind: string(res.Kind), Status: string(res.Status), Bytes: res.Bytes}
		switch res.Status {
		case overlay.Built:
			rep.Built++
		case overlay.Unchanged:
			rep.Unchanged++
		case overlay.Failed:
			rep.Failed++
		}
		if res.Err != nil {
			br.Error = strings.TrimPrefix(res.Err.Error(), "node "+res.Node+": ")
		}
		rep.Results = append(rep.Results, br)
	}
	rep.Message = fmt.Sprintf("overlay images: %d built, %d unchanged, %d failed", rep.Built, rep.Unchanged, rep.Failed)
	code := http.StatusOK
	if rep.Failed > 0 {
		code = http.StatusInternalServerError
	}
	reply(w, code, rep)
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
