package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A path the API does not route gets the plain-text 404 of Warewulf's
// router.
func TestUnknownRoute(t *testing.T) {
	f := newFixture(t, enabled)
	res := f.do("GET", "/api/nothing", "")
	got := []any{res.code, string(res.body), res.header.Get("Content-Type")}
	want := []any{http.StatusNotFound, "404 page not found\n", "text/plain; charset=utf-8"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("answer (-want +got):\n%s", diff)
	}
}

// Node and profile writes answer the bare entity, as Warewulf's do; the
// warnings (the daemon's reload warnings, a failed reload) come in
// Warning headers, quoted as RFC 7234 has it.
func TestWriteWarningsInHeaders(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		want                       any
	}{
		{name: "put node", method: "PUT", target: "/api/nodes/n3", body: `{"node": {"comment": "new"}}`,
			want: map[string]any{"comment": "new"}},
		{name: "patch node", method: "PATCH", target: "/api/nodes/n1", body: `{"node": {"comment": "x"}}`,
			want: map[string]any{"comment": "x", "profiles": []any{"default"},
				"network devices": map[string]any{"default": map[string]any{"hwaddr": "aa:bb:cc:dd:ee:01", "ipaddr": "10.0.0.1"}}}},
		{name: "delete node", method: "DELETE", target: "/api/nodes/n2",
			want: map[string]any{"comment": "second", "profiles": []any{"default", "gpu"}, "tags": map[string]any{"rack": "2"},
				"network devices": map[string]any{"default": map[string]any{"hwaddr": "aa:bb:cc:dd:ee:02", "ipaddr": "10.0.0.2"}}}},
		{name: "put profile", method: "PUT", target: "/api/profiles/ib", body: `{"profile": {"comment": "ib"}}`,
			want: map[string]any{"comment": "ib"}},
		{name: "patch profile", method: "PATCH", target: "/api/profiles/gpu", body: `{"profile": {"comment": "g"}}`,
			want: map[string]any{"comment": "g", "tags": map[string]any{"gpu": "a100"}}},
		{name: "delete profile", method: "DELETE", target: "/api/profiles/ib"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, enabled, func(o *Options) {
				o.Reload = func() ([]string, error) {
					return []string{`restart for "warewulf.port"`}, errors.New("template a\\b\nbroken")
				}
			})
			if tt.name == "delete profile" {
				if res := f.do("PUT", "/api/profiles/ib", `{"profile": {}}`); res.code != http.StatusOK {
					t.Fatalf("PUT: %d %s", res.code, res.body)
				}
				tt.want = map[string]any{}
			}
			res := f.do(tt.method, tt.target, tt.body)
			if res.code != http.StatusOK {
				t.Fatalf("%d %s", res.code, res.body)
			}
			if diff := cmp.Diff(tt.want, res.json(t)); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			wantWarnings := []string{
				`199 wwctl "restart for \"warewulf.port\""`,
				`199 wwctl "written, but the daemon did not reload: template a\\b broken"`,
			}
			if diff := cmp.Diff(wantWarnings, res.header.Values("Warning")); diff != "" {
				t.Errorf("Warning headers (-want +got):\n%s", diff)
			}
		})
	}
}

// GET of profiles answers them as nodes.conf has them, as Warewulf's
// does: a profile's own profiles are not applied to it. Its BMC
// password is masked, as in every view but /raw.
func TestProfilesAreRaw(t *testing.T) {
	f := newFixture(t, enabled)
	if res := f.do("PUT", "/api/profiles/ib", `{"profile": {"profiles": ["gpu"], "ipmi": {"password": "pw"}}}`); res.code != http.StatusOK {
		t.Fatalf("PUT: %d %s", res.code, res.body)
	}
	masked := map[string]any{"profiles": []any{"gpu"}, "ipmi": map[string]any{"password": "********"}}
	tests := []struct {
		name, target string
		keys         []string
		want         any
	}{
		{name: "one", target: "/api/profiles/ib", want: masked},
		{name: "list", target: "/api/profiles/", keys: []string{"ib"}, want: masked},
		{name: "raw", target: "/api/profiles/ib/raw",
			want: map[string]any{"profiles": []any{"gpu"}, "ipmi": map[string]any{"password": "pw"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, pick(t, f.get(tt.target), tt.keys...)); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.target, diff)
			}
		})
	}
}

