package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestRefusedWrites sends bad input: each is refused with 400 and a
// message naming what is wrong, and nodes.conf stays byte for byte as it
// was.
func TestRefusedWrites(t *testing.T) {
	cases := []struct {
		name, method, target, body string
		wantCode                   int
		wantMsg                    string
	}{
		{name: "unknown field", method: "PUT", target: "/api/nodes/n3", body: `{"node": {"colour": "red"}}`,
			wantMsg: `node "n3": unknown key "colour"`},
		{name: "unknown nested field", method: "PATCH", target: "/api/nodes/n1",
			body: `{"node": {"network devices": {"default": {"speed": "10G"}}}}`, wantMsg: `unknown key "speed"`},
		{name: "invalid address", method: "PUT", target: "/api/nodes/n3",
			body: `{"node": {"network devices": {"default": {"ipaddr": "10.0.0.300"}}}}`, wantMsg: `NetDevs[default].Ipaddr: "10.0.0.300"`},
		{name: "invalid netmask by patch", method: "PATCH", target: "/api/nodes/n1",
			body: `{"node": {"network devices": {"default": {"netmask": "255.0.255.0"}}}}`, wantMsg: "255.0.255.0"},
		{name: "duplicate MAC", method: "PUT", target: "/api/nodes/n3",
			body: `{"node": {"network devices": {"eth": {"hwaddr": "AA:BB:CC:DD:EE:01"}}}}`, wantMsg: `is also used by node "n1"`},
		{name: "duplicate IP by patch", method: "PATCH", target: "/api/nodes/n2",
			body: `{"node": {"network devices": {"default": {"ipaddr": "10.0.0.1"}}}}`, wantMsg: "10.0.0.1"},
		{name: "unknown profile", method: "PUT", target: "/api/nodes/n3", body: `{"node": {"profiles": ["nope"]}}`, wantMsg: `"nope"`},
		{name: "profile cycle", method: "PATCH", target: "/api/profiles/gpu", body: `{"profile": {"profiles": ["gpu"]}}`, wantMsg: "gpu"},
		{name: "invalid name", method: "PUT", target: "/api/nodes/bad%20name", body: `{"node": {}}`, wantMsg: `node name "bad name" is not valid`},
		{name: "not JSON", method: "PUT", target: "/api/nodes/n3", body: `node: {}`, wantMsg: "request body"},
		{name: "empty body", method: "PUT", target: "/api/nodes/n3", body: ``, wantMsg: "request body is empty"},
		{name: "wrong envelope", method: "PUT", target: "/api/nodes/n3", body: `{"profile": {}}`, wantMsg: `unknown key "profile"`},
		{name: "missing envelope", method: "PUT", target: "/api/nodes/n3", body: `{}`, wantMsg: `expected {"node": {...}}`},
		{name: "list for a map", method: "PUT", target: "/api/nodes/n3", body: `{"node": {"tags": ["a"]}}`, wantMsg: "tags"},
		{name: "patch with a non-object", method: "PATCH", target: "/api/nodes/n1", body: `{"node": "x"}`, wantMsg: "node"},
		{name: "trailing data", method: "PUT", target: "/api/nodes/n3", body: `{"node": {}} {}`, wantMsg: "unexpected data"},
		{name: "unknown system overlay", method: "PUT", target: "/api/nodes/n3", body: `{"node": {"system overlay": ["nosuch"]}}`,
			wantMsg: `node system overlay: overlay "nosuch" does not exist`},
		{name: "unknown runtime overlay by patch", method: "PATCH", target: "/api/profiles/gpu", body: `{"profile": {"runtime overlay": ["~nosuch"]}}`,
			wantMsg: `profile runtime overlay: overlay "nosuch" does not exist`},
		{name: "bad force", method: "POST", target: "/api/images/rocky/build?force=maybe", wantMsg: `force="maybe"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, enabled)
			f.before = f.nodesConf()
			res := f.do(tc.method, tc.target, tc.body)
			want := tc.wantCode
			if want == 0 {
				want = http.StatusBadRequest
			}
			if res.code != want {
				t.Fatalf("code %d, want %d: %s", res.code, want, res.body)
			}
			var body errorBody
			if err := json.Unmarshal(res.body, &body); err != nil {
				t.Fatal(err)
			}
			if body.Status != statusName(want) {
				t.Errorf("status %q, want %q", body.Status, statusName(want))
			}
			if all := body.Error + "\n" + strings.Join(body.Problems, "\n"); !strings.Contains(all, tc.wantMsg) {
				t.Errorf("answer %q does not name %q", all, tc.wantMsg)
			}
			unchanged(t, f)
		})
	}
}

// TestConcurrentWrites sends many writes at once: every one lands.
func TestConcurrentWrites(t *testing.T) {
	f := newFixture(t, enabled)
	const n = 16
	var wg sync.WaitGroup
	codes := make([]int, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"node": {"profiles": ["default"], "network devices": {"default": {"ipaddr": "10.0.1.%d"}}}}`, i)
			codes[i] = f.do("PUT", fmt.Sprintf("/api/nodes/c%02d", i), body).code
		}()
		go func() {
			defer wg.Done()
			codes[n+i] = f.do("PATCH", "/api/nodes/n1", fmt.Sprintf(`{"node": {"tags": {"t%02d": "v"}}}`, i)).code
		}()
	}
	wg.Wait()
	for i, c := range codes {
		if want := 200; c != want {
			t.Errorf("request %d: code %d, want %d", i, c, want)
		}
	}
	inv := load(t, f)
	var nodes, tags []string
	for name := range inv.Nodes {
		nodes = append(nodes, name)
	}
	for k := range inv.Nodes["n1"].Tags {
		tags = append(tags, k)
	}
	sort.Strings(nodes)
	sort.Strings(tags)
	var wantNodes, wantTags []string
	for i := range n {
		wantNodes = append(wantNodes, fmt.Sprintf("c%02d", i))
		wantTags = append(wantTags, fmt.Sprintf("t%02d", i))
	}
	wantNodes = append(wantNodes, "n1", "n2")
	if diff := cmp.Diff(wantNodes, nodes); diff != "" {
		t.Errorf("nodes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantTags, tags); diff != "" {
		t.Errorf("n1 tags (-want +got):\n%s", diff)
	}
	if got := f.reloads.Load(); got != 2*n {
		t.Errorf("%d reloads, want %d", got, 2*n)
	}
}

