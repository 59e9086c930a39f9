package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// testTime is the mtime of every test entry.
var testTime = time.Unix(1700000000, 0)

// tentry describes one tar entry of a test archive.
type tentry struct {
	name         string
	typ          byte
	mode         int64
	uid, gid     int
	link         string // symlink or hard link target
	body         string
	xattrs       map[string]string
	major, minor int64
}

func file(name, body string) tentry {
	return tentry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func dir(name string) tentry { return tentry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) tentry {
	return tentry{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hardlink(name, target string) tentry {
	return tentry{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}
func fifo(name string) tentry { return tentry{name: name, typ: tar.TypeFifo, mode: 0o644} }

func (e tentry) withMode(m int64) tentry           { e.mode = m; return e }
func (e tentry) withOwner(uid, gid int) tentry     { e.uid, e.gid = uid, gid; return e }
func (e tentry) withXattr(k, v string) tentry      { e.xattrs = map[string]string{k: v}; return e }
func (e tentry) withDev(major, minor int64) tentry { e.major, e.minor = major, minor; return e }

// tarBytes writes entries as a tar archive.
func tarBytes(t testing.TB, entries ...tentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, ModTime: testTime, Devmajor: e.major, Devminor: e.minor,
			Format: tar.FormatPAX,
		}
		if e.typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords[paxXattr+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// node is what a test knows of a filesystem entry.
type node struct {
	Type    string // dir, file, symlink, fifo, char, block
	Mode    string // permission and special bits in octal; "" for symlinks
	Owner   string // uid:gid
	Content string // file contents, symlink target, or device major:minor
	Xattrs  map[string]string
	Mtime   int64
	// LinkOf is, for a file with several names, the first of them (in
	// sorted order) when this one is not it.
	LinkOf string
}

// snapshot describes the tree under root (root itself excluded), keyed by
// slash-separated relative paths.
func snapshot(t testing.TB, root string) map[string]node {
	t.Helper()
	out := map[string]node{}
	type inode struct{ dev, ino uint64 }
	first := map[inode]string{}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root {
			paths = append(paths, p)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk %s: %v", root, err)
	}
	sort.Strings(paths)
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			t.Fatal(err)
		}
		n := node{
			Mode:  fmt.Sprintf("%04o", st.Mode&0o7777),
			Owner: fmt.Sprintf("%d:%d", st.Uid, st.Gid),
			Mtime: st.Mtim.Sec,
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			n.Type = "dir"
		case unix.S_IFREG:
			n.Type = "file"
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			n.Content = string(b)
		case unix.S_IFLNK:
			n.Type, n.Mode = "symlink", ""
			n.Content, _ = os.Readlink(p)
		case unix.S_IFIFO:
			n.Type = "fifo"
		case unix.S_IFCHR, unix.S_IFBLK:
			n.Type = "char"
			if st.Mode&unix.S_IFMT == unix.S_IFBLK {
				n.Type = "block"
			}
			n.Content = fmt.Sprintf("%d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		if n.Type != "dir" && st.Nlink > 1 {
			k := inode{st.Dev, st.Ino}
			if f, ok := first[k]; ok {
				n.LinkOf = f
			} else {
				first[k] = rel
			}
		}
		if n.Type != "symlink" {
			n.Xattrs = userXattrs(t, p)
		}
		out[rel] = n
	}
	return out
}

// userXattrs returns the user.* extended attributes of p.
func userXattrs(t testing.TB, p string) map[string]string {
	t.Helper()
	attrs, err := readXattrs(p)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]string
	for k, v := range attrs {
		if name := strings.TrimPrefix(k, paxXattr); strings.HasPrefix(name, "user.") {
			if out == nil {
				out = map[string]string{}
			}
			out[name] = v
		}
	}
	return out
}

func isRoot() bool { return os.Geteuid() == 0 }

// expected returns the tree a test archive of entries gives when applied
// on an empty directory, for the plain cases the tests use (every directory
// listed, no whiteouts, no replacements; hard links after their target).
func expected(entries ...tentry) map[string]node {
	out := map[string]node{}
	groups := map[string][]string{}
	owner := func(e tentry) string {
		if !isRoot() {
			return fmt.Sprintf("%d:%d", os.Geteuid(), os.Getegid())
		}
		return fmt.Sprintf("%d:%d", e.uid, e.gid)
	}
	for _, e := range entries {
		name := strings.TrimSuffix(strings.TrimPrefix(e.name, "/"), "/")
		n := node{Mode: fmt.Sprintf("%04o", e.mode), Owner: owner(e), Mtime: testTime.Unix()}
		for k, v := range e.xattrs {
			if strings.HasPrefix(k, "user.") {
				n.Xattrs = map[string]string{k: v}
			}
		}
		switch e.typ {
		case tar.TypeDir:
			n.Type = "dir"
		case tar.TypeReg:
			n.Type, n.Content = "file", e.body
		case tar.TypeSymlink:
			n.Type, n.Mode, n.Content = "symlink", "", e.link
		case tar.TypeFifo:
			n.Type = "fifo"
		case tar.TypeChar:
			if !isRoot() {
				continue
			}
			n.Type, n.Content = "char", fmt.Sprintf("%d:%d", e.major, e.minor)
		case tar.TypeLink:
			n = out[e.link]
			groups[e.link] = append(groups[e.link], name)
		}
		out[name] = n
	}
	// As snapshot does: the first name of a file in sorted order is the one
	// the others are links of.
	for target, names := range groups {
		names = append(names, target)
		sort.Strings(names)
		for _, n := range names[1:] {
			e := out[n]
			e.LinkOf = names[0]
			out[n] = e
		}
	}
	return out
}

// Test image: a base layer with every kind of entry, and a second layer
// with a whiteout, an opaque directory, replacements and an overwrite.
func baseLayer() []tentry {
	return []tentry{
		dir("bin/"),
		file("bin/sh", "#!shell\n").withMode(0o755),
		dir("etc/"),
		file("etc/hostname", "base\n"),
		file("etc/removed", "gone\n"),
		symlink("etc/link", "hostname"),
		symlink("etc/abs", "/etc/passwd"),
		hardlink("etc/hard", "etc/hostname"),
		file("etc/xattr", "x").withXattr("user.test", "value"),
		dir("opq/"),
		file("opq/old", "old"),
		dir("opq/sub/"),
		file("opq/sub/deep", "deep"),
		dir("home/").withMode(0o755),
		dir("home/user/").withMode(0o700).withOwner(1000, 1000),
		file("home/user/f", "secret").withMode(0o600).withOwner(1000, 1000),
		dir("usr/"),
		dir("usr/bin/"),
		file("usr/bin/suid", "suid").withMode(0o4755),
		dir("tmp/").withMode(0o1777),
		dir("run/"),
		fifo("run/fifo"),
		dir("dev/"),
		tentry{name: "dev/null", typ: tar.TypeChar, mode: 0o666}.withDev(1, 3),
		dir("swap/"),
		file("swap/x", "x"),
		file("swap2", "file"),
	}
}

func upperLayer() []tentry {
	return []tentry{
		dir("etc/"),
		file("etc/.wh.removed", ""),
		file("etc/hostname", "upper\n"),
		dir("opq/"),
		file("opq/.wh..wh..opq", ""),
		file("opq/new", "new"),
		file("swap", "now a file"),
		dir("swap2/"),
		file("swap2/y", "y"),
	}
}

// wantBase is the tree of the base layer alone.
func wantBase() map[string]node { return expected(baseLayer()...) }

// wantUpper is the tree of both layers.
func wantUpper() map[string]node {
	w := wantBase()
	delete(w, "etc/removed")
	for _, k := range []string{"opq/old", "opq/sub", "opq/sub/deep", "swap/x"} {
		delete(w, k)
	}
	up := expected(upperLayer()...)
	for _, k := range []string{"etc/hostname", "opq/new", "swap", "swap2", "swap2/y"} {
		w[k] = up[k]
	}
	// etc/hostname was replaced by a new file: etc/hard keeps the old one.
	hard := w["etc/hard"]
	hard.LinkOf = ""
	w["etc/hard"] = hard
	return w
}

// gzipLayer makes a go-containerregistry layer of a tar (gzip-compressed
// on the fly, or zstd with compression "zstd").
func layerOf(t testing.TB, entries []tentry, opts ...tarball.LayerOption) v1.Layer {
	t.Helper()
	b := tarBytes(t, entries...)
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// imageOf makes an image of layers for the platform os/arch, as an OCI
// image (oci) or a docker one.
func imageOf(t testing.TB, arch string, oci bool, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		t.Fatal(err)
	}
	if oci {
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	}
	return img
}

// hostArch is the architecture imports default to.
func hostArch() string { return runtime.GOARCH }

// newDest makes an empty destination next to a sentinel directory and a
// victim directory holding one file, which escapes would touch.
func newDest(t testing.TB) (base, dest string) {
	t.Helper()
	base = t.TempDir()
	for _, d := range []string{"dest", "sentinel", "victim"} {
		if err := os.Mkdir(filepath.Join(base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(base, "victim", "keep"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	return base, filepath.Join(base, "dest")
}

// checkContained fails the test if anything next to dest changed.
func checkContained(t testing.TB, base string) {
	t.Helper()
	names, err := os.ReadDir(base)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range names {
		got = append(got, n.Name())
	}
	if strings.Join(got, " ") != "dest sentinel victim" {
		t.Errorf("next to dest: %q, want only dest, sentinel and victim", got)
	}
	if s, _ := os.ReadDir(filepath.Join(base, "sentinel")); len(s) != 0 {
		t.Errorf("sentinel directory is not empty: %v", s)
	}
	v, err := os.ReadDir(filepath.Join(base, "victim"))
	if err != nil || len(v) != 1 {
		t.Errorf("victim directory changed: %v %v", v, err)
	}
	if b, err := os.ReadFile(filepath.Join(base, "victim", "keep")); err != nil || string(b) != "keep" {
		t.Errorf("victim/keep changed: %q %v", b, err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(base, "victim", "keep"), &st); err == nil && st.Nlink != 1 {
		t.Errorf("victim/keep has %d links, want 1", st.Nlink)
	}
}

// extractLayers applies tar layers to dest as image layers, with the
// openat2 resolver or the component walk.
func extractLayers(t testing.TB, dest string, walk bool, log *slog.Logger, layers ...[]byte) (*extractor, error) {
	t.Helper()
	root, err := openDest(dest, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(root) })
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	x := newExtractor(root, log, Limits{}, 0)
	x.noOpenat2 = walk
	x.whiteouts = true
	for i, l := range layers {
		if err := x.applyTar(context.Background(), bytes.NewReader(l)); err != nil {
			return x, fmt.Errorf("layer %d: %w", i+1, err)
		}
	}
	return x, nil
}

// resolverModes runs f with the openat2 resolver and with the walk.
func resolverModes(t *testing.T, f func(t *testing.T, walk bool)) {
	for _, walk := range []bool{false, true} {
		name := "openat2"
		if walk {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) { f(t, walk) })
	}
}
