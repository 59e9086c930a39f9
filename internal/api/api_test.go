package api

import (
	"bytes"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/arch"
	"github.com/wwboot/wwboot/internal/inventory"
)

const enabled = "api:\n  enabled: true\n"

// wantRoutes is every operation the API has, written out by hand: the
// OpenAPI test compares the served description with it, and the route
// test must exercise each.
func wantRoutes() []string {
	return []string{
		"GET /api/openapi.json", "GET /api/docs/openapi.json", "GET /api/docs",
		"GET /api/status",
		"GET /api/nodes/", "GET /api/nodes/{id}", "GET /api/nodes/{id}/raw", "GET /api/nodes/{id}/fields",
		"PUT /api/nodes/{id}", "PATCH /api/nodes/{id}", "DELETE /api/nodes/{id}",
		"GET /api/nodes/{id}/overlays", "POST /api/nodes/overlays/build", "POST /api/nodes/{id}/overlays/build",
		"GET /api/nodes/{id}/power", "POST /api/nodes/{id}/power", "PUT /api/nodes/{id}/bootdev", "PUT /api/nodes/{id}/identify",
		"GET /api/nodes/{id}/sensors",
		"GET /api/profiles/", "GET /api/profiles/{id}", "GET /api/profiles/{id}/raw", "GET /api/profiles/{id}/fields",
		"PUT /api/profiles/{id}", "PATCH /api/profiles/{id}", "DELETE /api/profiles/{id}",
		"GET /api/images", "GET /api/images/{name}", "POST /api/images/{name}/build", "POST /api/images/{name}/import",
		"PATCH /api/images/{name}", "DELETE /api/images/{name}",
		"GET /api/overlays/", "GET /api/overlays/{name}", "PUT /api/overlays/{name}", "DELETE /api/overlays/{name}",
		"GET /api/overlays/{name}/file", "PUT /api/overlays/{name}/file", "DELETE /api/overlays/{name}/file",
	}
}

// pick walks decoded JSON: pick(v, "n1", "tags", "rack").
func pick(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[k]; !ok {
				t.Fatalf("no key %q in %v", k, c)
			}
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(c) {
				t.Fatalf("no index %q in %v", k, c)
			}
			v = c[i]
		default:
			t.Fatalf("cannot take %q of %v", k, v)
		}
	}
	return v
}