// TestOverlayReferences: a write may name overlays that exist, and a
// write that does not touch an overlay list goes through even when the
// list already names one that is gone.
func TestOverlayReferences(t *testing.T) {
	f := newFixture(t, enabled)
	conf := strings.Replace(string(f.nodesConf()), "    profiles: [default]\n", "    profiles: [default]\n    system overlay: [sys, gone]\n", 1)
	if err := os.WriteFile(f.cfg.NodesConf(), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, method, target, body string }{
		{"unrelated field", "PATCH", "/api/nodes/n1", `{"node": {"comment": "x"}}`},
		{"existing overlays", "PATCH", "/api/nodes/n2", `{"node": {"system overlay": ["sys"], "runtime overlay": ["rt", "~sys"]}}`},
		{"new node", "PUT", "/api/nodes/n3", `{"node": {"runtime overlay": ["rt"]}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := f.do(tc.method, tc.target, tc.body); res.code/100 != 2 {
				t.Fatalf("%d %s", res.code, res.body)
			}
		})
	}
}

// TestOverlayWritesReportReloadWarnings: the daemon's reload warnings
// (a change that needs a restart) reach the answer of an overlay write
// in Warning headers, and so does a failed reload, as for node and
// profile writes.
func TestOverlayWritesReportReloadWarnings(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		wantCode                   int
	}{
		{name: "create overlay", method: "PUT", target: "/api/overlays/new", wantCode: http.StatusOK},
		{name: "write file", method: "PUT", target: "/api/overlays/sys/file?path=/etc/new", body: `{"content": "x\n"}`,
			wantCode: http.StatusOK},
		{name: "delete file", method: "DELETE", target: "/api/overlays/sys/file?path=/etc/issue", wantCode: http.StatusOK},
		{name: "delete overlay", method: "DELETE", target: "/api/overlays/sys?force=true", wantCode: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, fail := range []bool{false, true} {
				f := newFixture(t, "api:\n  enabled: true\n", func(o *Options) {
					o.Reload = func() ([]string, error) {
						warnings := []string{"restart the daemon to apply warewulf.port"}
						if fail {
							return warnings, errors.New("templates broken")
						}
						return warnings, nil
					}
				})
				res := f.do(tt.method, tt.target, tt.body)
				if res.code != tt.wantCode {
					t.Fatalf("%d %s", res.code, res.body)
				}
				want := []string{`199 wwctl "restart the daemon to apply warewulf.port"`}
				if fail {
					want = append(want, `199 wwctl "written, but the daemon did not reload: templates broken"`)
				}
				if diff := cmp.Diff(want, res.header.Values("Warning")); diff != "" {
					t.Errorf("reload failing %v: warnings (-want +got):\n%s", fail, diff)
				}
			}
		})
	}
}
