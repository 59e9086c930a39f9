package api

import (
	"archive/tar"
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"
)

// withBootstrapInputs gives the fixture's image "rocky" kernel modules
// and firmware, as cli's bootstrap tests do, and returns the environment
// that names a stage-one stand-in.
func withBootstrapInputs(t *testing.T, root string) map[string]string {
	t.Helper()
	stage1 := filepath.Join(root, "wwstage1")
	sitetest.Write(t, stage1, "#!stage one stand-in\n")
	return map[string]string{"WWSTAGE1": stage1, "SOURCE_DATE_EPOCH": "1700000000"}
}

func addModules(t *testing.T, f *fixture) {
	t.Helper()
	rootfs := f.site.Images().RootFS("rocky")
	mod := "lib/modules/6.1.0-1-amd64/"
	for p, content := range map[string]string{
		mod + "modules.dep":                      "kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko\nkernel/net/core/failover.ko:\n",
		mod + "kernel/drivers/net/virtio_net.ko": "ELF virtio_net",
		mod + "kernel/net/core/failover.ko":      "ELF failover",
		"lib/firmware/bnx2/bnx2-mips.fw":         "fw",
	} {
		sitetest.Write(t, filepath.Join(rootfs, p), content)
	}
}

// An image built through the API gets its two-stage boot bootstrap, as
// one built by "wwctl image build" does, and the answer is the image.
func TestBuildImageMakesBootstrap(t *testing.T) {
	tests := []struct {
		name   string
		stage1 bool
	}{
		{name: "stage one installed", stage1: true},
		{name: "no stage one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			var env map[string]string
			if tt.stage1 {
				env = withBootstrapInputs(t, root)
			}
			f := newFixtureEnv(t, "api:\n  enabled: true\n", env)
			addModules(t, f)
			res := f.do("POST", "/api/images/rocky/build", "")
			if res.code != http.StatusOK {
				t.Fatalf("build: %d %s", res.code, res.body)
			}
			if diff := cmp.Diff(f.get("/api/images/rocky"), res.json(t)); diff != "" {
				t.Errorf("answer is not the image (-image +answer):\n%s", diff)
			}
			archive := filepath.Join(f.cfg.Paths.Wwprovisiondir, "images", "rocky.bootstrap-6.1.0-1-amd64.img.gz")
			_, err := os.Stat(archive)
			if made := err == nil; made != tt.stage1 {
				t.Fatalf("bootstrap archive made: %v, want %v (%v)", made, tt.stage1, err)
			}
		})
	}
}

// POST /api/images/{name}/import imports through the site's import, as
// "wwctl image import" does: a new image is 200 (as in Warewulf), an
// existing one needs force, a hostile source is refused and changes
// nothing.
func TestImportImage(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		body     string // %s is the source directory, %e the hostile tarball
		wantCode int
		wantMsg  string
		wantOS   string // the image's etc/os-release after, "" for none
	}{
		{name: "a new image", path: "/api/images/alma/import", body: `{"uri": "%s"}`, wantCode: http.StatusOK,
			wantOS: "ID=src\n"},
		{name: "an existing image needs force", path: "/api/images/rocky/import", body: `{"uri": "%s"}`,
			wantCode: http.StatusConflict, wantMsg: `already exists: image "rocky" already exists (force=true replaces it)`, wantOS: "ID=rocky\n"},
		{name: "force replaces", path: "/api/images/rocky/import?force=true", body: `{"uri": "%s"}`, wantCode: http.StatusOK,
			wantOS: "ID=src\n"},
		{name: "a hostile source", path: "/api/images/rocky/import?force=true", body: `{"uri": "%e"}`,
			wantCode: http.StatusBadRequest, wantMsg: `"../escape"`, wantOS: "ID=rocky\n"},
		{name: "no uri", path: "/api/images/alma/import", body: `{}`, wantCode: http.StatusBadRequest, wantMsg: `"uri"`},
		{name: "unknown key", path: "/api/images/alma/import", body: `{"url": "%s"}`, wantCode: http.StatusBadRequest, wantMsg: `"url"`},
		{name: "bad name", path: "/api/images/a..b%2Fc/import", body: `{"uri": "%s"}`, wantCode: http.StatusBadRequest,
			wantMsg: "is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "api:\n  enabled: true\n")
			src := filepath.Join(f.root, "src")
			sitetest.Write(t, filepath.Join(src, "bin/sh"), "sh")
			sitetest.Write(t, filepath.Join(src, "etc/os-release"), "ID=src\n")
			evil := filepath.Join(f.root, "evil.tar")
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, name := range []string{"bin/sh", "../escape"} {
				if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}); err != nil {
					t.Fatal(err)
				}
				if _, err := tw.Write([]byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if err := tw.Close(); err != nil {
				t.Fatal(err)
			}
			sitetest.Write(t, evil, buf.String())
			body := strings.NewReplacer("%s", src, "%e", evil).Replace(tt.body)
			res := f.do("POST", tt.path, body)
			msg := ""
			if res.code >= 300 {
				msg, _ = pick(t, res.json(t), "error").(string)
			}
			if res.code != tt.wantCode || !strings.Contains(msg, tt.wantMsg) {
				t.Fatalf("answer %d %s, want %d with %q", res.code, res.body, tt.wantCode, tt.wantMsg)
			}
			if tt.wantOS == "" {
				return
			}
			name := strings.Split(tt.path, "/")[3]
			got, err := os.ReadFile(filepath.Join(f.site.Images().RootFS(name), "etc/os-release"))
			if err != nil || string(got) != tt.wantOS {
				t.Errorf("%s's os-release %q (%v), want %q", name, got, err, tt.wantOS)
			}
			if res.code < 300 {
				if diff := cmp.Diff(f.get("/api/images/"+name), res.json(t)); diff != "" {
					t.Errorf("answer is not the image (-image +answer):\n%s", diff)
				}
			}
		})
	}
}
