package api

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// withBootstrapInputs gives the fixture's image "rocky" kernel modules
// and firmware, as cli's bootstrap tests do, and returns the environment
// that names a stage-one stand-in.
func withBootstrapInputs(t *testing.T, root string) map[string]string {
	t.Helper()
	stage1 := filepath.Join(root, "wwstage1")
	write(t, stage1, "#!stage one stand-in\n")
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
		write(t, filepath.Join(rootfs, p), content)
	}
}

// An image built through the API gets its two-stage boot bootstrap, as
// one built by "wwctl image build" does.
func TestBuildImageMakesBootstrap(t *testing.T) {
	tests := []struct {
		name   string
		stage1 bool
		want   []any
	}{
		{name: "stage one installed", stage1: true, want: []any{map[string]any{
			"kernel": "6.1.0-1-amd64", "modules": float64(2), "firmware": float64(1)}}},
		{name: "no stage one", want: []any{}},
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
			v := res.json(t)
			archive := filepath.Join(f.cfg.Paths.Wwprovisiondir, "images", "rocky.bootstrap-6.1.0-1-amd64.img.gz")
			_, err := os.Stat(archive)
			if made := err == nil; made != tt.stage1 {
				t.Fatalf("bootstrap archive made: %v, want %v (%v)", made, tt.stage1, err)
			}
			got := []any{}
			bs, _ := pick(t, v, "bootstraps").([]any)
			for _, b := range bs {
				got = append(got, map[string]any{"kernel": pick(t, b, "kernel"),
					"modules": pick(t, b, "modules"), "firmware": pick(t, b, "firmware")})
				if p := pick(t, b, "path"); p != archive {
					t.Errorf("bootstrap path %v, want %s", p, archive)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("bootstraps (-want +got):\n%s", diff)
			}
		})
	}
}
