package cli

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestNodeStatus(t *testing.T) {
	now := time.Now().Unix()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/status" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, `{"nodes": {
			"n1": {"node name": "n1", "stage": "RUNTIME_OVERLAY", "sent": "__RUNTIME__.img.gz", "ipaddr": "10.0.0.1", "last seen": %d},
			"n2": {"node name": "n2", "stage": "IPXE", "sent": "BAD_ASSET", "ipaddr": "10.0.0.2", "last seen": %d}}}`, now-16, now-3)
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	tr := newTree(t, "")
	conf, _ := os.ReadFile(tr.conf)
	if err := os.WriteFile(tr.conf, append(conf, []byte("ipaddr: 127.0.0.1\nwarewulf:\n  port: "+port+"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.mustRun("node", "add", "n[1-3]")
	// Warewulf's layout: columns of 20, 20, 25 and 10, a line of '='.
	head := "NODENAME             STAGE                SENT                      LASTSEEN (s)\n" + strings.Repeat("=", 80) + "\n"
	n1 := "n1                   RUNTIME_OVERLAY      __RUNTIME__.img.gz        16\n"
	n2 := "n2                   IPXE                 BAD_ASSET                 3\n"
	n3 := "n3                   --                   --                        --\n"
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"all, never-seen nodes too", []string{"node", "status"}, head + n1 + n2 + n3},
		{"by last check-in", []string{"node", "status", "-l"}, head + n2 + n1 + n3},
		{"by last check-in, reversed", []string{"node", "status", "--last", "-r"}, head + n3 + n1 + n2},
		{"checked in since a time", []string{"node", "status", "-t", strconv.FormatInt(now-10, 10)}, head + n2},
		{"unknown or in error", []string{"node", "status", "-u"}, head + n2 + n3},
		{"selected", []string{"node", "status", "n1,"}, head + n1},
		{"json", []string{"node", "status", "-j", "n3"},
			"[\n  {\n    \"node name\": \"n3\",\n    \"stage\": \"\",\n    \"sent\": \"\",\n    \"ipaddr\": \"\",\n    \"last seen\": 0,\n    \"bytes\": 0\n  }\n]\n"},
		{"yaml", []string{"node", "status", "-y", "n3"},
			"- node name: n3\n  stage: \"\"\n  sent: \"\"\n  ipaddr: \"\"\n  last seen: 0\n  bytes: 0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tr.mustRun(tc.args...)
			// The clock may tick between the server and the table.
			got = strings.ReplaceAll(strings.ReplaceAll(got, "  17\n", "  16\n"), "  4\n", "  3\n")
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	srv.Close()
	if _, _, err := tr.run("", "node", "status"); err == nil || !strings.Contains(err.Error(), "is the daemon running") {
		t.Errorf("error without a daemon: %v", err)
	}
}
