package provision

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The status file is written without reflection; it must be what
// encoding/json would write.
func TestAppendStatusFileIsMarshalIndent(t *testing.T) {
	seen := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name  string
		nodes map[string]NodeStatus
	}{
		{name: "nil", nodes: nil},
		{name: "empty", nodes: map[string]NodeStatus{}},
		{name: "never seen", nodes: map[string]NodeStatus{"n1": {Node: "n1"}}},
		{name: "several, sorted", nodes: map[string]NodeStatus{
			"n10": {Node: "n10", Stage: stageSystem, Sent: "__SYSTEM__.img", Addr: "10.0.0.10", Bytes: 30208, LastSeen: seen},
			"n2":  {Node: "n2", Stage: stageIPXE, Sent: "default", Addr: "fe80::1", Bytes: 3006, LastSeen: seen.Add(time.Second)},
			"n1":  {Node: "n1", Stage: stageImage, Sent: sentNotFound, Addr: "10.0.0.1", Bytes: -1, LastSeen: seen},
		}},
		{name: "characters to escape", nodes: map[string]NodeStatus{
			"a\"b\\c": {Node: "<n&1>", Sent: "tab\there\nnl \x00 \x7f", Addr: "é \u2028 \xff"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.MarshalIndent(statusDoc{Nodes: tt.nodes}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(appendStatusFile(nil, tt.nodes))); diff != "" {
				t.Errorf("(-json.MarshalIndent +appendStatusFile):\n%s", diff)
			}
		})
	}
}
