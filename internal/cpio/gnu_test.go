package cpio

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// gnuTree is a tree for GNU cpio to list and unpack: parents before
// children, every type, awkward names and sizes. Device nodes are included
// only when the test may create them.
func gnuTree(withDevices bool) []file {
	const mtime = 1700000000
	big := strings.Repeat("all work and no play makes jack a dull boy\n", 3000)
	files := []file{
		{Header: Header{Name: ".", Mode: fs.ModeDir | 0o755, ModTime: mtime}},
		{Header: Header{Name: "bin", Mode: fs.ModeDir | 0o755, ModTime: mtime}},
		{Header: Header{Name: "bin/sh", Mode: 0o755, ModTime: mtime, Size: 3}, Body: "#!\n"},
		{Header: Header{Name: "bin/su", Mode: fs.ModeSetuid | 0o755, ModTime: mtime, Size: 1}, Body: "s"},
		{Header: Header{Name: "bin/empty", Mode: 0o600, ModTime: mtime}},
		{Header: Header{Name: "bin/big", Mode: 0o644, ModTime: mtime, Size: int64(len(big))}, Body: big},
		{Header: Header{Name: "bin/bash", Mode: fs.ModeSymlink | 0o777, Linkname: "sh"}},
		{Header: Header{Name: "bin/abs", Mode: fs.ModeSymlink | 0o777, Linkname: "/usr/bin/env"}},
		{Header: Header{Name: "etc", Mode: fs.ModeDir | 0o750, ModTime: mtime, GID: 4}},
		{Header: Header{Name: "etc/with space", Mode: 0o640, ModTime: mtime, UID: 1000, GID: 1000, Size: 5}, Body: "12345"},
		{Header: Header{Name: "etc/ünïcødé", Mode: 0o644, ModTime: mtime, Size: 7}, Body: "unicode"},
		{Header: Header{Name: "etc/sub", Mode: fs.ModeDir | fs.ModeSetgid | 0o775, ModTime: mtime}},
		{Header: Header{Name: "etc/sub/deep", Mode: 0o444, ModTime: mtime, Size: 2}, Body: "ab"},
		{Header: Header{Name: "tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777, ModTime: mtime}},
		{Header: Header{Name: "tmp/fifo", Mode: fs.ModeNamedPipe | 0o620, ModTime: mtime}},
		{Header: Header{Name: "tmp/sock", Mode: fs.ModeSocket | 0o777, ModTime: mtime}},
	}
	if withDevices {
		files = append(files,
			file{Header: Header{Name: "dev", Mode: fs.ModeDir | 0o755, ModTime: mtime}},
			file{Header: Header{Name: "dev/null", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o666, ModTime: mtime, Rdevmajor: 1, Rdevminor: 3}},
			file{Header: Header{Name: "dev/vda1", Mode: fs.ModeDevice | 0o660, ModTime: mtime, GID: 6, Rdevmajor: 253, Rdevminor: 1}},
		)
	}
	return files
}

func gnuCPIO(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("GNU cpio not installed (apt-get install cpio)")
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || !bytes.Contains(out, []byte("GNU cpio")) {
		t.Skipf("cpio is not GNU cpio: %s", out)
	}
	return bin
}

// runCPIO runs cpio in dir with archive on stdin and returns its stdout.
func runCPIO(t *testing.T, bin, dir string, archive []byte, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(archive)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("cpio %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func TestGNUCPIOList(t *testing.T) {
	bin := gnuCPIO(t)
	files := gnuTree(true)
	archive := writeArchive(t, files)

	var want []string
	for _, f := range files {
		want = append(want, f.Name)
	}
	got := strings.Split(strings.TrimSuffix(runCPIO(t, bin, t.TempDir(), archive, "-t", "--quiet"), "\n"), "\n")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cpio -t (-want +got):\n%s", diff)
	}

	// The long listing shows modes, owners, sizes, device numbers and
	// symlink targets as GNU cpio decoded them.
	want = nil
	for _, f := range files {
		want = append(want, lsLine(f))
	}
	got = nil
	for _, line := range strings.Split(strings.TrimSuffix(runCPIO(t, bin, t.TempDir(), archive, "-tv", "--quiet", "--numeric-uid-gid"), "\n"), "\n") {
		// Drop the date, whose format depends on its age.
		fields := strings.Fields(line)
		i := 5
		if strings.HasSuffix(fields[4], ",") { // "major, minor" of a device
			i = 6
		}
		got = append(got, strings.Join(append(fields[:i:i], fields[i+3:]...), " "))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cpio -tv (-want +got):\n%s", diff)
	}
}

// lsLine renders f as GNU cpio -tv --numeric-uid-gid does, without the date.
func lsLine(f file) string {
	nlink := "1"
	if f.Mode.IsDir() {
		nlink = "2"
	}
	fields := []string{lsMode(f.Mode), nlink, itoa(int64(f.UID)), itoa(int64(f.GID))}
	switch f.Mode.Type() {
	case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
		fields = append(fields, itoa(int64(f.Rdevmajor))+",", itoa(int64(f.Rdevminor)))
	case fs.ModeSymlink:
		fields = append(fields, itoa(int64(len(f.Linkname))))
	default:
		fields = append(fields, itoa(f.Size))
	}
	fields = append(fields, f.Name)
	if f.Linkname != "" {
		fields = append(fields, "->", f.Linkname)
	}
	return strings.Join(fields, " ")
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// lsMode renders m as ls -l does.
func lsMode(m fs.FileMode) string {
	b := []byte("?rwxrwxrwx")
	switch m.Type() {
	case 0:
		b[0] = '-'
	case fs.ModeDir:
		b[0] = 'd'
	case fs.ModeSymlink:
		b[0] = 'l'
	case fs.ModeNamedPipe:
		b[0] = 'p'
	case fs.ModeSocket:
		b[0] = 's'
	case fs.ModeDevice:
		b[0] = 'b'
	case fs.ModeDevice | fs.ModeCharDevice:
		b[0] = 'c'
	}
	for i := range 9 {
		if m&(1<<uint(8-i)) == 0 {
			b[i+1] = '-'
		}
	}
	special := func(bit fs.FileMode, at int, set, unset byte) {
		if m&bit != 0 {
			if b[at] == '-' {
				b[at] = unset
			} else {
				b[at] = set
			}
		}
	}
	special(fs.ModeSetuid, 3, 's', 'S')
	special(fs.ModeSetgid, 6, 's', 'S')
	special(fs.ModeSticky, 9, 't', 'T')
	return string(b)
}

// unpacked is what the test compares of an unpacked file.
type unpacked struct {
	Mode     fs.FileMode
	Body     string
	Linkname string
	ModTime  int64
	UID, GID uint32
	Rdev     [2]uint32
}

func TestGNUCPIOExtract(t *testing.T) {
	bin := gnuCPIO(t)
	root := os.Geteuid() == 0
	files := gnuTree(root)
	archive := writeArchive(t, files)
	dir := t.TempDir()
	// -d: make directories, -m: keep mtimes, -u: replace the existing ".".
	runCPIO(t, bin, dir, archive, "-idmuv", "--quiet", "--no-absolute-filenames")

	want := map[string]unpacked{}
	for _, f := range files {
		u := unpacked{Mode: f.Mode, Body: f.Body, Linkname: f.Linkname, Rdev: [2]uint32{f.Rdevmajor, f.Rdevminor}}
		if f.Mode.Type() != fs.ModeSymlink && !f.Mode.IsDir() {
			u.ModTime = f.ModTime // GNU cpio sets directory mtimes before filling them
		}
		if root {
			u.UID, u.GID = f.UID, f.GID
		}
		want[f.Name] = u
	}
	got := map[string]unpacked{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		u := unpacked{Mode: info.Mode()}
		switch info.Mode().Type() {
		case 0:
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			u.Body = string(body)
			u.ModTime = info.ModTime().Unix()
		case fs.ModeSymlink:
			if u.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
			u.Rdev = [2]uint32{unix.Major(st.Rdev), unix.Minor(st.Rdev)}
			u.ModTime = info.ModTime().Unix()
		case fs.ModeNamedPipe, fs.ModeSocket:
			u.ModTime = info.ModTime().Unix()
		}
		if root {
			u.UID, u.GID = st.Uid, st.Gid
		}
		got[filepath.ToSlash(rel)] = u
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// "." is the test's own temporary directory; cpio may or may not change
	// its mode, so only its presence is compared.
	delete(want, ".")
	delete(got, ".")
	if diff := cmp.Diff(want, got); diff != "" {
		names := make([]string, 0, len(got))
		for n := range got {
			names = append(names, n)
		}
		sort.Strings(names)
		t.Errorf("unpacked tree (-want +got):\n%s\nunpacked: %q", diff, names)
	}
}

// TestGNUCPIOCreate reads with the Reader what GNU cpio -o writes: the tree
// is unpacked from the Writer's archive and packed again by GNU cpio.
func TestGNUCPIOCreate(t *testing.T) {
	bin := gnuCPIO(t)
	files := gnuTree(os.Geteuid() == 0)
	dir := t.TempDir()
	runCPIO(t, bin, dir, writeArchive(t, files), "-idmu", "--quiet", "--no-absolute-filenames")

	var list strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		list.WriteString(rel + "\n")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-o", "-H", "newc", "--quiet")
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(list.String())
	archive, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -o: %v", err)
	}
	read, err := readArchive(archive)
	if err != nil {
		t.Fatalf("reading GNU cpio's archive: %v", err)
	}

	// Compare what survives a trip through a filesystem.
	type entry struct {
		Mode      fs.FileMode
		Body      string
		Linkname  string
		Rdevmajor uint32
		Rdevminor uint32
	}
	want := map[string]entry{}
	for _, f := range files {
		want[f.Name] = entry{f.Mode, f.Body, f.Linkname, f.Rdevmajor, f.Rdevminor}
	}
	got := map[string]entry{}
	for _, f := range read {
		got[f.Name] = entry{f.Mode, f.Body, f.Linkname, f.Rdevmajor, f.Rdevminor}
	}
	delete(want, ".") // the test's temporary directory
	delete(got, ".")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GNU cpio's archive (-want +got):\n%s", diff)
	}
}
