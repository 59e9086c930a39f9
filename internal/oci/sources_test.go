package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/compression"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"
)

// ociImage is the two-layer test image as an OCI image: a gzip base layer
// and a zstd upper one.
func ociImage(t testing.TB, arch string) v1.Image {
	return imageOf(t, arch, true,
		layerOf(t, baseLayer(), tarball.WithMediaType(types.OCILayer)),
		layerOf(t, upperLayer(), tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd)))
}

// archImage is a one-layer image whose etc/arch says its architecture.
func archImage(t testing.TB, arch string) v1.Image {
	return imageOf(t, arch, true, layerOf(t, []tentry{dir("bin/"), file("bin/sh", "sh"), dir("etc/"), file("etc/arch", arch)},
		tarball.WithMediaType(types.OCILayer)))
}

// writeLayout writes an OCI layout holding img under the name ref.
func writeLayout(t testing.TB, img v1.Image, ref string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{refNameAnnotation: ref})); err != nil {
		t.Fatal(err)
	}
	return dir
}

// tarDir writes the tree under dir as a tar file, compressed by comp.
func tarDir(t testing.TB, dir, out string, comp string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var w io.WriteCloser = nopWriteCloser{f}
	if comp == compGzip {
		w = gzip.NewWriter(f)
	}
	tw := tar.NewWriter(w)
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		hdr.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_, err = tw.Write(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// writeDockerArchive writes img as docker save would, tagged tag.
func writeDockerArchive(t testing.TB, img v1.Image, tag, out string, comp string) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tarball.Write(ref, img, &buf); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if comp == compGzip {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(b)
		zw.Close()
		b = z.Bytes()
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func digestOf(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func configDigest(t testing.TB, img v1.Image) string {
	t.Helper()
	d, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

// TestImageSources imports the two-layer test image from an OCI layout, an
// OCI archive and a docker-archive (plain and gzip-compressed), by prefix
// and by content, and compares the tree and the Info.
func TestImageSources(t *testing.T) {
	img := ociImage(t, hostArch())
	lay := writeLayout(t, img, "v1")
	work := t.TempDir()
	ociTar := filepath.Join(work, "image.oci.tar")
	tarDir(t, lay, ociTar, compNone)
	ociTgz := filepath.Join(work, "image.oci.tar.gz")
	tarDir(t, lay, ociTgz, compGzip)
	dockerImg := imageOf(t, hostArch(), false, layerOf(t, baseLayer()), layerOf(t, upperLayer()))
	dockerTar := filepath.Join(work, "image.docker.tar")
	writeDockerArchive(t, dockerImg, "example.org/test/image:v1", dockerTar, compNone)
	dockerTgz := filepath.Join(work, "image.docker.tar.gz")
	writeDockerArchive(t, dockerImg, "example.org/test/image:v1", dockerTgz, compGzip)

	plat := "linux/" + hostArch()
	tests := []struct {
		source string
		want   Info
	}{
		{source: "oci:" + lay, want: Info{Kind: KindOCILayout, Digest: digestOf(t, img), Platform: plat, Layers: 2}},
		{source: "oci:" + lay + ":v1", want: Info{Kind: KindOCILayout, Digest: digestOf(t, img), Platform: plat, Layers: 2}},
		{source: lay, want: Info{Kind: KindOCILayout, Digest: digestOf(t, img), Platform: plat, Layers: 2}},
		{source: "oci-archive:" + ociTar, want: Info{Kind: KindOCIArchive, Digest: digestOf(t, img), Platform: plat, Layers: 2}},
		{source: "oci-archive:" + ociTar + ":v1", want: Info{Kind: KindOCIArchive, Digest: digestOf(t, img), Platform: plat, Layers: 2}},
		{source: ociTar, want: Info{Kind: KindOCIArchive, Digest: digestOf(t, img), Platform: plat, Layers: 2}},
		{source: "file://" + ociTgz, want: Info{Kind: KindOCIArchive, Digest: digestOf(t, img), Platform: plat, Layers: 2}},
		{source: "docker-archive:" + dockerTar, want: Info{Kind: KindDockerArchive, Digest: configDigest(t, dockerImg), Platform: plat, Layers: 2}},
		{source: "docker-archive:" + dockerTar + ":example.org/test/image:v1", want: Info{Kind: KindDockerArchive, Digest: configDigest(t, dockerImg), Platform: plat, Layers: 2}},
		{source: dockerTar, want: Info{Kind: KindDockerArchive, Digest: configDigest(t, dockerImg), Platform: plat, Layers: 2}},
		{source: dockerTgz, want: Info{Kind: KindDockerArchive, Digest: configDigest(t, dockerImg), Platform: plat, Layers: 2}},
	}
	for _, tc := range tests {
		t.Run(strings.ReplaceAll(strings.TrimPrefix(tc.source, work), "/", "_"), func(t *testing.T) {
			base, dest := newDest(t)
			var stages []string
			opts := Options{Progress: func(stage string, done, total int64) {
				if done > total && total > 0 {
					t.Errorf("progress %s: %d of %d", stage, done, total)
				}
				stages = append(stages, stage)
			}}
			info, err := Import(t.Context(), tc.source, dest, opts)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Source = tc.source
			if diff := cmp.Diff(&tc.want, info); diff != "" {
				t.Errorf("info (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(wantUpper(), snapshot(t, dest)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if len(stages) == 0 || stages[len(stages)-1] != "extract" {
				t.Errorf("progress stages %q, want extract last", stages)
			}
			checkContained(t, base)
		})
	}
}

// TestTarballSources imports a root filesystem tarball, plain and
// compressed: whiteout names are ordinary files there, and the digest is
// the file's.
func TestTarballSources(t *testing.T) {
	entries := append([]tentry{dir("./")}, baseLayer()...)
	entries = append(entries, file("etc/.wh.literal", "not a whiteout"))
	plain := tarBytes(t, entries...)
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		w := gzip.NewWriter(&buf)
		w.Write(b)
		w.Close()
		return buf.Bytes()
	}
	zst := func(b []byte) []byte {
		w, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		return w.EncodeAll(b, nil)
	}
	work := t.TempDir()
	files := map[string][]byte{"rootfs.tar": plain, "rootfs.tar.gz": gz(plain), "rootfs.tgz": gz(plain), "rootfs.tar.zst": zst(plain)}
	if bz, err := exec.LookPath("bzip2"); err == nil {
		cmd := exec.Command(bz, "-c")
		cmd.Stdin = bytes.NewReader(plain)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		files["rootfs.tar.bz2"] = out
	}
	want := expected(entries[1:]...)
	for n, b := range files {
		t.Run(n, func(t *testing.T) {
			p := filepath.Join(work, n)
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			base, dest := newDest(t)
			if err := os.Chmod(dest, 0o700); err != nil {
				t.Fatal(err)
			}
			var last [3]any
			info, err := Import(t.Context(), p, dest, Options{Progress: func(stage string, done, total int64) {
				last = [3]any{stage, done, total}
			}})
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			wantInfo := &Info{Source: p, Kind: KindTarball, Digest: "sha256:" + hex.EncodeToString(sum[:]), Layers: 1}
			if diff := cmp.Diff(wantInfo, info); diff != "" {
				t.Errorf("info (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, snapshot(t, dest)); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([3]any{"extract", int64(len(b)), int64(len(b))}, last); diff != "" {
				t.Errorf("last progress (-want +got):\n%s", diff)
			}
			var st unix.Stat_t
			if err := unix.Stat(dest, &st); err != nil || st.Mode&0o7777 != 0o755 || st.Mtim.Sec != testTime.Unix() {
				t.Errorf("dest mode %o mtime %d, want the ./ entry's 0755 and %d", st.Mode&0o7777, st.Mtim.Sec, testTime.Unix())
			}
			checkContained(t, base)
		})
	}
}

// TestDirectorySource copies a root filesystem directory with every kind of
// file, and checks the copy is identical (dest inside the source is
// skipped).
func TestDirectorySource(t *testing.T) {
	src := filepath.Join(t.TempDir(), "rootfs")
	mk := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"bin", "etc", "home/user", "dev", "run", "usr/bin"} {
		mk(os.MkdirAll(filepath.Join(src, d), 0o755))
	}
	mk(os.WriteFile(filepath.Join(src, "bin/sh"), []byte("#!shell"), 0o755))
	mk(os.WriteFile(filepath.Join(src, "etc/hostname"), []byte("node\n"), 0o644))
	mk(os.Link(filepath.Join(src, "etc/hostname"), filepath.Join(src, "etc/hard")))
	mk(os.Symlink("hostname", filepath.Join(src, "etc/link")))
	mk(os.Symlink("/etc/passwd", filepath.Join(src, "etc/abs")))
	mk(os.WriteFile(filepath.Join(src, "etc/.wh.literal"), []byte("a file"), 0o644))
	mk(unix.Mkfifo(filepath.Join(src, "run/fifo"), 0o600))
	mk(os.WriteFile(filepath.Join(src, "usr/bin/suid"), nil, 0o755))
	mk(os.Chmod(filepath.Join(src, "usr/bin/suid"), 0o4755))
	mk(os.WriteFile(filepath.Join(src, "home/user/f"), []byte("secret"), 0o600))
	mk(os.Chmod(filepath.Join(src, "home/user"), 0o700))
	mk(unix.Setxattr(filepath.Join(src, "etc/hostname"), "user.test", []byte("value"), 0))
	if isRoot() {
		mk(os.Chown(filepath.Join(src, "home/user/f"), 1000, 1000))
		mk(os.Chown(filepath.Join(src, "home/user"), 1000, 1000))
		mk(unix.Mknod(filepath.Join(src, "dev/null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	}
	// dest is inside the source: the copy must not recurse into itself.
	base := filepath.Join(src, "var")
	mk(os.Mkdir(base, 0o755))
	dest := filepath.Join(base, "dest")
	mk(os.Mkdir(dest, 0o755))
	when := time.Unix(1600000000, 0)
	mk(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		ts := []unix.Timespec{unix.NsecToTimespec(when.UnixNano()), unix.NsecToTimespec(when.UnixNano())}
		return unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW)
	}))
	want := snapshot(t, src)
	delete(want, "var/dest")

	info, err := Import(t.Context(), src, dest, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(&Info{Source: src, Kind: KindDirectory}, info); diff != "" {
		t.Errorf("info (-want +got):\n%s", diff)
	}
	got := snapshot(t, dest)
	// var's mtime in the source changed when dest was made in it... after
	// the times were set, so both agree; the copy of var has no dest.
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copy (-want +got):\n%s", diff)
	}
	for _, p := range []string{"etc/hard", "etc/link", "run/fifo"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s not copied", p)
		}
	}
}

// TestSourceErrors checks sources that cannot be imported.
func TestSourceErrors(t *testing.T) {
	work := t.TempDir()
	write := func(n string, b []byte) string {
		p := filepath.Join(work, n)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	notRootfs := filepath.Join(work, "empty-dir")
	if err := os.Mkdir(notRootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	// bin is an absolute symlink: bin/sh must not be found on the host.
	absBin := filepath.Join(work, "abs-bin")
	if err := os.Mkdir(absBin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin", filepath.Join(absBin, "bin")); err != nil {
		t.Fatal(err)
	}
	twoImages := writeLayout(t, archImage(t, "amd64"), "one")
	p, err := layout.FromPath(twoImages)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(archImage(t, "arm64"), layout.WithAnnotations(map[string]string{refNameAnnotation: "two"})); err != nil {
		t.Fatal(err)
	}
	armOnly := writeLayout(t, archImage(t, "arm64"), "arm")
	ociTar := filepath.Join(work, "oci.tar")
	tarDir(t, armOnly, ociTar, compNone)
	xz := write("rootfs.tar.xz", []byte("\xfd7zXZ\x00\x00\x04"))

	tests := []struct {
		name, source, platform, want string
	}{
		{name: "missing", source: filepath.Join(work, "nope"), want: "no such file or directory"},
		{name: "unknown transport", source: "sif://x", want: `unsupported transport "sif"`},
		{name: "not a tar", source: write("junk", bytes.Repeat([]byte("junk"), 300)), want: "not a tar archive"},
		{name: "xz", source: xz, want: "xz compression is not supported"},
		{name: "directory without a shell", source: notRootfs, want: "neither an OCI layout (no oci-layout file) nor a root filesystem"},
		{name: "shell through an absolute symlink", source: absBin, want: "nor a root filesystem"},
		{name: "layout without the name", source: "oci:" + twoImages + ":three", want: `no image named "three" in the layout (it has "one", "two")`},
		{name: "layout with two images", source: "oci:" + twoImages, want: `2 images in the layout; name one (oci:DIR:NAME) among "one", "two"`},
		{name: "explicit platform mismatch", source: "oci:" + armOnly, platform: "linux/amd64", want: "image is for platform linux/arm64, not linux/amd64"},
		{name: "bad platform", source: "oci:" + armOnly, platform: "linux/", want: `invalid platform "linux/"`},
		{name: "architecture alone", source: "oci:" + armOnly, platform: "x86_64", want: "image is for platform linux/arm64, not linux/amd64"},
		{name: "oci-archive that is a docker-archive", source: "docker-archive:" + ociTar, want: "is no docker-archive: it has no manifest.json at the top"},
		{name: "oci prefix on a directory without layout", source: "oci:" + notRootfs, want: "not an OCI image layout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base, dest := newDest(t)
			_, err := Import(t.Context(), tc.source, dest, Options{Platform: tc.platform})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Import(%q) error %v, want it to contain %q", tc.source, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "import \""+tc.source+"\": ") {
				t.Errorf("error %q does not name the source", err)
			}
			checkContained(t, base)
		})
	}

	t.Run("destination not empty", func(t *testing.T) {
		_, dest := newDest(t)
		if err := os.WriteFile(filepath.Join(dest, "x"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := Import(t.Context(), ociTar, dest, Options{}); err == nil || !strings.Contains(err.Error(), "is not empty") {
			t.Fatalf("error %v, want not empty", err)
		}
	})
}

// TestLayoutPlatforms chooses by platform in a multi-platform index, by
// name among several images, and checks the default platform's warning.
func TestLayoutPlatforms(t *testing.T) {
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: archImage(t, "amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: archImage(t, "arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnotation: "multi"})); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		platform, want, wantErr string
	}{
		{platform: "linux/amd64", want: "amd64"},
		{platform: "linux/arm64", want: "arm64"},
		{platform: "linux/arm64/v8", want: "arm64"},
		// Warewulf's spelling, and an architecture alone (its --arch).
		{platform: "linux/aarch64", want: "arm64"},
		{platform: "aarch64", want: "arm64"},
		{platform: "x86_64", want: "amd64"},
		{platform: "linux/riscv64", wantErr: "no image for platform linux/riscv64 (there are linux/amd64, linux/arm64/v8)"},
	}
	for _, tc := range tests {
		t.Run(tc.platform, func(t *testing.T) {
			_, dest := newDest(t)
			info, err := Import(t.Context(), "oci:"+dir, dest, Options{Platform: tc.platform})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(filepath.Join(dest, "etc/arch"))
			if err != nil || string(b) != tc.want {
				t.Errorf("etc/arch = %q, %v; want %q", b, err, tc.want)
			}
			if info.Platform != "linux/"+tc.want {
				t.Errorf("Info.Platform = %q, want linux/%s", info.Platform, tc.want)
			}
		})
	}
}

// TestUncompressedAndTamperedLayers imports an OCI layout whose layer is an
// uncompressed tar, then the same with the blob altered: the digest check
// fails the import.
func TestUncompressedAndTamperedLayers(t *testing.T) {
	tarb := tarBytes(t, dir("bin/"), file("bin/sh", "sh"))
	img := imageOf(t, hostArch(), true, static.NewLayer(tarb, types.OCIUncompressedLayer))
	lay := writeLayout(t, img, "v1")
	_, dest := newDest(t)
	if _, err := Import(t.Context(), lay, dest, Options{}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"bin": "dir", "bin/sh": "file sh"}, shortTree(t, dest)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}

	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	d, err := layers[0].Digest()
	if err != nil {
		t.Fatal(err)
	}
	evil := tarBytes(t, dir("bin/"), file("bin/sh", "evil"))
	if err := os.WriteFile(filepath.Join(lay, "blobs", "sha256", d.Hex), evil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, dest = newDest(t)
	_, err = Import(t.Context(), lay, dest, Options{})
	if err == nil || !strings.Contains(err.Error(), "layer 1 of 1 ("+d.String()+"): layer blob: digest is sha256:") {
		t.Fatalf("error %v, want a digest mismatch of layer 1", err)
	}
}

// TestUpdate imports an image over what dest already holds: its whiteout
// removes a file the earlier import wrote, and dest's mode is kept.
func TestUpdate(t *testing.T) {
	work := t.TempDir()
	first := filepath.Join(work, "first.tar")
	if err := os.WriteFile(first, tarBytes(t, dir("./").withMode(0o750), dir("bin/"), file("bin/sh", "sh"), file("old", "old"), file("kept", "kept")), 0o644); err != nil {
		t.Fatal(err)
	}
	lay := writeLayout(t, imageOf(t, hostArch(), true, layerOf(t, []tentry{file(".wh.old", ""), file("new", "new")})), "v1")
	base, dest := newDest(t)
	if _, err := Import(t.Context(), first, dest, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(t.Context(), lay, dest, Options{}); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("import over a full dest without Update: %v, want not empty", err)
	}
	if _, err := Import(t.Context(), lay, dest, Options{Update: true}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"bin": "dir", "bin/sh": "file sh", "kept": "file kept", "new": "file new"}
	if diff := cmp.Diff(want, shortTree(t, dest)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(dest); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("dest mode %v, %v; want the first import's 0750 kept", fi.Mode(), err)
	}
	checkContained(t, base)
}