func TestRoutes(t *testing.T) {
	cases := []struct {
		name     string
		route    string // the operation this case exercises
		method   string
		target   string
		body     string
		opts     []reqOpt
		wantCode int
		// html: the answer is a page, not JSON.
		html bool
		// check inspects the answer and the fixture afterwards.
		check func(t *testing.T, f *fixture, v any)
	}{
		{name: "openapi", route: "GET /api/openapi.json", method: "GET", target: "/api/openapi.json", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				if got := pick(t, v, "openapi"); got != "3.0.3" {
					t.Errorf("openapi %v", got)
				}
			}},
		{name: "openapi, Warewulf's path", route: "GET /api/docs/openapi.json", method: "GET", target: "/api/docs/openapi.json",
			wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if diff := cmp.Diff(f.get("/api/openapi.json"), v); diff != "" {
					t.Errorf("document (-/api/openapi.json +/api/docs/openapi.json):\n%s", diff)
				}
			}},
		{name: "docs page", route: "GET /api/docs", method: "GET", target: "/api/docs", wantCode: 200, html: true},
		{name: "status", route: "GET /api/status", method: "GET", target: "/api/status", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"node name": "n1", "stage": "KERNEL", "sent": "vmlinuz", "ipaddr": "10.0.0.1",
					"last seen": float64(0), "bytes": float64(0)}
				if diff := cmp.Diff(want, pick(t, v, "nodes", "n1")); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
			}},
		{name: "list nodes", route: "GET /api/nodes/", method: "GET", target: "/api/nodes/", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				// Merged: the profile's image, the profiles' tags and the node's.
				if got := pick(t, v, "n2", "image name"); got != "rocky" {
					t.Errorf("n2 image %v", got)
				}
				want := map[string]any{"gpu": "a100", "rack": "2"}
				if diff := cmp.Diff(want, pick(t, v, "n2", "tags")); diff != "" {
					t.Errorf("n2 tags (-want +got):\n%s", diff)
				}
			}},
		{name: "list nodes without slash", route: "GET /api/nodes/", method: "GET", target: "/api/nodes", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) { pick(t, v, "n1") }},
		{name: "get node", route: "GET /api/nodes/{id}", method: "GET", target: "/api/nodes/n1", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"args": []any{"quiet"}}
				if diff := cmp.Diff(want, pick(t, v, "kernel")); diff != "" {
					t.Errorf("kernel (-want +got):\n%s", diff)
				}
				if got := pick(t, v, "network devices", "default", "ipaddr"); got != "10.0.0.1" {
					t.Errorf("ipaddr %v", got)
				}
			}},
		{name: "get missing node", route: "GET /api/nodes/{id}", method: "GET", target: "/api/nodes/n9", wantCode: 404,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"status": "NOT_FOUND", "error": `not found: node "n9" does not exist`}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
			}},
		{name: "raw node", route: "GET /api/nodes/{id}/raw", method: "GET", target: "/api/nodes/n2/raw", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{
					"profiles": []any{"default", "gpu"}, "comment": "second", "tags": map[string]any{"rack": "2"},
					"network devices": map[string]any{"default": map[string]any{"hwaddr": "aa:bb:cc:dd:ee:02", "ipaddr": "10.0.0.2"}},
				}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("raw n2 (-want +got):\n%s", diff)
				}
			}},
		{name: "node fields", route: "GET /api/nodes/{id}/fields", method: "GET", target: "/api/nodes/n2/fields", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				// Warewulf's keys; set fields only.
				got := map[string]string{}
				for _, row := range v.([]any) {
					r := row.(map[string]any)
					if diff := cmp.Diff([]string{"Field", "Source", "Value"}, slices.Sorted(maps.Keys(r))); diff != "" {
						t.Fatalf("row keys (-want +got):\n%s", diff)
					}
					if r["Value"] == "" {
						t.Errorf("unset field listed: %v", r)
					}
					got[r["Field"].(string)] = r["Source"].(string) + "=" + r["Value"].(string)
				}
				for field, want := range map[string]string{"ImageName": "default=rocky", "Tags[gpu]": "gpu=a100",
					"Tags[rack]": "=2", "Comment": "=second"} {
					if got[field] != want {
						t.Errorf("%s: %q, want %q", field, got[field], want)
					}
				}
			}},
		{name: "put new node", route: "PUT /api/nodes/{id}", method: "PUT", target: "/api/nodes/n3",
			body:     `{"node": {"profiles": ["default"], "discoverable": true, "network devices": {"default": {"hwaddr": "AA-BB-CC-DD-EE-03", "mtu": 9000}}}}`,
			wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				// Warewulf answers the node as stored.
				if got := pick(t, v, "network devices", "default", "mtu"); got != "9000" {
					t.Errorf("mtu %v", got)
				}
				inv := load(t, f)
				if n := inv.Nodes["n3"]; n == nil || *n.Discoverable != "true" || *n.NetDevs["default"].Hwaddr != "AA-BB-CC-DD-EE-03" {
					t.Errorf("n3 not written: %+v", n)
				}
				if !bytes.Contains(f.nodesConf(), []byte("# site inventory")) {
					t.Error("the file's comment was lost")
				}
				if f.reloads.Load() != 1 {
					t.Errorf("%d reloads, want 1", f.reloads.Load())
				}
			}},
		{name: "put replaces node", route: "PUT /api/nodes/{id}", method: "PUT", target: "/api/nodes/n2",
			body: `{"node": {"comment": "replaced"}}`, wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"comment": "replaced"}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				if n := load(t, f).Nodes["n2"]; n.Tags != nil || n.NetDevs != nil {
					t.Errorf("n2 kept fields: %+v", n)
				}
			}},
		{name: "put create-only on existing", route: "PUT /api/nodes/{id}", method: "PUT", target: "/api/nodes/n1",
			body: `{"node": {}}`, opts: []reqOpt{header("If-None-Match", "*")}, wantCode: 400,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"status": "INVALID_ARGUMENT", "error": "invalid argument: node 'n1' already exists"}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				unchanged(t, f)
			}},
		{name: "patch node", route: "PATCH /api/nodes/{id}", method: "PATCH", target: "/api/nodes/n2",
			body:     `{"node": {"comment": null, "tags": {"row": "7"}, "network devices": {"default": {"ipaddr": "10.0.0.22"}}}}`,
			wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{
					"profiles": []any{"default", "gpu"}, "tags": map[string]any{"rack": "2", "row": "7"},
					"network devices": map[string]any{"default": map[string]any{"hwaddr": "aa:bb:cc:dd:ee:02", "ipaddr": "10.0.0.22"}},
				}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("patched n2 (-want +got):\n%s", diff)
				}
				if n := load(t, f).Nodes["n2"]; n.Comment != nil || *n.NetDevs["default"].Ipaddr != "10.0.0.22" {
					t.Errorf("n2 on disk: %+v", n)
				}
			}},
		{name: "patch missing node", route: "PATCH /api/nodes/{id}", method: "PATCH", target: "/api/nodes/n9",
			body: `{"node": {"comment": "x"}}`, wantCode: 404, check: func(t *testing.T, f *fixture, v any) { unchanged(t, f) }},
		{name: "delete node", route: "DELETE /api/nodes/{id}", method: "DELETE", target: "/api/nodes/n1", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"profiles": []any{"default"},
					"network devices": map[string]any{"default": map[string]any{"hwaddr": "aa:bb:cc:dd:ee:01", "ipaddr": "10.0.0.1"}}}
				if got := v; !cmp.Equal(got, want) {
					t.Errorf("deleted node shown as %v", got)
				}
				if _, ok := load(t, f).Nodes["n1"]; ok {
					t.Error("n1 still there")
				}
			}},
		{name: "delete missing node", route: "DELETE /api/nodes/{id}", method: "DELETE", target: "/api/nodes/n9", wantCode: 404},
		{name: "node overlays", route: "GET /api/nodes/{id}/overlays", method: "GET", target: "/api/nodes/n1/overlays", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				// Not built: no mtime.
				want := map[string]any{"system overlay": map[string]any{"overlays": []any{"sys"}},
					"runtime overlay": map[string]any{"overlays": []any{"rt"}}}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("overlays (-want +got):\n%s", diff)
				}
			}},
		{name: "build all overlays", route: "POST /api/nodes/overlays/build", method: "POST", target: "/api/nodes/overlays/build",
			wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if diff := cmp.Diff([]any{"n1", "n2"}, v); diff != "" {
					t.Errorf("nodes built (-want +got):\n%s", diff)
				}
			}},
		{name: "build overlays of named nodes", route: "POST /api/nodes/overlays/build", method: "POST",
			target: "/api/nodes/overlays/build", body: `{"nodes": ["n[2]"]}`,
			wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if diff := cmp.Diff([]any{"n2"}, v); diff != "" {
					t.Errorf("nodes built (-want +got):\n%s", diff)
				}
			}},
		{name: "build overlays of unknown node", route: "POST /api/nodes/overlays/build", method: "POST",
			target: "/api/nodes/overlays/build", body: `{"nodes": ["n7"]}`, wantCode: 404},
		{name: "build one node's overlays", route: "POST /api/nodes/{id}/overlays/build", method: "POST",
			target: "/api/nodes/n1/overlays/build", wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if v != "n1" {
					t.Errorf("answer %v, want the node's name", v)
				}
				if _, err := os.Stat(filepath.Join(f.cfg.Paths.Wwprovisiondir, "overlays")); err != nil {
					t.Error(err)
				}
			}},
		{name: "list profiles", route: "GET /api/profiles/", method: "GET", target: "/api/profiles/", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				if got := pick(t, v, "default", "comment"); got != "the default" {
					t.Errorf("comment %v", got)
				}
			}},
		{name: "get profile", route: "GET /api/profiles/{id}", method: "GET", target: "/api/profiles/gpu", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				if diff := cmp.Diff(map[string]any{"tags": map[string]any{"gpu": "a100"}}, v); diff != "" {
					t.Errorf("gpu (-want +got):\n%s", diff)
				}
			}},
		{name: "raw profile", route: "GET /api/profiles/{id}/raw", method: "GET", target: "/api/profiles/default/raw", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				if got := pick(t, v, "image name"); got != "rocky" {
					t.Errorf("image %v", got)
				}
			}},
		{name: "profile fields", route: "GET /api/profiles/{id}/fields", method: "GET", target: "/api/profiles/gpu/fields", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				if got := pick(t, v, "0", "Field"); got != "Id" {
					t.Errorf("first field %v", got)
				}
			}},
		{name: "put profile", route: "PUT /api/profiles/{id}", method: "PUT", target: "/api/profiles/ib",
			body: `{"profile": {"kernel": {"args": ["ib_ipoib"]}}}`, wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if diff := cmp.Diff(map[string]any{"kernel": map[string]any{"args": []any{"ib_ipoib"}}}, v); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
				if p := load(t, f).Profiles["ib"]; p == nil || !cmp.Equal(p.Kernel.Args, []string{"ib_ipoib"}) {
					t.Errorf("ib: %+v", p)
				}
			}},
		{name: "put profile with node-only field", route: "PUT /api/profiles/{id}", method: "PUT", target: "/api/profiles/ib",
			body: `{"profile": {"discoverable": true}}`, wantCode: 400, check: func(t *testing.T, f *fixture, v any) { unchanged(t, f) }},
		{name: "patch profile", route: "PATCH /api/profiles/{id}", method: "PATCH", target: "/api/profiles/default",
			body: `{"profile": {"image name": "alma"}}`, wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if got := *load(t, f).Profiles["default"].ImageName; got != "alma" {
					t.Errorf("image %q", got)
				}
			}},
		{name: "delete profile in use", route: "DELETE /api/profiles/{id}", method: "DELETE", target: "/api/profiles/gpu?x", wantCode: 400,
			check: func(t *testing.T, f *fixture, v any) {
				// n2 lists it: named as wwctl profile delete names it.
				if !strings.Contains(fmt.Sprint(pick(t, v, "problems")), `profile "gpu" is used by node(s) n2`) {
					t.Errorf("problems %v", v)
				}
				unchanged(t, f)
			}},
		{name: "delete default profile", route: "DELETE /api/profiles/{id}", method: "DELETE", target: "/api/profiles/default", wantCode: 400},
		{name: "list images", route: "GET /api/images", method: "GET", target: "/api/images", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"rocky": map[string]any{"kernels": []any{"/boot/vmlinuz-6.1.0-1-amd64"}, "size": float64(0),
					"buildtime": float64(0), "writable": true, "nodes": []any{"n1", "n2"}, "arch": arch.Host()}}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("images (-want +got):\n%s", diff)
				}
			}},
		{name: "get image", route: "GET /api/images/{name}", method: "GET", target: "/api/images/rocky", wantCode: 200},
		{name: "get missing image", route: "GET /api/images/{name}", method: "GET", target: "/api/images/alma", wantCode: 404},
		{name: "build image", route: "POST /api/images/{name}/build", method: "POST", target: "/api/images/rocky/build", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				// The image, as GET shows it; no uncompressed archive
				// was asked for, so its size is 0.
				if pick(t, v, "size").(float64) != 0 || pick(t, v, "buildtime").(float64) == 0 {
					t.Errorf("built image shows %v", v)
				}
			}},
		{name: "rename image", route: "PATCH /api/images/{name}", method: "PATCH", target: "/api/images/rocky?build=false",
			body: `{"name": "rocky9"}`, wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if got := pick(t, v, "nodes"); !cmp.Equal(got, []any{"n1", "n2"}) {
					t.Errorf("renamed image's nodes %v", got)
				}
				if got := *load(t, f).Profiles["default"].ImageName; got != "rocky9" {
					t.Errorf("profile default names %q", got)
				}
				if f.reloads.Load() != 1 {
					t.Errorf("%d reloads, want 1", f.reloads.Load())
				}
			}},
		{name: "rename missing image", route: "PATCH /api/images/{name}", method: "PATCH", target: "/api/images/alma",
			body: `{"name": "alma9"}`, wantCode: 404},
		{name: "import over an existing image", route: "POST /api/images/{name}/import", method: "POST",
			target: "/api/images/rocky/import", body: `{"uri": "/nonexistent"}`, wantCode: 409},
		{name: "delete image in use", route: "DELETE /api/images/{name}", method: "DELETE", target: "/api/images/rocky", wantCode: 400,
			check: func(t *testing.T, f *fixture, v any) {
				if got := pick(t, v, "error"); got != `invalid argument: image "rocky" is used by profile default; change them first` {
					t.Errorf("error %v", got)
				}
			}},
		{name: "list overlays", route: "GET /api/overlays/", method: "GET", target: "/api/overlays/", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{
					// Files only, as in Warewulf.
					"sys": map[string]any{"files": []any{"/etc/issue", "/etc/motd.ww"}, "site": true, "origin": "site"},
					"rt":  map[string]any{"files": []any{"/etc/rt.conf"}, "site": false, "origin": "built-in"},
				}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("overlays (-want +got):\n%s", diff)
				}
			}},
		{name: "get overlay", route: "GET /api/overlays/{name}", method: "GET", target: "/api/overlays/rt", wantCode: 200},
		{name: "create overlay", route: "PUT /api/overlays/{name}", method: "PUT", target: "/api/overlays/site", wantCode: 200,
			check: func(t *testing.T, f *fixture, v any) {
				if _, err := os.Stat(filepath.Join(f.cfg.Paths.Wwoverlaydir, "site", "rootfs")); err != nil {
					t.Error(err)
				}
			}},
		{name: "create existing overlay", route: "PUT /api/overlays/{name}", method: "PUT", target: "/api/overlays/rt", wantCode: 409},
		{name: "delete overlay in use", route: "DELETE /api/overlays/{name}", method: "DELETE", target: "/api/overlays/sys", wantCode: 400,
			check: func(t *testing.T, f *fixture, v any) {
				if got := pick(t, v, "error"); got != `invalid argument: overlay "sys" is used by profile default; change them first` {
					t.Errorf("error %v", got)
				}
			}},
		{name: "delete overlay, force", route: "DELETE /api/overlays/{name}", method: "DELETE", target: "/api/overlays/sys?force=true",
			wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if _, err := os.Stat(filepath.Join(f.cfg.Paths.Wwoverlaydir, "sys")); !os.IsNotExist(err) {
					t.Errorf("sys still there: %v", err)
				}
			}},
		{name: "delete built-in overlay", route: "DELETE /api/overlays/{name}", method: "DELETE", target: "/api/overlays/rt?force=true",
			wantCode: 400},
		{name: "overlay file", route: "GET /api/overlays/{name}/file", method: "GET", target: "/api/overlays/sys/file?path=/etc/motd.ww",
			wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				want := map[string]any{"overlay": "sys", "path": "/etc/motd.ww", "contents": "node {{.Id}} of {{.ClusterName}}\n",
					"perms": float64(0o644), "uid": float64(os.Getuid()), "gid": float64(os.Getgid())}
				if diff := cmp.Diff(want, v); diff != "" {
					t.Errorf("file (-want +got):\n%s", diff)
				}
			}},
		{name: "overlay file rendered", route: "GET /api/overlays/{name}/file", method: "GET",
			target: "/api/overlays/sys/file?path=etc/motd.ww&render=n2", wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				// The path asked for, as in Warewulf.
				if got := pick(t, v, "path"); got != "etc/motd.ww" {
					t.Errorf("path %v", got)
				}
				if got := pick(t, v, "rendered", "0", "path"); got != "/etc/motd" {
					t.Errorf("rendered path %v", got)
				}
				if got := pick(t, v, "contents"); got != "node n2 of \n" {
					t.Errorf("contents %q", got)
				}
			}},
		{name: "overlay file without path", route: "GET /api/overlays/{name}/file", method: "GET", target: "/api/overlays/sys/file", wantCode: 400},
		{name: "missing overlay file", route: "GET /api/overlays/{name}/file", method: "GET", target: "/api/overlays/sys/file?path=nope", wantCode: 404},
		{name: "write overlay file", route: "PUT /api/overlays/{name}/file", method: "PUT", target: "/api/overlays/rt/file?path=/etc/new/x.ww",
			body: `{"content": "{{ .Id }}\n", "perms": "0600"}`, wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				p := filepath.Join(f.cfg.Paths.Wwoverlaydir, "rt", "rootfs", "etc", "new", "x.ww")
				if got := string(f.read(p)); got != "{{ .Id }}\n" {
					t.Errorf("content %q", got)
				}
				if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
					t.Errorf("mode %v", st.Mode())
				}
				// The built-in overlay was copied to the site first.
				if got := string(f.read(filepath.Join(f.cfg.Paths.Wwoverlaydir, "rt", "rootfs", "etc", "rt.conf"))); got != "runtime\n" {
					t.Errorf("copied rt.conf %q", got)
				}
			}},
		{name: "write overlay file, bad template", route: "PUT /api/overlays/{name}/file", method: "PUT",
			target: "/api/overlays/sys/file?path=/etc/motd.ww", body: `{"content": "{{ .Id "}`, wantCode: 400,
			check: func(t *testing.T, f *fixture, v any) {
				if got := string(f.read(filepath.Join(f.cfg.Paths.Wwoverlaydir, "sys", "rootfs", "etc", "motd.ww"))); got != "node {{.Id}} of {{.ClusterName}}\n" {
					t.Errorf("template changed to %q", got)
				}
			}},
		{name: "write overlay file, create only", route: "PUT /api/overlays/{name}/file", method: "PUT",
			target: "/api/overlays/sys/file?path=/etc/issue", body: `{"content": "x"}`, opts: []reqOpt{header("If-None-Match", "*")}, wantCode: 400},
		{name: "write overlay file, escape", route: "PUT /api/overlays/{name}/file", method: "PUT",
			target: "/api/overlays/sys/file?path=../../x", body: `{"content": "x"}`, wantCode: 400},
		{name: "delete overlay file", route: "DELETE /api/overlays/{name}/file", method: "DELETE",
			target: "/api/overlays/sys/file?path=/etc/issue", wantCode: 200, check: func(t *testing.T, f *fixture, v any) {
				if _, err := os.Stat(filepath.Join(f.cfg.Paths.Wwoverlaydir, "sys", "rootfs", "etc", "issue")); !os.IsNotExist(err) {
					t.Errorf("issue still there: %v", err)
				}
			}},
		{name: "delete missing overlay file", route: "DELETE /api/overlays/{name}/file", method: "DELETE",
			target: "/api/overlays/sys/file?path=/etc/none", wantCode: 404},
		// The fixture's nodes have no BMC: their own failure, 502 (the
		// simulator's test, TestBMCRoutes, has BMCs that answer).
		{name: "power status without BMC", route: "GET /api/nodes/{id}/power", method: "GET", target: "/api/nodes/n1/power", wantCode: 502},
		{name: "power on, bad action", route: "POST /api/nodes/{id}/power", method: "POST", target: "/api/nodes/n1/power",
			body: `{"action": "up"}`, wantCode: 400},
		{name: "bootdev, bad device", route: "PUT /api/nodes/{id}/bootdev", method: "PUT", target: "/api/nodes/n1/bootdev",
			body: `{"device": "floppy"}`, wantCode: 400},
		{name: "identify without BMC", route: "PUT /api/nodes/{id}/identify", method: "PUT", target: "/api/nodes/n1/identify",
			body: `{"on": true}`, wantCode: 502},
		{name: "sensors of a missing node", route: "GET /api/nodes/{id}/sensors", method: "GET", target: "/api/nodes/nope/sensors", wantCode: 404},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.route] = true
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, enabled)
			f.before = f.nodesConf()
			res := f.do(tc.method, tc.target, tc.body, tc.opts...)
			if res.code != tc.wantCode {
				t.Fatalf("%s %s: code %d, want %d: %s", tc.method, tc.target, res.code, tc.wantCode, res.body)
			}
			if tc.html {
				if ct := res.header.Get("Content-Type"); ct != "text/html; charset=utf-8" || !bytes.Contains(res.body, []byte(`href="/api/docs/openapi.json"`)) {
					t.Errorf("Content-Type %q, page:\n%s", ct, res.body)
				}
				return
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			v := res.json(t)
			if res.code >= 400 && res.code != http.StatusBadGateway {
				// Warewulf's (swaggest's) error shape; a BMC's failure
				// (502) is answered with its result.
				if msg, _ := pick(t, v, "error").(string); msg == "" || pick(t, v, "status") != statusName(res.code) {
					t.Errorf("error without a message or status: %s", res.body)
				}
			}
			if tc.check != nil {
				tc.check(t, f, v)
			}
		})
	}
	for _, r := range wantRoutes() {
		if !covered[r] {
			t.Errorf("no case exercises %s", r)
		}
	}
}

func load(t *testing.T, f *fixture) *inventory.Inventory {
	t.Helper()
	inv, err := inventory.NewStore(f.cfg.NodesConf()).Load()
	if err != nil {
		t.Fatal(err)
	}
	return inv
}

// unchanged fails unless nodes.conf is byte for byte what it was before
// the request and the daemon was not reloaded.
func unchanged(t *testing.T, f *fixture) {
	t.Helper()
	if diff := cmp.Diff(string(f.before), string(f.nodesConf())); diff != "" {
		t.Errorf("nodes.conf changed (-before +after):\n%s", diff)
	}
	if n := f.reloads.Load(); n != 0 {
		t.Errorf("%d reloads after a refused write", n)
	}
}