// GET /api/nodes/{id}/overlays gives, as Warewulf's does, each image's
// overlays and, once built, its mtime; a build always rebuilds, so the
// mtime moves with every build.
func TestNodeOverlaysMTime(t *testing.T) {
	f := newFixture(t, enabled)
	mtimes := func() [2]string {
		t.Helper()
		v := f.get("/api/nodes/n1/overlays")
		var out [2]string
		for i, k := range []string{"system overlay", "runtime overlay"} {
			m := pick(t, v, k).(map[string]any)
			s, _ := m["mtime"].(string)
			if s != "" {
				if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
					t.Errorf("%s mtime %q: %v", k, s, err)
				}
			}
			out[i] = s
		}
		return out
	}
	if got := mtimes(); got != [2]string{} {
		t.Fatalf("mtimes before a build: %q", got)
	}
	build := func() [2]string {
		t.Helper()
		if res := f.do("POST", "/api/nodes/n1/overlays/build", ""); res.code != http.StatusOK {
			t.Fatalf("build: %d %s", res.code, res.body)
		}
		got := mtimes()
		if got[0] == "" || got[1] == "" {
			t.Fatalf("mtimes after a build: %q", got)
		}
		return got
	}
	first := build()
	pack := filepath.Join(f.site.OverlayImageDir(), "n1.pack")
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(pack, old, old); err != nil {
		t.Fatal(err)
	}
	if second := build(); second == first || second[0] == old.Format(time.RFC3339Nano) {
		t.Errorf("an unchanged node's build did not rebuild: mtimes %q, then %q", first, second)
	}
}

// An image's size is that of its uncompressed archive NAME.img, as in
// Warewulf; the image writes answer the image as GET shows it.
func TestImageAnswers(t *testing.T) {
	f := newFixture(t, enabled)
	if res := f.do("POST", "/api/images/rocky/build", ""); res.code != http.StatusOK {
		t.Fatalf("build: %d %s", res.code, res.body)
	}
	img := filepath.Join(f.cfg.Paths.Wwprovisiondir, "images", "rocky.img")
	if err := os.WriteFile(img, make([]byte, 512), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := pick(t, f.get("/api/images/rocky"), "size"); got != float64(512) {
		t.Errorf("size %v, want 512 (rocky.img's)", got)
	}
	// Renamed (and built, the default), then deleted once no profile
	// names it: each answers the image.
	res := f.do("PATCH", "/api/images/rocky", `{"name": "rocky9"}`)
	if res.code != http.StatusOK {
		t.Fatalf("rename: %d %s", res.code, res.body)
	}
	renamed := res.json(t)
	if diff := cmp.Diff(f.get("/api/images/rocky9"), renamed); diff != "" {
		t.Errorf("rename answer (-image +answer):\n%s", diff)
	}
	if pick(t, renamed, "buildtime").(float64) == 0 {
		t.Errorf("renamed image not built: %v", renamed)
	}
	if res := f.do("PATCH", "/api/profiles/default", `{"profile": {"image name": null}}`); res.code != http.StatusOK {
		t.Fatalf("PATCH: %d %s", res.code, res.body)
	}
	before := f.get("/api/images/rocky9")
	res = f.do("DELETE", "/api/images/rocky9", "")
	if res.code != http.StatusOK {
		t.Fatalf("delete: %d %s", res.code, res.body)
	}
	if diff := cmp.Diff(before, res.json(t)); diff != "" {
		t.Errorf("delete answer (-image before +answer):\n%s", diff)
	}
}

// Overlay writes answer the overlay ({"files", "site"}), as Warewulf's
// do; an overlay with files is deleted only with force, one in use
// (TestRoutes) not at all without it.
func TestOverlayWriteAnswers(t *testing.T) {
	f := newFixture(t, enabled)
	steps := []struct {
		name, method, target, body string
		wantCode                   int
		want                       any
	}{
		{name: "create", method: "PUT", target: "/api/overlays/extra", wantCode: 200,
			want: map[string]any{"files": []any{}, "site": true, "origin": "site"}},
		{name: "add a file", method: "PUT", target: "/api/overlays/extra/file?path=etc/a/x.conf", body: `{"content": "x"}`,
			wantCode: 200, want: map[string]any{"files": []any{"/etc/a/x.conf"}, "site": true, "origin": "site"}},
		{name: "add another", method: "PUT", target: "/api/overlays/extra/file?path=y", body: `{"content": "y"}`,
			wantCode: 200, want: map[string]any{"files": []any{"/etc/a/x.conf", "/y"}, "site": true, "origin": "site"}},
		{name: "delete a file", method: "DELETE", target: "/api/overlays/extra/file?path=y", wantCode: 200,
			want: map[string]any{"files": []any{"/etc/a/x.conf"}, "site": true, "origin": "site"}},
		{name: "delete with files", method: "DELETE", target: "/api/overlays/extra", wantCode: 409,
			want: map[string]any{"status": "ABORTED", "error": `aborted: overlay "extra" is not empty (use --force)`}},
		{name: "delete, force", method: "DELETE", target: "/api/overlays/extra?force=true", wantCode: 200,
			want: map[string]any{"files": []any{}, "site": true, "origin": "site"}},
	}
	for _, st := range steps {
		res := f.do(st.method, st.target, st.body)
		if res.code != st.wantCode {
			t.Fatalf("%s: %d %s", st.name, res.code, res.body)
		}
		if diff := cmp.Diff(st.want, res.json(t)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", st.name, diff)
		}
	}
}

// With render=NODE, contents is what the template renders to, in the
// text Warewulf's API gives.
func TestRenderedContents(t *testing.T) {
	tests := []struct {
		name, file, template, want string
	}{
		{name: "one file", file: "etc/one.ww", template: "n={{.Id}}\n", want: "n=n1\n"},
		{name: "several files", file: "etc/multi.ww",
			template: "{{- range $n := list \"alpha\" \"beta\" }}{{ file $n }}content of {{ $n }}\n{{ end -}}",
			want:     "Filename: alpha\ncontent of alpha\nFilename: beta\ncontent of beta\n"},
		{name: "abort", file: "abort.ww", template: "{{- abort -}}", want: "Aborted\n"},
		{name: "link", file: "etc/localtime.ww", template: `{{- softlink "/usr/share/zoneinfo/UTC" -}}`,
			want: "Symlink: /usr/share/zoneinfo/UTC\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, enabled)
			body, err := json.Marshal(map[string]string{"content": tt.template})
			if err != nil {
				t.Fatal(err)
			}
			if res := f.do("PUT", "/api/overlays/sys/file?path="+tt.file, string(body)); res.code != http.StatusOK {
				t.Fatalf("PUT: %d %s", res.code, res.body)
			}
			v := f.get("/api/overlays/sys/file?path=" + tt.file + "&render=n1")
			if got := pick(t, v, "contents"); got != tt.want {
				t.Errorf("contents %q, want %q", got, tt.want)
			}
			if got := pick(t, v, "path"); got != tt.file {
				t.Errorf("path %q, want %q", got, tt.file)
			}
		})
	}
}

