package contract

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"
)

// NodeStatus is how far a node got: the last thing served to it.
type NodeStatus struct {
	Node     string
	Stage    string // StageIPXE, StageKernel, ...
	Sent     string // file name, or SentBadRequest, SentNotFound, SentBadAsset
	Addr     string
	Bytes    int64
	LastSeen time.Time // zero: never seen
}

// statusWire is Warewulf's shape of a node status (with bytes, which
// wwboot adds): every field always present, last seen in unix seconds,
// 0 for never.
type statusWire struct {
	Node     string `json:"node name" yaml:"node name"`
	Stage    string `json:"stage" yaml:"stage"`
	Sent     string `json:"sent" yaml:"sent"`
	Addr     string `json:"ipaddr" yaml:"ipaddr"`
	LastSeen int64  `json:"last seen" yaml:"last seen"`
	Bytes    int64  `json:"bytes" yaml:"bytes"`
}

func (n NodeStatus) wire() statusWire {
	return statusWire{Node: n.Node, Stage: n.Stage, Sent: n.Sent, Addr: n.Addr, LastSeen: n.LastSeenUnix(), Bytes: n.Bytes}
}

// LastSeenUnix is LastSeen in unix seconds, 0 for never.
func (n NodeStatus) LastSeenUnix() int64 {
	if n.LastSeen.IsZero() {
		return 0
	}
	return n.LastSeen.Unix()
}

// MarshalJSON writes the status in Warewulf's shape.
func (n NodeStatus) MarshalJSON() ([]byte, error) { return json.Marshal(n.wire()) }

// MarshalYAML writes the status in Warewulf's shape (gopkg.in/yaml.v3's
// Marshaler, without importing it).
func (n NodeStatus) MarshalYAML() (any, error) { return n.wire(), nil }

// UnmarshalJSON reads what MarshalJSON writes; a missing field is empty.
func (n *NodeStatus) UnmarshalJSON(data []byte) error {
	var j statusWire
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*n = NodeStatus{Node: j.Node, Stage: j.Stage, Sent: j.Sent, Addr: j.Addr, Bytes: j.Bytes}
	if j.LastSeen != 0 {
		n.LastSeen = time.Unix(j.LastSeen, 0)
	}
	return nil
}

// StatusDoc is the status document: GET /status, GET /api/status and
// the daemon's status file.
type StatusDoc struct {
	// Nodes is keyed by node name.
	Nodes map[string]NodeStatus `json:"nodes"`
	// Unknown is keyed by hardware address: requests no node was found
	// for (only /status has them).
	Unknown map[string]NodeStatus `json:"unknown,omitempty"`
}

// DecodeStatus reads a status document: one JSON object, nothing but
// white space after it. Nodes is never nil, and an entry without a node
// name gets its key.
func DecodeStatus(r io.Reader) (StatusDoc, error) {
	var doc StatusDoc
	dec := json.NewDecoder(r)
	if err := dec.Decode(&doc); err != nil {
		return StatusDoc{}, fmt.Errorf("status document: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return StatusDoc{}, errors.New("status document: unexpected data after the JSON object")
	}
	if doc.Nodes == nil {
		doc.Nodes = map[string]NodeStatus{}
	}
	for name, st := range doc.Nodes {
		if st.Node == "" {
			st.Node = name
			doc.Nodes[name] = st
		}
	}
	return doc, nil
}

// AppendStatusFile appends what json.MarshalIndent(StatusDoc{Nodes:
// nodes}, "", "  ") makes, without reflection: the daemon writes it every
// 2 s while nodes boot, which for thousands of nodes cost a busy server
// a few percent of its time.
func AppendStatusFile(b []byte, nodes map[string]NodeStatus) []byte {
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
		b = strconv.AppendInt(b, n.LastSeenUnix(), 10)
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
