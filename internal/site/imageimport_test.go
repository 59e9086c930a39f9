package site

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/arch"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/oci"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// tarGz writes a gzip-compressed tarball of files (name -> content).
func tarGz(t *testing.T, path string, files ...[2]string) {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o644, Size: int64(len(f[1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sitetest.Write(t, path, buf.String())
}

// files lists an image's regular files, path -> content.
func files(t *testing.T, s *Site, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	root := s.Images().RootFS(name)
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out[rel] = string(data)
		return err
	})
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return out
}

func TestImportImage(t *testing.T) {
	rocky := map[string]string{"etc/os-release": "ID=rocky\n", "etc/rocky": "old", "bin/sh": "sh"}
	tests := []struct {
		name       string
		source     string // "dir", "tar" or "hostile"
		opts       ImportOptions
		maxEntries int
		want       map[string]string // rocky's files after
		wantErr    string
		wantUnsafe bool
	}{
		{name: "a directory", source: "dir", opts: ImportOptions{Replace: true}, want: map[string]string{"etc/os-release": "ID=dir\n", "bin/sh": "dir sh"}},
		{name: "a tarball", source: "tar", opts: ImportOptions{Replace: true},
			want: map[string]string{"etc/os-release": "ID=tar\n", "bin/sh": "sh"}},
		{name: "an existing image is kept without replace", source: "tar", want: rocky,
			wantErr: `image "rocky" already exists`},
		{name: "update adds to the image", source: "dir", opts: ImportOptions{Update: true},
			want: map[string]string{"etc/os-release": "ID=dir\n", "etc/rocky": "old", "bin/sh": "dir sh"}},
		{name: "a limit names its key and changes nothing", source: "tar", opts: ImportOptions{Replace: true}, maxEntries: 1,
			want:    rocky,
			wantErr: `(the limit is "image import: max entries" in warewulf.conf)`},
		{name: "a hostile tarball changes nothing", source: "hostile", opts: ImportOptions{Replace: true},
			want: rocky, wantErr: `"../escape"`, wantUnsafe: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, root := openSite(t, nil)
			if tt.maxEntries > 0 {
				s.Config().ImageImport.MaxEntries = tt.maxEntries
			}
			sitetest.Write(t, filepath.Join(s.Images().RootFS("rocky"), "etc/os-release"), "ID=rocky\n")
			sitetest.Write(t, filepath.Join(s.Images().RootFS("rocky"), "etc/rocky"), "old")
			sitetest.Write(t, filepath.Join(s.Images().RootFS("rocky"), "bin/sh"), "sh")
			sitetest.Write(t, filepath.Join(root, "src/bin/sh"), "dir sh")
			sources := map[string]string{"dir": filepath.Join(root, "src"), "tar": filepath.Join(root, "src.tar.gz"),
				"hostile": filepath.Join(root, "evil.tar.gz")}
			sitetest.Write(t, filepath.Join(sources["dir"], "etc/os-release"), "ID=dir\n")
			tarGz(t, sources["tar"], [2]string{"etc/os-release", "ID=tar\n"}, [2]string{"bin/sh", "sh"})
			tarGz(t, sources["hostile"], [2]string{"bin/sh", "sh"}, [2]string{"../escape", "x"})

			info, err := s.ImportImage(t.Context(), sources[tt.source], "rocky", tt.opts)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tt.wantErr)
				}
				if unsafe := errors.Is(err, oci.ErrUnsafe); unsafe != tt.wantUnsafe {
					t.Errorf("error is ErrUnsafe: %v, want %v", unsafe, tt.wantUnsafe)
				}
			case err != nil:
				t.Fatal(err)
			case info.Source != sources[tt.source]:
				t.Errorf("info.Source %q, want %q", info.Source, sources[tt.source])
			}
			if diff := cmp.Diff(tt.want, files(t, s, "rocky")); diff != "" {
				t.Errorf("image files (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCopyImage(t *testing.T) {
	rocky := map[string]string{"etc/os-release": "ID=rocky\n", "bin/sh": "sh"}
	tests := []struct {
		name     string
		from, to string
		want     map[string]string // to's files after
		wantErr  string
	}{
		{name: "a copy", from: "rocky", to: "rocky2", want: rocky},
		{name: "missing source", from: "nosuch", to: "x", want: map[string]string{}, wantErr: `image "nosuch" does not exist`},
		{name: "existing target kept", from: "rocky", to: "alma", want: map[string]string{"etc/os-release": "ID=alma\n", "bin/sh": "sh"},
			wantErr: `image "alma" already exists`},
		{name: "bad name", from: "rocky", to: "a/b", want: map[string]string{}, wantErr: `image name "a/b" is not valid`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openSite(t, nil)
			sitetest.Write(t, filepath.Join(s.Images().RootFS("rocky"), "etc/os-release"), "ID=rocky\n")
			sitetest.Write(t, filepath.Join(s.Images().RootFS("alma"), "etc/os-release"), "ID=alma\n")
			sitetest.Write(t, filepath.Join(s.Images().RootFS("rocky"), "bin/sh"), "sh")
			sitetest.Write(t, filepath.Join(s.Images().RootFS("alma"), "bin/sh"), "sh")
			err := s.CopyImage(t.Context(), tt.from, tt.to)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if !strings.Contains(tt.to, "/") {
				if diff := cmp.Diff(tt.want, files(t, s, tt.to)); diff != "" {
					t.Errorf("files of %s (-want +got):\n%s", tt.to, diff)
				}
			}
			if diff := cmp.Diff(rocky, files(t, s, "rocky")); diff != "" {
				t.Errorf("the source changed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDefaultImageName(t *testing.T) {
	tests := []struct{ source, want string }{
		{"docker://ghcr.io/warewulf/rockylinux:9", "rockylinux:9"},
		{"oci-archive:/tmp/rocky.tar", "rocky"},
		{"/srv/images/debian.tar.zst", "debian"},
		{"/srv/chroots/alma/", "alma"},
		{"busybox.tgz", "busybox"},
	}
	for _, tt := range tests {
		t.Run(tt.source, func(t *testing.T) {
			if got := DefaultImageName(tt.source); got != tt.want {
				t.Errorf("DefaultImageName(%q) = %q, want %q", tt.source, got, tt.want)
			}
		})
	}
}

// An import records the image's architecture (here from its programs,
// a tarball having no platform), replacing what the previous image of
// that name had recorded, its OCI platform too.
func TestImportRecordsArch(t *testing.T) {
	s, root := openSite(t, nil)
	for _, tc := range []struct {
		name    string
		machine elf.Machine
		// platformBefore: the image replaced had recorded an OCI platform.
		platformBefore bool
		want           image.ArchInfo
	}{
		{name: "arm64 tarball", machine: elf.EM_AARCH64, want: image.ArchInfo{Arch: "aarch64", Source: "/bin/sh"}},
		{name: "replaced by an x86_64 one", machine: elf.EM_X86_64, want: image.ArchInfo{Arch: "x86_64", Source: "/bin/sh"}},
		{name: "replaced by one without programs", platformBefore: true, want: image.ArchInfo{Source: "architecture of " + s.Images().RootFS("img") +
			": no ELF program found (looked at /sbin/init, /bin/sh, /usr/bin/sh, /bin/busybox, /usr/bin/busybox, /usr/sbin/init, " +
			"/lib/systemd/systemd, /usr/lib/systemd/systemd and ld-linux* in /lib64, /lib, /usr/lib64, /usr/lib)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.platformBefore {
				if err := s.Images().SetArch("img", image.ArchInfo{Arch: "aarch64", Source: "oci platform linux/arm64"}); err != nil {
					t.Fatal(err)
				}
			}
			src := filepath.Join(root, tc.name+".tar.gz")
			content := "#!/bin/busybox sh\n"
			if tc.machine != elf.EM_NONE {
				content = sitetest.ELFHeader(tc.machine)
			}
			tarGz(t, src, [2]string{"bin/sh", content})
			if _, err := s.ImportImage(t.Context(), src, "img", ImportOptions{Replace: true}); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(s.Images().Dir("img"), image.ArchFile))
			if err != nil {
				t.Fatalf("no record: %v", err)
			}
			var got image.ArchInfo
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("recorded architecture (-want +got):\n%s", diff)
			}
		})
	}
}

// The bootstrap of two-stage boot packs the stage one of the image's
// architecture: an image of another architecture than the server's
// gets wwstage1.<arch>, and without one a warning naming the image, the
// architecture and the missing file, and no bootstrap.
func TestBootstrapTakesTheStageOneOfTheImage(t *testing.T) {
	other, machine := "aarch64", elf.EM_AARCH64
	if arch.Host() == arch.Aarch64 {
		other, machine = "x86_64", elf.EM_X86_64
	}
	for _, tc := range []struct {
		name        string
		otherStage1 bool
		wantWarning string
	}{
		{name: "stage one for the image's architecture", otherStage1: true},
		{name: "none for it", wantWarning: "bootstrap for two-stage boot of image arm (" + other + ") not made: no stage-one program for " +
			other + ": build it (make build writes bin/wwstage1." + other + ") or install it; looked in "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			env := map[string]string{"WWSTAGE1": filepath.Join(dir, "wwstage1"), "SOURCE_DATE_EPOCH": "1700000000"}
			sitetest.Write(t, env["WWSTAGE1"], "#!host stage one\n")
			if tc.otherStage1 {
				sitetest.Write(t, filepath.Join(dir, "wwstage1."+other), sitetest.ELFHeader(machine))
			}
			s, _ := openSite(t, env)
			root := s.Images().RootFS("arm")
			sitetest.Write(t, filepath.Join(root, "bin/sh"), sitetest.ELFHeader(machine))
			sitetest.Write(t, filepath.Join(root, "boot/vmlinuz-6.1.0-1-arm64"), "kernel")
			sitetest.Write(t, filepath.Join(root, "lib/modules/6.1.0-1-arm64/modules.dep"), "")
			res, err := s.BuildImage(t.Context(), "arm", BuildOptions{})
			if err != nil {
				t.Fatal(err)
			}
			warnings := strings.Join(res.Warnings, "\n")
			if tc.wantWarning == "" {
				if warnings != "" || len(res.Bootstraps) != 1 {
					t.Fatalf("bootstraps %v, warnings %q; want one bootstrap", res.Bootstraps, warnings)
				}
				return
			}
			if !strings.Contains(warnings, tc.wantWarning) || len(res.Bootstraps) != 0 {
				t.Errorf("bootstraps %v, warnings %q; want none and %q", res.Bootstraps, warnings, tc.wantWarning)
			}
			if _, err := s.BuildBootstrap(t.Context(), "arm", ""); err == nil || !strings.Contains(err.Error(), "bootstrap of image arm ("+other+"): no stage-one program for "+other) {
				t.Errorf("BuildBootstrap: %v", err)
			}
		})
	}
}
