package api

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// The BMC routes drive ipmi_sim as wwctl power does, behind the same
// authentication, and answer a dead BMC with 504.
func TestBMCRoutes(t *testing.T) {
	sim := bmcsim.Start(t)
	f := newFixture(t, "ipmi:\n  timeout: 1\n")
	sitetest.Write(t, f.cfg.NodesConf(), fmt.Sprintf("nodeprofiles:\n  default: {}\nnodes:\n"+
		"  n1:\n    ipmi:\n      ipaddr: 127.0.0.1\n      port: \"%d\"\n      username: %s\n      password: %s\n"+
		"  n2:\n    ipmi:\n      ipaddr: 127.0.0.1\n      port: \"%d\"\n", sim.Port, bmcsim.User, bmcsim.Password, bmcsim.Silent(t)))
	steps := []struct {
		method, path, body string
		code               int
		has                string
		call               string
	}{
		{"GET", "/api/nodes/n1/power", "", http.StatusOK, `"power": "off"`, ""},
		{"POST", "/api/nodes/n1/power", `{"action":"on"}`, http.StatusOK, `"node": "n1"`, "power 1"},
		{"GET", "/api/nodes/n1/power", "", http.StatusOK, `"power": "on"`, ""},
		{"PUT", "/api/nodes/n1/bootdev", `{"device":"pxe","persistent":true}`, http.StatusOK, `"node": "n1"`, "boot pxe"},
		{"PUT", "/api/nodes/n1/identify", `{"on":true}`, http.StatusOK, `"node": "n1"`, "identify 0 1"},
		{"GET", "/api/nodes/n1/sensors?full=true", "", http.StatusOK, `"name": "CPU Temp"`, ""},
		{"POST", "/api/nodes/n1/power", `{"action":"explode"}`, http.StatusBadRequest, `unknown power action`, ""},
		{"GET", "/api/nodes/n9/power", "", http.StatusNotFound, `no such node: n9`, ""},
		{"GET", "/api/nodes/n2/power", "", http.StatusGatewayTimeout, `timeout`, ""},
	}
	for _, s := range steps {
		before := len(sim.Calls())
		res := f.do(s.method, s.path, s.body)
		if res.code != s.code || !strings.Contains(string(res.body), s.has) {
			t.Errorf("%s %s: %d %s, want %d with %q", s.method, s.path, res.code, res.body, s.code, s.has)
		}
		if calls := sim.Calls()[before:]; s.call != "" && (len(calls) == 0 || calls[len(calls)-1] != s.call) {
			t.Errorf("%s %s: the simulator was asked %q, want %q", s.method, s.path, calls, s.call)
		}
	}
	if res := f.do("GET", "/api/nodes/n1/power", "", noAuth()); res.code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", res.code)
	}
}
