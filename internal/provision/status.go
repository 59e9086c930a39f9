package provision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/contract"
)

func (s *Server) record(node, stage, sent, addr string, bytes int64) {
	s.statusMu.Lock()
	s.status[node] = contract.NodeStatus{Node: node, Stage: stage, Sent: sent, Addr: addr, Bytes: bytes, LastSeen: s.now()}
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
	s.unknown[hwaddr] = contract.NodeStatus{Stage: stage, Sent: sent, Addr: addr, LastSeen: s.now()}
}

// Status returns a copy of every node's status; a node of the inventory
// that never asked for anything has an empty one.
func (s *Server) Status() map[string]contract.NodeStatus {
	nodes := s.state.Load().nodes
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	out := make(map[string]contract.NodeStatus, len(nodes))
	for name := range nodes {
		st, ok := s.status[name]
		if !ok {
			st = contract.NodeStatus{Node: name}
		}
		out[name] = st
	}
	return out
}

// Unknown returns the hardware addresses that asked to boot but belong to
// no node (and none was discoverable), with what they asked for last.
func (s *Server) Unknown() map[string]contract.NodeStatus {
	s.statusMu.Lock()
	defer s.statusMu.Unlock()
	return maps.Clone(s.unknown)
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	data, err := json.MarshalIndent(contract.StatusDoc{Nodes: s.Status(), Unknown: s.Unknown()}, "", "  ")
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
	doc, err := contract.DecodeStatus(bytes.NewReader(data))
	if err != nil {
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

// FlushStatus saves the status to Options.StatusFile when it changed
// since the last save, or with always, in any case. Saves are
// serialized, so a later call never leaves an older status on disk.
func (s *Server) FlushStatus(always bool) error {
	if s.o.StatusFile == "" {
		return nil
	}
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.statusMu.Lock()
	if !s.dirty && !always {
		s.statusMu.Unlock()
		return nil
	}
	nodes := maps.Clone(s.status)
	s.dirty = false
	s.statusMu.Unlock()
	data := contract.AppendStatusFile(nil, nodes)
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
