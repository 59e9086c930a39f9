package provision

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// NodeStatus is how far a node got: the last thing served to it.
type NodeStatus struct {
	Node     string
	Stage    string // IPXE, KERNEL, IMAGE, SYSTEM_OVERLAY, RUNTIME_OVERLAY
	Sent     string // file name, or BAD_REQUEST, NOT_FOUND, BAD_ASSET
	Addr     string
	Bytes    int64
	LastSeen time.Time
}

// statusJSON is Warewulf's shape of a node status.
type statusJSON struct {
	Node     string `json:"node name"`
	Stage    string `json:"stage"`
	Sent     string `json:"sent"`
	Addr     string `json:"ipaddr"`
	LastSeen int64  `json:"last seen"`
	Bytes    int64  `json:"bytes"`
}

// MarshalJSON writes the status as Warewulf does, last seen in unix
// seconds.
func (n NodeStatus) MarshalJSON() ([]byte, error) {
	j := statusJSON{Node: n.Node, Stage: n.Stage, Sent: n.Sent, Addr: n.Addr, Bytes: n.Bytes}
	if !n.LastSeen.IsZero() {
		j.LastSeen = n.LastSeen.Unix()
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads what MarshalJSON writes.
func (n *NodeStatus) UnmarshalJSON(data []byte) error {
	var j statusJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*n = NodeStatus{Node: j.Node, Stage: j.Stage, Sent: j.Sent, Addr: j.Addr, Bytes: j.Bytes}
	if j.LastSeen != 0 {
		n.LastSeen = time.Unix(j.LastSeen, 0)
	}
	return nil
}

type statusDoc struct {
	Nodes map[string]NodeStatus `json:"nodes"`
	// Unknown is keyed by hardware address.
	Unknown map[string]NodeStatus `json:"unknown,omitempty"`
}

func (s *Server) record(node, stage, sent, addr string, bytes int64) {
	s.statusMu.Lock()
	s.status[node] = NodeStatus{Node: node, Stage: stage, Sent: sent, Addr: addr, Bytes: bytes, LastSeen: s.now()}
	s.dirty = true
	s.count(stage, sent, bytes)
	s.statusMu.Unlock()
}

// maxUnknown bounds how many unknown hardware addresses are remembered,
// so a flood of made-up ones cannot grow memory without end.
const maxUnknown = 1024

// recordUnknown remembers a request no node could be found for.
func (s *Server) recordUnknown(hwaddr, stage, sent, addr string) {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	s.count(stage, sent, 0)
	if hwaddr == "" {
		return
	}
	if _, ok := s.unknown[hwaddr]; !ok && len(s.unknown) >= maxUnknown {
		oldest := ""
		for hw, st := range s.unknown {
			if oldest == "" || st.LastSeen.Before(s.unknown[oldest].LastSeen) {
				oldest = hw
			}
		}
		delete(s.unknown, oldest)
	}
	s.unknown[hwaddr] = NodeStatus{Stage: stage, Sent: sent, Addr: addr, LastSeen: s.now()}
}

// Status returns a copy of every node's status; a node of the inventory
// that never asked for anything has an empty one.
func (s *Server) Status() map[string]NodeStatus {
	nodes := s.state.Load().nodes
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	out := make(map[string]NodeStatus, len(nodes))
	for name := range nodes {
		st, ok := s.status[name]
		if !ok {
			st = NodeStatus{Node: name}
		}
		out[name] = st
	}
	return out
}

// Unknown returns the hardware addresses that asked to boot but belong to
// no node (and none was discoverable), with what they asked for last.
func (s *Server) Unknown() map[string]NodeStatus {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return maps.Clone(s.unknown)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	data, err := json.MarshalIndent(statusDoc{Nodes: s.Status(), Unknown: s.Unknown()}, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(append(data, '\n'))
}

func (s *Server) loadStatus() error {
	if s.o.StatusFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.o.StatusFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var doc statusDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("%s: %w", s.o.StatusFile, err)
	}
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	for name, st := range doc.Nodes {
		if cur, ok := s.status[name]; !ok || cur.LastSeen.Before(st.LastSeen) {
			s.status[name] = st
		}
	}
	return nil
}

// flushStatus saves the status when it changed since the last save, or
// always with force.
func (s *Server) flushStatus(force bool) error {
	if s.o.StatusFile == "" {
		return nil
	}
	s.statusMu.Lock()
	if !s.dirty && !force {
		s.statusMu.Unlock()
		return nil
	}
	nodes := maps.Clone(s.status)
	s.dirty = false
	s.statusMu.Unlock()
	data := appendStatusFile(nil, nodes)
	if err := os.MkdirAll(filepath.Dir(s.o.StatusFile), 0o755); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(s.o.StatusFile, append(data, '\n'), 0o644); err != nil {
		s.statusMu.Lock()
		s.dirty = true
		s.statusMu.Unlock()
		return err
	}
	return nil
}

// FlushStatus saves the status now.
func (s *Server) FlushStatus() error { return s.flushStatus(true) }

// appendStatusFile appends what json.MarshalIndent(statusDoc{Nodes:
// nodes}, "", "  ") makes, without reflection: the daemon writes it every
// 2 s while nodes boot, which for thousands of nodes cost a busy server
// a few percent of its time.
func appendStatusFile(b []byte, nodes map[string]NodeStatus) []byte {
	if nodes == nil {
		return append(b, "{\n  \"nodes\": null\n}"...)
	}
	if len(nodes) == 0 {
		return append(b, "{\n  \"nodes\": {}\n}"...)
	}
	b = append(b, "{\n  \"nodes\": {"...)
	for i, name := range slices.Sorted(maps.Keys(nodes)) {
		n := nodes[name]
		if i > 0 {
			b = append(b, ',')
		}
		var seen int64
		if !n.LastSeen.IsZero() {
			seen = n.LastSeen.Unix()
		}
		b = append(b, "\n    "...)
		b = appendJSONString(b, name)
		b = append(b, ": {\n      \"node name\": "...)
		b = appendJSONString(b, n.Node)
		b = append(b, ",\n      \"stage\": "...)
		b = appendJSONString(b, n.Stage)
		b = append(b, ",\n      \"sent\": "...)
		b = appendJSONString(b, n.Sent)
		b = append(b, ",\n      \"ipaddr\": "...)
		b = appendJSONString(b, n.Addr)
		b = append(b, ",\n      \"last seen\": "...)
		b = strconv.AppendInt(b, seen, 10)
		b = append(b, ",\n      \"bytes\": "...)
		b = strconv.AppendInt(b, n.Bytes, 10)
		b = append(b, "\n    }"...)
	}
	return append(b, "\n  }\n}"...)
}

// appendJSONString appends s quoted as encoding/json quotes it: plain
// printable ASCII as it is, anything else through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