// A network device's onboot is "onbot" in Warewulf's JSON: taken in
// bodies (as onboot is) and written in answers.
func TestOnbot(t *testing.T) {
	tests := []struct {
		name, method, target, body string
		wantCode                   int
		wantOnboot                 string // n1's default device in nodes.conf after
	}{
		{name: "PUT with onbot", method: "PUT", target: "/api/nodes/n1",
			body: `{"node": {"network devices": {"default": {"onbot": true}}}}`, wantCode: 200, wantOnboot: "true"},
		{name: "PATCH with onbot", method: "PATCH", target: "/api/nodes/n1",
			body: `{"node": {"network devices": {"default": {"onbot": false}}}}`, wantCode: 200, wantOnboot: "false"},
		{name: "onboot is taken too", method: "PATCH", target: "/api/nodes/n1",
			body: `{"node": {"network devices": {"default": {"onboot": true}}}}`, wantCode: 200, wantOnboot: "true"},
		{name: "both", method: "PATCH", target: "/api/nodes/n1",
			body: `{"node": {"network devices": {"default": {"onbot": true, "onboot": false}}}}`, wantCode: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, enabled)
			res := f.do(tt.method, tt.target, tt.body)
			if res.code != tt.wantCode {
				t.Fatalf("%d %s", res.code, res.body)
			}
			if tt.wantCode != http.StatusOK {
				return
			}
			onboot := load(t, f).Nodes["n1"].NetDevs["default"].OnBoot
			if onboot == nil || *onboot != tt.wantOnboot {
				t.Errorf("onboot in nodes.conf %v, want %s", onboot, tt.wantOnboot)
			}
			for _, v := range []any{res.json(t), f.get("/api/nodes/n1"), f.get("/api/nodes/n1/raw"), pick(t, f.get("/api/nodes/"), "n1")} {
				dev := pick(t, v, "network devices", "default").(map[string]any)
				if _, ok := dev["onboot"]; ok || dev["onbot"] == nil {
					t.Errorf("device %v: want onbot, not onboot", dev)
				}
			}
		})
	}
}
