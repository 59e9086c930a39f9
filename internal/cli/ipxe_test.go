package cli

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
)

// fakeIpxeTree is an iPXE-shaped source tree whose make writes each
// target as a file naming the EMBED it was given.
func fakeIpxeTree(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "config", "local"), 0o755); err != nil {
		t.Fatal(err)
	}
	recipe := "\t@mkdir -p $(dir $@) && echo 'EMBED=$(EMBED)' >$@\n"
	files := map[string]string{
		"Makefile":         "bin-x86_64-pcbios/%:\n" + recipe + "bin-x86_64-efi/%:\n" + recipe,
		"config/general.h": "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func TestIpxeBuild(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("no make")
	}
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		stdin string
		// want is the tftp.ipxe map afterwards; the default one when the
		// file is left alone.
		want    map[string]string
		wantOut []string
		wantErr string
	}{
		{name: "environment, --yes",
			env:  map[string]string{"TARGETS": "bin-x86_64-pcbios/undionly.kpxe bin-x86_64-efi/snponly.efi", "EMBED": "script.ipxe", "DESTDIR": "dest"},
			args: []string{"--yes"},
			want: map[string]string{"00:00": "DEST/bin-x86_64-pcbios-undionly.kpxe", "00:07": "DEST/bin-x86_64-efi-snponly.efi",
				"00:09": "DEST/bin-x86_64-efi-snponly.efi", "00:0B": "arm64-efi/snponly.efi"},
			wantOut: []string{"Built bin-x86_64-pcbios/undionly.kpxe: DEST/bin-x86_64-pcbios-undionly.kpxe\n",
				"client architecture 00:07, 00:09: DEST/bin-x86_64-efi-snponly.efi\n",
				"\n+tftp:\n+  ipxe:\n+    \"00:00\": ", "Wrote "}},
		{name: "flags win over the environment; asked, yes",
			env:  map[string]string{"TARGETS": "bin-x86_64-efi/snponly.efi", "EMBED": "/nonexistent.ipxe", "DESTDIR": "/nonexistent"},
			args: []string{"--targets", "bin-x86_64-pcbios/undionly.kpxe", "--embed", "script.ipxe", "--destdir", "dest"}, stdin: "y\n",
			want: map[string]string{"00:00": "DEST/bin-x86_64-pcbios-undionly.kpxe", "00:07": "ipxe-snponly-x86_64.efi",
				"00:09": "ipxe-snponly-x86_64.efi", "00:0B": "arm64-efi/snponly.efi"},
			wantOut: []string{"Wrote "}},
		{name: "asked, no answer: unchanged",
			args: []string{"--targets", "bin-x86_64-pcbios/undionly.kpxe", "--destdir", "dest"},
			want: config.Default().Tftp.IpxeBinaries, wantOut: []string{"not changed (--update-config writes it)"}},
		{name: "--no-update-config",
			args: []string{"--targets", "bin-x86_64-pcbios/undionly.kpxe", "--destdir", "dest", "--no-update-config"},
			want: config.Default().Tftp.IpxeBinaries},
		{name: "bad JOBS", env: map[string]string{"JOBS": "many"}, args: []string{"--destdir", "dest"},
			wantErr: `JOBS="many": want a number of make jobs`},
		{name: "bad target", args: []string{"--targets", "undionly.kpxe", "--destdir", "dest"},
			wantErr: `target "undionly.kpxe": want bin-ARCH-PLATFORM/FILE`},
		{name: "missing EMBED before make", args: []string{"--embed", "missing.ipxe", "--destdir", "dest"},
			wantErr: "EMBED script: stat DIR/missing.ipxe: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t, "")
			dir := t.TempDir()
			t.Chdir(dir)
			if err := os.WriteFile("script.ipxe", []byte("#!ipxe\necho marker\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tr.env["IPXE_SOURCE"] = fakeIpxeTree(t)
			for k, v := range tt.env {
				tr.env[k] = v
			}
			out, _, err := tr.run(tt.stdin, append([]string{"ipxe", "build"}, tt.args...)...)
			dest := filepath.Join(dir, "dest")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), strings.ReplaceAll(tt.wantErr, "DIR", dir)) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wantOut {
				if w = strings.ReplaceAll(w, "DEST", dest); !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			cfg, _, err := config.Load(tr.conf)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{}
			for k, v := range tt.want {
				want[k] = strings.ReplaceAll(v, "DEST", dest)
			}
			if diff := cmp.Diff(want, cfg.Tftp.IpxeBinaries); diff != "" {
				t.Errorf("tftp.ipxe (-want +got):\n%s", diff)
			}
			if b, err := os.ReadFile(filepath.Join(dest, "bin-x86_64-pcbios-undionly.kpxe")); err != nil || !strings.HasPrefix(string(b), "EMBED=") {
				t.Errorf("built binary: %q, %v", b, err)
			}
		})
	}
}
