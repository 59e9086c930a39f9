package oci

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// hostileSeeds are tar archives that try to escape, for the fuzz corpus.
func hostileSeeds(t testing.TB) [][]byte {
	return [][]byte{
		tarBytes(t, baseLayer()...),
		tarBytes(t, upperLayer()...),
		tarBytes(t, file("../sentinel/escape", "x")),
		tarBytes(t, dir("a/"), file("a/../../sentinel/escape", "x")),
		tarBytes(t, symlink("s", "../sentinel"), file("s/escape", "x")),
		tarBytes(t, symlink("up", ".."), dir("up/sentinel/d/")),
		tarBytes(t, symlink("l", "../victim"), hardlink("h", "l/keep")),
		tarBytes(t, hardlink("h", "../victim/keep")),
		tarBytes(t, symlink("l", "../victim"), file("l/.wh.keep", "")),
		tarBytes(t, symlink("l", "../victim"), file("l/.wh..wh..opq", "")),
		tarBytes(t, symlink("f", "../victim/keep"), file("f", "new")),
		tarBytes(t, file("/wwboot-oci-fuzz/x", "x"), hardlink("wwboot-oci-fuzz/y", "/wwboot-oci-fuzz/x")),
	}
}

// FuzzTarImport applies arbitrary bytes as image layers: it must never
// panic, and whatever it writes stays inside the destination.
func FuzzTarImport(f *testing.F) {
	for _, s := range hostileSeeds(f) {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, data []byte, walk bool) {
		base, dest := newDest(t)
		_, _ = extractLayers(t, dest, walk, nil, data)
		checkContained(t, base)
	})
}

// FuzzImportFile imports arbitrary bytes as a local file (tarball, OCI
// archive or docker-archive, compressed or not): this covers the format
// detection and the index and manifest parsing. It must never panic, and
// whatever it writes stays inside the destination.
func FuzzImportFile(f *testing.F) {
	lay := writeLayout(f, archImage(f, hostArch()), "v1")
	ociTar := filepath.Join(f.TempDir(), "oci.tar")
	tarDir(f, lay, ociTar, compNone)
	oci, err := os.ReadFile(ociTar)
	if err != nil {
		f.Fatal(err)
	}
	dockerTar := filepath.Join(f.TempDir(), "docker.tar")
	writeDockerArchive(f, archImage(f, hostArch()), "test:v1", dockerTar, compNone)
	docker, err := os.ReadFile(dockerTar)
	if err != nil {
		f.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarBytes(f, baseLayer()...))
	zw.Close()
	for _, s := range append(hostileSeeds(f), oci, docker, gz.Bytes()) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base, dest := newDest(t)
		src := filepath.Join(base, "victim", "keep")
		// The victim's file is the source itself: it must stay as it is.
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = Import(t.Context(), src, dest, Options{})
		if b, err := os.ReadFile(src); err != nil || !bytes.Equal(b, data) {
			t.Errorf("source changed")
		}
		if err := os.WriteFile(src, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		checkContained(t, base)
	})
}
