package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// tarArchive gives access by name to the files of an image archive (an
// OCI archive or a docker-archive), which is a tar file, compressed or
// not. Files of an uncompressed archive are read in place; a compressed one
// is decompressed again up to the file asked for.
type tarArchive struct {
	path  string
	comp  string
	files map[string]archived // regular files, by cleaned name
	links map[string]string   // symlinks and hard links: cleaned name to cleaned target
}

type archived struct {
	seq       int   // position in the archive, to find it again when compressed
	off, size int64 // where the data is, when uncompressed
}

// cleanArchiveName is the key a name of an image archive is looked up by.
func cleanArchiveName(name string) string {
	return path.Clean(strings.TrimLeft(name, "/"))
}

// isImageArchiveName reports whether an image archive can have name: one
// made by docker, podman, skopeo or go-containerregistry holds nothing else.
func isImageArchiveName(name string) bool {
	top, _, _ := strings.Cut(name, "/")
	switch top {
	case ".", "oci-layout", "index.json", "manifest.json", "repositories", "blobs":
		return true
	}
	h := strings.TrimPrefix(top, "sha256:")
	for _, ext := range []string{".json", ".tar.gz", ".tar"} {
		if s, ok := strings.CutSuffix(h, ext); ok {
			h = s
			break
		}
	}
	return len(h) == 64 && strings.Trim(h, "0123456789abcdef") == ""
}

// maxIndexEntries bounds the entries an image archive's scan keeps (its
// blobs, manifests and links): a real archive has a few hundred, and a
// crafted one of millions of blob names must not exhaust memory.
const maxIndexEntries = 1 << 16

// scanArchive reads the tar headers of the file at p and tells what it is:
// KindOCIArchive (it has oci-layout at the top), KindDockerArchive
// (manifest.json at the top) or KindTarball. The scan stops at the first
// name an image archive cannot have, so a root filesystem tarball costs a
// few headers, not a read of the whole file.
func scanArchive(ctx context.Context, p string) (*tarArchive, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	head := make([]byte, 10)
	n, _ := io.ReadFull(f, head)
	comp, err := sniffCompression(head[:n])
	if err != nil {
		return nil, "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, "", err
	}
	a := &tarArchive{path: p, comp: comp, files: map[string]archived{}, links: map[string]string{}}
	var tr *tar.Reader
	if comp == compNone {
		tr = tar.NewReader(f) // skips file data with Seek
	} else {
		dec, err := decompress(f)
		if err != nil {
			return nil, "", err
		}
		defer dec.Close()
		tr = tar.NewReader(dec)
	}
	for seq := 0; ; seq++ {
		if err := ctx.Err(); err != nil {
			return nil, "", err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			if seq == 0 {
				if comp != compNone {
					return nil, "", fmt.Errorf("not a %s-compressed tar archive: %w", comp, err)
				}
				return nil, "", fmt.Errorf("not a tar archive: %w", err)
			}
			return nil, "", fmt.Errorf("read tar: %w", err)
		}
		name := cleanArchiveName(hdr.Name)
		if !isImageArchiveName(name) {
			return a, KindTarball, nil
		}
		if len(a.files)+len(a.links) >= maxIndexEntries {
			return nil, "", fmt.Errorf("%s: more than %d blobs, manifests and links: not an image archive this tool accepts", p, maxIndexEntries)
		}
		switch hdr.Typeflag {
		case tar.TypeReg:
			e := archived{seq: seq, off: -1, size: hdr.Size}
			if comp == compNone {
				if e.off, err = f.Seek(0, io.SeekCurrent); err != nil {
					return nil, "", err
				}
			}
			a.files[name] = e
			delete(a.links, name)
		case tar.TypeSymlink:
			t := hdr.Linkname
			if !strings.HasPrefix(t, "/") {
				t = path.Join(path.Dir(name), t)
			}
			a.links[name] = cleanArchiveName(t)
			delete(a.files, name)
		case tar.TypeLink:
			a.links[name] = cleanArchiveName(hdr.Linkname)
			delete(a.files, name)
		}
	}
	switch {
	case a.has("oci-layout"):
		return a, KindOCIArchive, nil
	case a.has("manifest.json"):
		return a, KindDockerArchive, nil
	}
	return a, KindTarball, nil
}

// resolve follows links in the archive to the regular file name stands for.
func (a *tarArchive) resolve(name string) (string, archived, bool) {
	for range 16 {
		if t, ok := a.links[name]; ok {
			name = t
			continue
		}
		e, ok := a.files[name]
		return name, e, ok
	}
	return name, archived{}, false
}

func (a *tarArchive) has(name string) bool {
	_, _, ok := a.resolve(name)
	return ok
}

// open returns the contents of the file name in the archive.
func (a *tarArchive) open(ctx context.Context, name string) (io.ReadCloser, error) {
	name, e, ok := a.resolve(cleanArchiveName(name))
	if !ok {
		return nil, fmt.Errorf("%s: %q: %w", a.path, name, fs.ErrNotExist)
	}
	f, err := os.Open(a.path)
	if err != nil {
		return nil, err
	}
	if a.comp == compNone {
		return readCloser{io.NewSectionReader(f, e.off, e.size), f.Close}, nil
	}
	dec, err := decompress(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	closeAll := func() error { dec.Close(); return f.Close() }
	tr := tar.NewReader(dec)
	for seq := 0; ; seq++ {
		if err := ctx.Err(); err != nil {
			closeAll()
			return nil, err
		}
		if _, err := tr.Next(); err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			closeAll()
			return nil, fmt.Errorf("%s: find %q: %w", a.path, name, err)
		}
		if seq == e.seq {
			return readCloser{tr, closeAll}, nil
		}
	}
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// dirStore reads an OCI image layout in a directory.
type dirStore struct{ dir string }

func (d dirStore) open(_ context.Context, name string) (io.ReadCloser, error) {
	p := filepath.Join(d.dir, filepath.FromSlash(name))
	// Only regular files: opening a fifo planted in the layout would hang.
	fi, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return os.Open(p)
}
