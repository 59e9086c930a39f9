package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
)

var allFormats = []compress.Format{compress.None, compress.Gzip, compress.Zstd}

// fixtureMtime is the mtime of every fixture entry.
var fixtureMtime = time.Unix(1700000000, 0)

// buildFixture makes a tree with every kind of entry Build handles and
// returns its root. Owners other than root and device nodes are made only
// when running as root.
func buildFixture(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	asRoot := os.Geteuid() == 0
	// Two chunks of the stream and a bit, compressible but not trivially.
	var big []byte
	rng := rand.New(rand.NewPCG(1, 2))
	for len(big) < bufSize+12345 {
		big = fmt.Appendf(big, "%d ", rng.IntN(1000))
	}
	dirs := []struct {
		name string
		perm fs.FileMode
	}{
		{".", 0o755}, {"bin", 0o755}, {"usr", 0o755}, {"usr/bin", 0o755}, {"etc", 0o750},
		{"tmp", 0o777 | fs.ModeSticky}, {"run", 0o755}, {"dev", 0o755}, {"srv", 0o2775 | fs.ModeSetgid},
		{"var", 0o755}, {"var/cache", 0o755}, {"var/cache/apt", 0o755}, {"usr/lib", 0o755},
		{"usr/lib/py", 0o755},
	}
	for _, d := range dirs {
		p := filepath.Join(root, d.name)
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, d.perm); err != nil {
			t.Fatal(err)
		}
	}
	files := []struct {
		name string
		perm fs.FileMode
		body []byte
	}{
		{"bin/sh", 0o755, []byte("#!/bin/sh\n")},
		{"bin/su", 0o755 | fs.ModeSetuid, []byte("setuid")},
		{"bin/ls", 0o755, []byte("ls binary")},
		{"etc/hostname", 0o644, []byte("node1\n")},
		{"etc/shadow", 0o640, []byte("root:*:19000::::::\n")},
		{"etc/empty", 0o600, nil},
		{"usr/lib/big", 0o644, big},
		{"usr/lib/py/mod.py", 0o644, []byte("x = 1\n")},
		{"usr/lib/py/mod.pyc", 0o644, []byte("compiled")},
		{"var/cache/apt/pkgcache.bin", 0o644, []byte("cache")},
		{"tmp/scratch", 0o600, []byte("scratch")},
	}
	for _, f := range files {
		p := filepath.Join(root, f.name)
		if err := os.WriteFile(p, f.body, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.perm); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Link(filepath.Join(root, "bin/ls"), filepath.Join(root, "usr/bin/ls")))
	must(os.Link(filepath.Join(root, "etc/empty"), filepath.Join(root, "run/empty-link")))
	must(os.Symlink("sh", filepath.Join(root, "bin/bash")))
	must(os.Symlink("/usr/share/zoneinfo/UTC", filepath.Join(root, "etc/localtime")))
	must(unix.Mkfifo(filepath.Join(root, "run/initctl"), 0o600))
	must(unix.Mknod(filepath.Join(root, "run/socket"), unix.S_IFSOCK|0o755, 0))
	if asRoot {
		must(unix.Mknod(filepath.Join(root, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
		must(unix.Mknod(filepath.Join(root, "dev/vda"), unix.S_IFBLK|0o660, int(unix.Mkdev(253, 0))))
		must(os.Lchown(filepath.Join(root, "etc"), 0, 4))
		must(os.Lchown(filepath.Join(root, "etc/shadow"), 0, 42))
		must(os.Lchown(filepath.Join(root, "srv"), 1000, 1000))
		must(os.Lchown(filepath.Join(root, "etc/localtime"), 1000, 1001))
	}
	setMtimes(t, root, fixtureMtime)
	return root
}

// setMtimes sets the mtime of every entry under root, symlinks included.
func setMtimes(t *testing.T, root string, mtime time.Time) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(mtime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// entryView is what survives of an entry through an archive and back.
type entryView struct {
	Mode     fs.FileMode
	UID, GID uint32
	ModTime  int64 // 0 for directories
	Body     string
	Linkname string
	Rdev     [2]uint32
}

// viewTree describes the tree at root, without root itself; owners only
// as root, and without sockets (which Build leaves out).
func viewTree(t *testing.T, root string) map[string]entryView {
	t.Helper()
	asRoot := os.Geteuid() == 0
	out := map[string]entryView{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		v := entryView{Mode: info.Mode(), ModTime: info.ModTime().Unix()}
		if asRoot {
			v.UID, v.GID = st.Uid, st.Gid
		}
		switch info.Mode().Type() {
		case 0:
			body, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			v.Body = fmt.Sprintf("%x", sha256.Sum256(body))
		case fs.ModeDir:
			v.ModTime = 0 // GNU cpio sets them before filling the directory
		case fs.ModeSymlink:
			v.ModTime = 0 // GNU cpio does not set them
			if v.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case fs.ModeSocket:
			return nil
		case fs.ModeDevice, fs.ModeDevice | fs.ModeCharDevice:
			v.Rdev = [2]uint32{unix.Major(st.Rdev), unix.Minor(st.Rdev)}
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// unpackGNU unpacks uncompressed archives one after the other with GNU
// cpio into a new directory and returns it.
func unpackGNU(t *testing.T, archives ...string) string {
	t.Helper()
	bin, err := exec.LookPath("cpio")
	if err != nil {
		t.Skip("GNU cpio not installed (apt-get install cpio)")
	}
	dir := t.TempDir()
	for _, archive := range archives {
		f, err := os.Open(archive)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "-idm", "--quiet", "--no-absolute-filenames")
		cmd.Dir, cmd.Stdin = dir, f
		out, err := cmd.CombinedOutput()
		f.Close()
		if err != nil {
			t.Fatalf("cpio -idm < %s: %v\n%s", archive, err, out)
		}
	}
	return dir
}

// archiveView reads an uncompressed archive into views by name.
func archiveView(t *testing.T, archive string) map[string]entryView {
	t.Helper()
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := cpio.NewReader(f)
	out := map[string]entryView{}
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = entryView{Mode: h.Mode, UID: h.UID, GID: h.GID, ModTime: h.ModTime, Body: string(body), Linkname: h.Linkname}
	}
}

func fileSum(t *testing.T, p string) string {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func TestBuildUnpacksWithGNUCPIO(t *testing.T) {
	root := buildFixture(t)
	out := filepath.Join(t.TempDir(), "images", "rocky")
	res, err := Build(context.Background(), root, out, BuildOptions{
		Formats:  allFormats,
		Excludes: []string{"/var/cache/", "*.pyc"},
	})
	if err != nil {
		t.Fatal(err)
	}

	want := viewTree(t, root)
	for name := range want {
		if name == "var/cache" || strings.HasPrefix(name, "var/cache/") || strings.HasSuffix(name, ".pyc") {
			delete(want, name)
		}
	}
	// The public archive and then the secret one give the tree.
	dir := unpackGNU(t, out+".img", out+".img.secret")
	if diff := cmp.Diff(want, viewTree(t, dir)); diff != "" {
		t.Errorf("unpacked tree (-source +unpacked):\n%s", diff)
	}
	a, err := os.Stat(filepath.Join(dir, "bin/ls"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.Stat(filepath.Join(dir, "usr/bin/ls"))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Errorf("bin/ls and usr/bin/ls unpack as two files, want one with two names")
	}
	if a, err = os.Stat(filepath.Join(dir, "etc/empty")); err != nil {
		t.Fatal(err)
	}
	if b, err = os.Stat(filepath.Join(dir, "run/empty-link")); err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(a, b) {
		t.Errorf("etc/empty and run/empty-link unpack as two files, want one with two names")
	}

	// The compressed archives hold the same stream; the result and the
	// sha256 files describe the files.
	plain, err := os.ReadFile(out + ".img")
	if err != nil {
		t.Fatal(err)
	}
	secretPlain, err := os.ReadFile(out + ".img.secret")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(plain) + len(secretPlain); res.Skipped || res.Bytes != int64(n) || res.Files != len(want)+1 {
		t.Errorf("result: Skipped %t, Bytes %d, Files %d; want false, %d, %d", res.Skipped, res.Bytes, res.Files, n, len(want)+1)
	}
	var gotOutputs []Output
	for _, o := range res.Outputs {
		gotOutputs = append(gotOutputs, o)
		st, err := os.Stat(o.Path)
		if err != nil {
			t.Fatal(err)
		}
		if o.Size != st.Size() || o.SHA256 != fileSum(t, o.Path) {
			t.Errorf("%s: result says %d bytes sha256 %s; file has %d bytes sha256 %s", o.Path, o.Size, o.SHA256, st.Size(), fileSum(t, o.Path))
		}
		line, err := os.ReadFile(o.Path + ".sha256")
		if err != nil {
			t.Fatal(err)
		}
		if want := o.SHA256 + "  " + filepath.Base(o.Path) + "\n"; string(line) != want {
			t.Errorf("%s.sha256 = %q, want %q", o.Path, line, want)
		}
		f, err := os.Open(o.Path)
		if err != nil {
			t.Fatal(err)
		}
		zr, err := compress.NewReader(f, o.Format)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(zr)
		zr.Close()
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", o.Path, err)
		}
		if !bytes.Equal(data, plain) {
			t.Errorf("%s decompresses to %d bytes that differ from the %d of %s.img", o.Path, len(data), len(plain), out)
		}
		// The secret archive's sum is that of both archives in turn.
		if o.SecretPath != SecretArchive(out, o.Format) {
			t.Errorf("%s: secret archive %q, want %q", o.Path, o.SecretPath, SecretArchive(out, o.Format))
		}
		pub, err := os.ReadFile(o.Path)
		if err != nil {
			t.Fatal(err)
		}
		sec, err := os.ReadFile(o.SecretPath)
		if err != nil {
			t.Fatal(err)
		}
		both := sha256.Sum256(append(pub, sec...))
		if rec, err := ReadSecretSHA256(out, o.Format); err != nil || rec != hex.EncodeToString(both[:]) || o.SecretSHA256 != rec || o.SecretSize != int64(len(sec)) {
			t.Errorf("%s: recorded sum %q (%v), result %q %d bytes; want sum %x of %d bytes", o.SecretPath, rec, err, o.SecretSHA256, o.SecretSize, both, len(sec))
		}
	}
	var paths []string
	for _, o := range gotOutputs {
		paths = append(paths, o.Path)
	}
	if diff := cmp.Diff([]string{out + ".img", out + ".img.gz", out + ".img.zst"}, paths); diff != "" {
		t.Errorf("output paths (-want +got):\n%s", diff)
	}
	// Nothing but the archives, their sums, the digest and the lock.
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	wantNames := []string{"rocky.img", "rocky.img.digest", "rocky.img.gz", "rocky.img.gz.sha256", "rocky.img.lock",
		"rocky.img.secret", "rocky.img.secret.gz", "rocky.img.secret.gz.sha256", "rocky.img.secret.sha256",
		"rocky.img.secret.zst", "rocky.img.secret.zst.sha256", "rocky.img.sha256", "rocky.img.zst", "rocky.img.zst.sha256"}
	if diff := cmp.Diff(wantNames, names); diff != "" {
		t.Errorf("output directory (-want +got):\n%s", diff)
	}
}

func TestBuildExcludes(t *testing.T) {
	tests := []struct {
		name     string
		excludes []string
		hybrid   string
		gone     []string          // names absent from the archive
		links    map[string]string // names that are symlinks, to these targets
		bodies   map[string]string // names whose body moves to them
	}{
		{
			name:     "directory pruned",
			excludes: []string{"/var/cache"},
			gone:     []string{"var/cache", "var/cache/apt", "var/cache/apt/pkgcache.bin"},
		},
		{
			name:     "contents only",
			excludes: []string{"/tmp/*"},
			gone:     []string{"tmp/scratch"},
		},
		{
			name:     "unanchored file pattern",
			excludes: []string{"*.pyc", "shadow"},
			gone:     []string{"usr/lib/py/mod.pyc", "etc/shadow"},
		},
		{
			name:     "directory-only pattern leaves files",
			excludes: []string{"/etc/hostname/", "/var/cache/"},
			gone:     []string{"var/cache", "var/cache/apt", "var/cache/apt/pkgcache.bin"},
		},
		{
			name:     "one of two hard links",
			excludes: []string{"/usr/bin/ls"},
			gone:     []string{"usr/bin/ls"},
			// The body comes with the last name of a file in the archive.
			bodies: map[string]string{"bin/ls": "ls binary"},
		},
		{
			name:     "hybridized",
			excludes: []string{"/var/cache", "*.pyc"},
			hybrid:   "/mnt/hybrid",
			gone:     []string{"var/cache/apt", "var/cache/apt/pkgcache.bin"},
			links: map[string]string{
				"var/cache":          "/mnt/hybrid/var/cache",
				"usr/lib/py/mod.pyc": "/mnt/hybrid/usr/lib/py/mod.pyc",
			},
		},
	}
	root := buildFixture(t)
	all := archiveView(t, mustBuild(t, root, BuildOptions{}))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := archiveView(t, mustBuild(t, root, BuildOptions{Excludes: tc.excludes, HybridPath: tc.hybrid}))
			want := map[string]entryView{}
			for name, v := range all {
				want[name] = v
			}
			for _, name := range tc.gone {
				delete(want, name)
			}
			for name, body := range tc.bodies {
				v := want[name]
				v.Body = body
				want[name] = v
			}
			for name, target := range tc.links {
				v := want[name]
				v.Mode, v.Linkname, v.Body = fs.ModeSymlink|0o777, target, ""
				want[name] = v
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("archive (-want +got):\n%s", diff)
			}
		})
	}
}

// mustBuild builds root's uncompressed archive in a new directory and
// returns its path.
func mustBuild(t *testing.T, root string, opts BuildOptions) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "img")
	if opts.Formats == nil {
		opts.Formats = []compress.Format{compress.None}
	}
	if _, err := Build(context.Background(), root, out, opts); err != nil {
		t.Fatal(err)
	}
	return out + ".img"
}

