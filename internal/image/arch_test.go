package image

import (
	"context"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

func elfHeader(m elf.Machine) string { return sitetest.ELFHeader(m) }

// archTree makes an image tree of files (content) and links (target).
func archTree(t *testing.T, files, links map[string]string) string {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, files)
	for p, target := range links {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestDetectArch(t *testing.T) {
	arm, x86 := elfHeader(elf.EM_AARCH64), elfHeader(elf.EM_X86_64)
	for _, tc := range []struct {
		name    string
		files   map[string]string
		links   map[string]string
		want    ArchInfo
		wantErr string
	}{
		{name: "busybox with absolute links", files: map[string]string{"bin/busybox": arm},
			links: map[string]string{"sbin/init": "/bin/busybox", "bin/sh": "/bin/busybox"},
			want:  ArchInfo{Arch: "aarch64", Source: "/sbin/init"}},
		{name: "merged usr, init a script", files: map[string]string{"usr/bin/dash": x86, "usr/sbin/init": "#!/bin/sh\nexec /bin/sh\n"},
			links: map[string]string{"bin": "usr/bin", "sbin": "usr/sbin", "usr/bin/sh": "dash"},
			want:  ArchInfo{Arch: "x86_64", Source: "/bin/sh"}},
		{name: "only the dynamic loader", files: map[string]string{"lib/ld-linux-aarch64.so.1": arm, "bin/sh": "#!shell"},
			want: ArchInfo{Arch: "aarch64", Source: "/lib/ld-linux-aarch64.so.1"}},
		{name: "link out of the image stays inside", files: map[string]string{"bin/busybox": arm},
			links: map[string]string{"bin/sh": "../../../../bin/busybox"},
			want:  ArchInfo{Arch: "aarch64", Source: "/bin/sh"}},
		{name: "link loop", links: map[string]string{"bin/sh": "sh2", "bin/sh2": "sh"},
			wantErr: "no ELF program found"},
		{name: "no program", files: map[string]string{"etc/hostname": "n1"}, wantErr: "no ELF program found"},
		{name: "unknown machine", files: map[string]string{"bin/sh": elfHeader(elf.EM_SPARCV9)}, wantErr: "/bin/sh: ELF machine EM_SPARCV9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DetectArch(archTree(t, tc.files, tc.links))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("DetectArch: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("DetectArch (-want +got):\n%s", diff)
			}
		})
	}
}

// A build records the architecture beside the image; the programs win
// over the platform an import recorded, which stays when no program
// tells; an unchanged tree is not read again.
func TestBuildRecordsArch(t *testing.T) {
	ctx := context.Background()
	im := &Images{Chroots: t.TempDir(), Provision: t.TempDir()}
	install := func(files map[string]string) {
		t.Helper()
		if err := im.Install("n", true, nil, func(dst string) error { writeTree(t, dst, files); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	build := func() {
		t.Helper()
		if _, err := im.Build(ctx, "n", BuildOptions{Formats: []compress.Format{compress.Gzip}}); err != nil {
			t.Fatal(err)
		}
	}
	arch := func() ArchInfo {
		t.Helper()
		info, err := im.Arch("n")
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	record := filepath.Join(im.Dir("n"), ArchFile)

	install(map[string]string{"bin/sh": elfHeader(elf.EM_AARCH64)})
	// Not built yet: read from the programs, not recorded.
	if diff := cmp.Diff(ArchInfo{Arch: "aarch64", Source: "/bin/sh"}, arch()); diff != "" {
		t.Errorf("before the build (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(record); err == nil {
		t.Errorf("%s written before a build", ArchFile)
	}
	build()
	if diff := cmp.Diff(ArchInfo{Arch: "aarch64", Source: "/bin/sh"}, arch()); diff != "" {
		t.Errorf("after the build (-want +got):\n%s", diff)
	}

	// An unchanged tree is not read again: a record changed by hand stays.
	if err := im.SetArch("n", ArchInfo{Arch: "x86_64", Source: "by hand"}); err != nil {
		t.Fatal(err)
	}
	build()
	if diff := cmp.Diff(ArchInfo{Arch: "x86_64", Source: "by hand"}, arch()); diff != "" {
		t.Errorf("after an unchanged build (-want +got):\n%s", diff)
	}

	// A platform from the import stays when no program tells.
	install(map[string]string{"etc/hostname": "n"})
	if err := im.SetArch("n", ArchInfo{Arch: "aarch64", Source: "oci platform linux/arm64"}); err != nil {
		t.Fatal(err)
	}
	build()
	if diff := cmp.Diff(ArchInfo{Arch: "aarch64", Source: "oci platform linux/arm64"}, arch()); diff != "" {
		t.Errorf("no program, platform recorded (-want +got):\n%s", diff)
	}
	// And the programs win over it.
	install(map[string]string{"bin/sh": elfHeader(elf.EM_X86_64)})
	build()
	if diff := cmp.Diff(ArchInfo{Arch: "x86_64", Source: "/bin/sh"}, arch()); diff != "" {
		t.Errorf("programs against the platform (-want +got):\n%s", diff)
	}
}

func TestArchFromPlatform(t *testing.T) {
	for _, tc := range []struct{ in, want, wantErr string }{
		{in: "linux/arm64/v8", want: "aarch64"},
		{in: "linux/amd64", want: "x86_64"},
		{in: "linux", wantErr: "no architecture"},
		{in: "linux/mips64", wantErr: "unknown architecture"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ArchFromPlatform(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ArchFromPlatform(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
