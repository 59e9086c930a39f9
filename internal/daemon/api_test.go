package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/api"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/overlay"
)

// addAPIUser writes auth.conf with user "admin", password "pw".
func (f *fixture) addAPIUser(t *testing.T) {
	t.Helper()
	h, err := api.HashPassword([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	if err := api.UpdateUsers(context.Background(), f.site(t).AuthConf(), func(u *api.Users) error { u.Set("admin", h); return nil }); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) nodesConf(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(f.cfg.NodesConf())
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func patchComment(h http.Handler, target string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("PATCH", target, strings.NewReader(`{"node": {"comment": "via API"}}`))
	r.RemoteAddr = "127.0.0.1:1234"
	r.SetBasicAuth("admin", "pw")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAPIHandler(t *testing.T) {
	for _, tc := range []struct {
		name     string
		conf     string
		wantNil  bool
		wantCode int
	}{
		{name: "off by default", wantNil: true},
		{name: "enabled", conf: "api:\n  enabled: true\n", wantCode: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.conf)
			f.addAPIUser(t)
			reloads := 0
			h, err := apiHandler(f.site(t), &overlay.Builder{Dir: t.TempDir()}, func() ([]string, error) { reloads++; return nil, nil },
				func() map[string]contract.NodeStatus { return nil }, f.site(t).Log())
			if err != nil {
				t.Fatal(err)
			}
			if (h == nil) != tc.wantNil {
				t.Fatalf("handler %v, want nil = %v", h, tc.wantNil)
			}
			if h == nil {
				return
			}
			if w := patchComment(h, "/api/nodes/n1"); w.Code != tc.wantCode {
				t.Fatalf("code %d: %s", w.Code, w.Body)
			}
			if !strings.Contains(f.nodesConf(t), "comment: via API") || reloads != 1 {
				t.Errorf("reloads %d, nodes.conf:\n%s", reloads, f.nodesConf(t))
			}
		})
	}
}

// The daemon's handler sends /api/ to the API, which reloads the daemon
// after a write, and the rest to the boot routes; with the API off,
// /api/ is the boot server's (not found).
func TestHandlerMountsAPI(t *testing.T) {
	tests := []struct {
		name                 string
		conf                 string
		wantPatch, wantKnown int
	}{
		{name: "API off", wantPatch: http.StatusNotFound, wantKnown: http.StatusNotFound},
		{name: "API on", conf: "api:\n  enabled: true\n", wantPatch: http.StatusOK, wantKnown: http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.conf)
			f.addAPIUser(t)
			h := f.daemon(t, nil).Handler()
			kernel := func(path string) int {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
				return w.Code
			}
			if c := kernel("//kernel//aa:bb:cc:dd:ee:01"); c != http.StatusOK {
				t.Errorf("kernel: %d", c)
			}
			// The node the API adds is served at once: the API reloaded
			// the daemon.
			r := httptest.NewRequest("PUT", "/api/nodes/n2", strings.NewReader(`{"node": {"profiles": ["default"],
				"network devices": {"default": {"hwaddr": "aa:bb:cc:dd:ee:02"}}}}`))
			r.RemoteAddr = "127.0.0.1:1234"
			r.SetBasicAuth("admin", "pw")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if c := kernel("/kernel/aa:bb:cc:dd:ee:02"); c != tc.wantKnown {
				t.Errorf("new node's kernel: %d, want %d (API answered %d: %s)", c, tc.wantKnown, w.Code, w.Body)
			}
			if w := patchComment(h, "/api/nodes/n1"); w.Code != tc.wantPatch {
				t.Errorf("PATCH: %d, want %d: %s", w.Code, tc.wantPatch, w.Body)
			}
		})
	}
}