// TestBuildReproducible builds twice, and from a copy of the tree (other
// inodes, ctimes and directory order on disk): the bytes are the same.
func TestBuildReproducible(t *testing.T) {
	root := buildFixture(t)
	dup := filepath.Join(t.TempDir(), "copy")
	if out, err := exec.Command("cp", "-a", root, dup).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v\n%s", err, out)
	}
	sums := func(root string) []string {
		out := filepath.Join(t.TempDir(), "img")
		res, err := Build(context.Background(), root, out, BuildOptions{Formats: allFormats, Concurrency: 3})
		if err != nil {
			t.Fatal(err)
		}
		var s []string
		for _, o := range res.Outputs {
			line, err := os.ReadFile(o.Path + ".sha256")
			if err != nil {
				t.Fatal(err)
			}
			s = append(s, string(line))
		}
		return s
	}
	first := sums(root)
	if diff := cmp.Diff(first, sums(root)); diff != "" {
		t.Errorf("second build (-first +second):\n%s", diff)
	}
	if diff := cmp.Diff(first, sums(dup)); diff != "" {
		t.Errorf("build of a copy (-original +copy):\n%s", diff)
	}
}

func TestBuildSkipsUnchanged(t *testing.T) {
	root := buildFixture(t)
	out := filepath.Join(t.TempDir(), "img")
	build := func(opts BuildOptions) *BuildResult {
		t.Helper()
		if opts.Formats == nil {
			opts.Formats = []compress.Format{compress.Zstd}
		}
		res, err := Build(context.Background(), root, out, opts)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := build(BuildOptions{})
	if first.Skipped {
		t.Fatal("first build skipped")
	}
	steps := []struct {
		name    string
		change  func(t *testing.T)
		opts    BuildOptions
		skipped bool
	}{
		{name: "nothing changed", skipped: true},
		{name: "forced", opts: BuildOptions{Force: true}},
		{name: "nothing changed again", skipped: true},
		{name: "file touched", change: func(t *testing.T) {
			if err := os.Chtimes(filepath.Join(root, "etc/hostname"), time.Time{}, fixtureMtime.Add(time.Second)); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file chmodded", change: func(t *testing.T) {
			if err := os.Chmod(filepath.Join(root, "etc/hostname"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "file added", change: func(t *testing.T) {
			if err := os.WriteFile(filepath.Join(root, "etc/new"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "excludes changed", opts: BuildOptions{Excludes: []string{"/tmp/*"}}},
		{name: "same excludes", opts: BuildOptions{Excludes: []string{"/tmp/*"}}, skipped: true},
		{name: "another format added", opts: BuildOptions{Excludes: []string{"/tmp/*"}, Formats: []compress.Format{compress.Zstd, compress.Gzip}}},
		{name: "both up to date", opts: BuildOptions{Excludes: []string{"/tmp/*"}, Formats: []compress.Format{compress.Gzip, compress.Zstd}}, skipped: true},
		{name: "archive deleted", change: func(t *testing.T) {
			if err := os.Remove(out + ".img.zst"); err != nil {
				t.Fatal(err)
			}
		}, opts: BuildOptions{Excludes: []string{"/tmp/*"}}},
	}
	for _, step := range steps {
		if step.change != nil {
			step.change(t)
		}
		before := map[string]string{}
		for _, f := range []compress.Format{compress.Gzip, compress.Zstd} {
			if _, err := os.Stat(out + ".img" + f.Ext()); err == nil {
				before[string(f)] = fileSum(t, out+".img"+f.Ext())
			}
		}
		res := build(step.opts)
		if res.Skipped != step.skipped {
			t.Errorf("%s: Skipped = %t, want %t", step.name, res.Skipped, step.skipped)
		}
		for _, o := range res.Outputs {
			if o.SHA256 != fileSum(t, o.Path) {
				t.Errorf("%s: %s: result sha256 %s, file %s", step.name, o.Path, o.SHA256, fileSum(t, o.Path))
			}
			if res.Skipped && o.SHA256 != before[string(o.Format)] {
				t.Errorf("%s: skipped, yet %s changed", step.name, o.Path)
			}
		}
	}
	// Adding gzip left the up-to-date zstd archives alone: their digest
	// lines are the gzip ones.
	digests, err := readDigests(out + ".img.digest")
	if err != nil {
		t.Fatal(err)
	}
	d := digests["img.img.gz"]
	if len(digests) != 4 || digests["img.img.zst"] != d || digests["img.img.secret.gz"] != d || digests["img.img.secret.zst"] != d {
		t.Errorf("digest file: %v, want the same digest for the four archives", digests)
	}
}

// TestBuildFailureKeepsPrevious cancels a rebuild midway: the previous
// archives, sha256 files and digest stay, and no temporary file is left.
func TestBuildFailureKeepsPrevious(t *testing.T) {
	root := buildFixture(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "img")
	if _, err := Build(context.Background(), root, out, BuildOptions{Formats: allFormats}); err != nil {
		t.Fatal(err)
	}
	snapshot := func() map[string]string {
		m := map[string]string{}
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			m[e.Name()] = fileSum(t, filepath.Join(dir, e.Name()))
		}
		return m
	}
	before := snapshot()

	if err := os.WriteFile(filepath.Join(root, "etc/hostname"), []byte("node2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var calls int
	_, err := Build(ctx, root, out, BuildOptions{
		Formats: allFormats,
		Progress: func(done, total int64) {
			if calls++; calls == 2 {
				cancel() // after the second file, before the big one
			}
		},
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Build = %v, want context.Canceled", err)
	}
	if diff := cmp.Diff(before, snapshot()); diff != "" {
		t.Errorf("output directory after a failed build (-before +after):\n%s", diff)
	}
	res, err := Build(context.Background(), root, out, BuildOptions{Formats: allFormats})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped {
		t.Error("the build after a failed one was skipped")
	}
}

func TestBuildRefusesHugeFile(t *testing.T) {
	root := buildFixture(t)
	f, err := os.Create(filepath.Join(root, "var/huge.img"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 32); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	dir := t.TempDir()
	_, err = Build(context.Background(), root, filepath.Join(dir, "img"), BuildOptions{Formats: allFormats})
	if err == nil || !strings.Contains(err.Error(), "/var/huge.img") || !strings.Contains(err.Error(), "newc") {
		t.Fatalf("Build = %v, want an error naming /var/huge.img and newc's limit", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "img.img") && e.Name() != "img.img.lock" {
			t.Errorf("a refused build left %s", e.Name())
		}
	}
	// Excluded, it is no obstacle.
	if _, err := Build(context.Background(), root, filepath.Join(dir, "img"), BuildOptions{Formats: allFormats, Excludes: []string{"*.img"}}); err != nil {
		t.Errorf("Build excluding the huge file: %v", err)
	}
}

// TestBuildSkipsMountPoints bind-mounts a directory inside the tree: it is
// left out, as by find -xdev.
func TestBuildSkipsMountPoints(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	root := buildFixture(t)
	elsewhere := t.TempDir()
	if err := os.WriteFile(filepath.Join(elsewhere, "host-file"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	mnt := filepath.Join(root, "srv")
	if err := unix.Mount(elsewhere, mnt, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	got := archiveView(t, mustBuild(t, root, BuildOptions{}))
	var names []string
	for name := range got {
		if strings.HasPrefix(name, "srv") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) != 0 {
		t.Errorf("archive holds %q from a mount point", names)
	}
	if _, ok := got["etc/hostname"]; !ok {
		t.Error("archive lost etc/hostname")
	}
}

func TestBuildRefusesOptions(t *testing.T) {
	root := buildFixture(t)
	tests := []struct {
		name string
		opts BuildOptions
		want string
	}{
		{name: "no format", opts: BuildOptions{}, want: "no archive format requested"},
		{name: "unknown format", opts: BuildOptions{Formats: []compress.Format{"xz"}}, want: `unknown archive format "xz"`},
		{name: "bad pattern", opts: BuildOptions{Formats: allFormats, Excludes: []string{"[z"}}, want: `exclude pattern "[z"`},
		{name: "relative hybrid path", opts: BuildOptions{Formats: allFormats, HybridPath: "mnt"}, want: `hybrid path "mnt" is not absolute`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Build(context.Background(), root, filepath.Join(t.TempDir(), "img"), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
