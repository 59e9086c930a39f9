package bootstrap

import (
	"context"
	"debug/elf"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/testkit/hostprog"
)

// hostImage is an image root holding the host's sh and sfdisk (as a
// distribution's image has them, with their libraries where the host
// keeps them) and a script; it is the root and the host paths copied.
func hostImage(t *testing.T) string {
	t.Helper()
	root, _ := fakeImage(t)
	for _, p := range []string{"/bin/sh", "/usr/sbin/sfdisk"} {
		if _, err := os.Stat(p); err != nil {
			t.Skipf("the host has no %s", p)
		}
		if err := hostprog.Install(context.Background(), root, p, strings.TrimPrefix(p, "/")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "usr/sbin/mkfs.fake"), []byte("#!/bin/sh\necho fake\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The same program under another name, as mkfs.ext4 and mke2fs.
	if err := os.Symlink("mkfs.fake", filepath.Join(root, "usr/sbin/mkfs.other")); err != nil {
		t.Fatal(err)
	}
	return root
}

// TestBuildPrograms builds a bootstrap with programs from an image and
// checks that each came with every library it needs (DT_NEEDED, all the
// way down) and its interpreter, by reading the ELF files the archive
// holds; then runs sfdisk from the unpacked archive with only the
// archive's libraries.
func TestBuildPrograms(t *testing.T) {
	root := hostImage(t)
	_, stage1 := fakeImage(t)
	c, err := Parse(strings.NewReader("classes = network\nprograms = sh, sfdisk, mkfs.fake, mkfs.xfs-absent, mkfs.other\n"), "conf")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "bb.bootstrap.img.gz")
	res, err := Build(context.Background(), Options{Root: root, Version: "6.1.0-1-amd64", Config: c, Stage1: stage1, Out: out})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sh", "sfdisk", "mkfs.fake", "mkfs.other"}, res.Programs); diff != "" {
		t.Errorf("programs (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"mkfs.xfs-absent"}, res.MissingPrograms); diff != "" {
		t.Errorf("missing programs (-want +got):\n%s", diff)
	}
	body, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	files := listArchive(t, body, compress.Gzip)
	if got := files["usr/bin/mkfs.fake"]; got != "#!/bin/sh\necho fake\n" {
		t.Errorf("usr/bin/mkfs.fake holds %q, want the image's script", got)
	}
	if got := files["usr/bin/mkfs.other"]; got != "-> /usr/bin/mkfs.fake" {
		t.Errorf("usr/bin/mkfs.other is %q, want a link to the same program", got)
	}
	if got := files[Udevadm]; got != "-> /init" {
		t.Errorf("%s is %q, want a link to /init", Udevadm, got)
	}
	host, err := os.ReadFile("/usr/sbin/sfdisk")
	if err != nil {
		t.Fatal(err)
	}
	if files["usr/bin/sfdisk"] != string(host) {
		t.Error("usr/bin/sfdisk is not the image's sfdisk")
	}

	// Every ELF file: its interpreter at its path, its libraries in
	// LibDir.
	unpacked := t.TempDir()
	interp := ""
	// The programs' interpreters, by file name: libc names its loader.
	loaders := map[string]bool{}
	for _, content := range files {
		if f, err := elf.NewFile(strings.NewReader(content)); err == nil {
			if in, _ := interpreter(f); in != "" {
				loaders[path.Base(in)] = true
			}
		}
	}
	for name, content := range files {
		if !strings.HasPrefix(content, elf.ELFMAG) || strings.HasPrefix(name, "lib/modules") {
			continue
		}
		p := filepath.Join(unpacked, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := elf.NewFile(strings.NewReader(content))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatal(err)
		}
		in, err := interpreter(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, lib := range libs {
			if loaders[lib] {
				continue // the dynamic loader itself, there as the interpreter
			}
			if _, ok := files[path.Join(LibDir, lib)]; !ok {
				t.Errorf("%s needs %s, which the bootstrap lacks", name, lib)
			}
		}
		if in != "" {
			interp = in
			if _, ok := files[strings.TrimPrefix(in, "/")]; !ok {
				t.Errorf("%s's interpreter %s is not in the bootstrap", name, in)
			}
		}
	}
	if interp == "" {
		t.Skip("the host's sfdisk is static: nothing more to run")
	}
	cmd := exec.Command(filepath.Join(unpacked, interp), "--inhibit-cache", "--library-path", filepath.Join(unpacked, LibDir),
		filepath.Join(unpacked, "usr/bin/sfdisk"), "--version")
	if b, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(b), "sfdisk") {
		t.Errorf("sfdisk from the bootstrap: %v: %s", err, b)
	}
}

func TestFindProgramsProblems(t *testing.T) {
	root := hostImage(t)
	// A program whose library the image lacks is left out, with why.
	removed := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !strings.HasPrefix(d.Name(), "libfdisk.so.") {
			return err
		}
		removed++
		return os.Remove(p)
	})
	if err != nil {
		t.Fatal(err)
	}
	if removed == 0 {
		t.Skip("the host's sfdisk does not use libfdisk")
	}
	ps, err := findPrograms(root, []string{"sfdisk", "sh"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ps.found, []string{"sh"}) || len(ps.problems) != 1 ||
		!strings.Contains(ps.problems[0], "sfdisk (/usr/sbin/sfdisk): library libfdisk.so.") {
		t.Errorf("found %v, problems %q; want sh found and sfdisk left out for libfdisk", ps.found, ps.problems)
	}
	for _, bad := range []string{"../sh", "udevadm", ""} {
		if _, err := findPrograms(root, []string{bad}); err == nil {
			t.Errorf("program %q: no error", bad)
		}
	}
}

func TestLdConfDirs(t *testing.T) {
	root := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("etc/ld.so.conf", "include /etc/ld.so.conf.d/*.conf\n/opt/site/lib # the site's\n")
	write("etc/ld.so.conf.d/a.conf", "/usr/local/lib\n# nothing\n")
	write("etc/ld.so.conf.d/b.conf", "/opt/site/lib/\ninclude ld.so.conf.d/a.conf\n")
	write("etc/ld.so.conf.d/c.txt", "/not/read\n")
	got, err := ldConfDirs(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/usr/local/lib", "/opt/site/lib"}, got); diff != "" {
		t.Errorf("dirs (-want +got):\n%s", diff)
	}
}
