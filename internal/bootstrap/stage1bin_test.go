package bootstrap

import (
	"debug/elf"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/arch"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

func TestStage1PathsFor(t *testing.T) {
	host, other := arch.Host(), arch.Aarch64
	if host == arch.Aarch64 {
		other = arch.X86_64
	}
	for _, tc := range []struct {
		name, override, arch string
		want                 []string
	}{
		{name: "unknown architecture", arch: "", want: []string{"/opt/ww/bin/wwstage1", "/opt/ww/lib/wwboot/wwstage1",
			"/opt/ww/libexec/wwboot/wwstage1", "/usr/lib/wwboot/wwstage1", "/usr/libexec/wwboot/wwstage1"}},
		{name: "the server's: its own, then the plain one", arch: host, want: []string{"/opt/ww/bin/wwstage1." + host,
			"/opt/ww/lib/wwboot/wwstage1." + host, "/opt/ww/libexec/wwboot/wwstage1." + host, "/usr/lib/wwboot/wwstage1." + host,
			"/usr/libexec/wwboot/wwstage1." + host, "/opt/ww/bin/wwstage1", "/opt/ww/lib/wwboot/wwstage1",
			"/opt/ww/libexec/wwboot/wwstage1", "/usr/lib/wwboot/wwstage1", "/usr/libexec/wwboot/wwstage1"}},
		{name: "another: only its own", arch: other, want: []string{"/opt/ww/bin/wwstage1." + other,
			"/opt/ww/lib/wwboot/wwstage1." + other, "/opt/ww/libexec/wwboot/wwstage1." + other,
			"/usr/lib/wwboot/wwstage1." + other, "/usr/libexec/wwboot/wwstage1." + other}},
		{name: "override, the server's", override: "/tmp/s1/wwstage1", arch: host, want: []string{"/tmp/s1/wwstage1"}},
		{name: "override, another", override: "/tmp/s1/wwstage1", arch: other, want: []string{"/tmp/s1/wwstage1." + other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Stage1PathsFor("/opt/ww/bin/wwctl", tc.override, tc.arch)); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFindStage1For(t *testing.T) {
	dir := t.TempDir()
	arm, x86, script := filepath.Join(dir, "arm"), filepath.Join(dir, "x86"), filepath.Join(dir, "script")
	sitetest.Write(t, arm, sitetest.ELFHeader(elf.EM_AARCH64))
	sitetest.Write(t, x86, sitetest.ELFHeader(elf.EM_X86_64))
	sitetest.Write(t, script, "#!stand-in\n")
	for _, tc := range []struct {
		name    string
		paths   []string
		arch    string
		want    string
		wantErr string
	}{
		{name: "right architecture", paths: []string{filepath.Join(dir, "missing"), arm}, arch: "aarch64", want: arm},
		{name: "wrong architecture", paths: []string{x86}, arch: "aarch64", wantErr: x86 + " is for x86_64, not aarch64"},
		{name: "no ELF: not checked", paths: []string{script}, arch: "aarch64", want: script},
		{name: "none", paths: []string{filepath.Join(dir, "missing")}, arch: "aarch64",
			wantErr: "no stage-one program for aarch64: build it (make build writes bin/wwstage1.aarch64) or install it; looked in " + filepath.Join(dir, "missing")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FindStage1For(tc.paths, tc.arch)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("FindStage1For = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
