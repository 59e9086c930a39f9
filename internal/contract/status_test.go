package contract

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
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
			"n10": {Node: "n10", Stage: StageSystem, Sent: "__SYSTEM__.img", Addr: "10.0.0.10", Bytes: 30208, LastSeen: seen},
			"n2":  {Node: "n2", Stage: StageIPXE, Sent: "default", Addr: "fe80::1", Bytes: 3006, LastSeen: seen.Add(time.Second)},
			"n1":  {Node: "n1", Stage: StageImage, Sent: SentNotFound, Addr: "10.0.0.1", Bytes: -1, LastSeen: seen},
		}},
		{name: "characters to escape", nodes: map[string]NodeStatus{
			"a\"b\\c": {Node: "<n&1>", Sent: "tab\there\nnl \x00 \x7f", Addr: "é \u2028 \xff"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.MarshalIndent(StatusDoc{Nodes: tt.nodes}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(AppendStatusFile(nil, tt.nodes))); diff != "" {
				t.Errorf("(-json.MarshalIndent +AppendStatusFile):\n%s", diff)
			}
		})
	}
}

// Every encoding of a node status has Warewulf's keys, all of them, in
// one order.
func TestNodeStatusShape(t *testing.T) {
	seen := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name     string
		st       NodeStatus
		wantJSON string
		wantYAML string
	}{
		{name: "never seen", st: NodeStatus{Node: "n3"},
			wantJSON: `{"node name":"n3","stage":"","sent":"","ipaddr":"","last seen":0,"bytes":0}`,
			wantYAML: "node name: n3\nstage: \"\"\nsent: \"\"\nipaddr: \"\"\nlast seen: 0\nbytes: 0\n"},
		{name: "seen", st: NodeStatus{Node: "n1", Stage: StageRuntime, Sent: "__RUNTIME__.img.gz", Addr: "10.0.0.1", Bytes: 812, LastSeen: seen},
			wantJSON: `{"node name":"n1","stage":"RUNTIME_OVERLAY","sent":"__RUNTIME__.img.gz","ipaddr":"10.0.0.1","last seen":1700000000,"bytes":812}`,
			wantYAML: "node name: n1\nstage: RUNTIME_OVERLAY\nsent: __RUNTIME__.img.gz\nipaddr: 10.0.0.1\nlast seen: 1700000000\nbytes: 812\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := json.Marshal(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantJSON, string(j)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
			y, err := yaml.Marshal(tt.st)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantYAML, string(y)); diff != "" {
				t.Errorf("YAML (-want +got):\n%s", diff)
			}
			var back NodeStatus
			if err := json.Unmarshal(j, &back); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.st, back); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeStatus(t *testing.T) {
	seen := time.Unix(1_700_000_000, 0)
	tests := []struct {
		name    string
		in      string
		want    StatusDoc
		wantErr string
	}{
		{name: "nodes and unknown",
			in: `{"nodes": {"n1": {"node name": "n1", "stage": "KERNEL", "sent": "vmlinuz", "ipaddr": "10.0.0.1", "last seen": 1700000000, "bytes": 7}},
			      "unknown": {"aa:bb:cc:dd:ee:ff": {"stage": "IPXE", "sent": "unconfigured"}}}`,
			want: StatusDoc{
				Nodes:   map[string]NodeStatus{"n1": {Node: "n1", Stage: StageKernel, Sent: "vmlinuz", Addr: "10.0.0.1", Bytes: 7, LastSeen: seen}},
				Unknown: map[string]NodeStatus{"aa:bb:cc:dd:ee:ff": {Stage: StageIPXE, Sent: "unconfigured"}},
			}},
		{name: "Warewulf's, without bytes; a node name missing is the key",
			in:   `{"nodes": {"n2": {"stage": "IPXE", "sent": "BAD_ASSET", "ipaddr": "10.0.0.2", "last seen": 1700000000}}}`,
			want: StatusDoc{Nodes: map[string]NodeStatus{"n2": {Node: "n2", Stage: StageIPXE, Sent: SentBadAsset, Addr: "10.0.0.2", LastSeen: seen}}}},
		{name: "null nodes, white space after", in: "{\"nodes\": null}\n\n", want: StatusDoc{Nodes: map[string]NodeStatus{}}},
		{name: "data after the document", in: `{"nodes": {}} {}`, wantErr: "status document: unexpected data after the JSON object"},
		{name: "not JSON", in: `<html>`, wantErr: "status document: invalid character '<'"},
		{name: "last seen not a number", in: `{"nodes": {"n1": {"last seen": "yesterday"}}}`, wantErr: "status document: json: cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeStatus(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
