package overlay

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// WwclientFile is where the wwclient overlay holds the node agent's
// binary. In the overlays built into wwctl that file is a placeholder:
// the binary is a separate static program (cmd/wwclient) that
// WithWwclient supplies when the overlay is read.
const WwclientFile = "wwclient/rootfs/warewulf/wwclient"

// WwclientPaths lists where a wwclient binary is looked for, best
// first, for a wwctl executable at exe: next to it (bin/ after "make
// build"), in ../lib/wwboot/ and ../libexec/wwboot/ from it, then the
// installed locations /usr/lib/wwboot/wwclient, /usr/libexec/wwboot/wwclient
// and /usr/bin/wwclient. A non-empty override (WWCLIENT in the
// environment) is the only path.
func WwclientPaths(exe, override string) []string {
	if override != "" {
		return []string{override}
	}
	var out []string
	if exe != "" {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, "wwclient"),
			filepath.Join(dir, "..", "lib", "wwboot", "wwclient"),
			filepath.Join(dir, "..", "libexec", "wwboot", "wwclient"))
	}
	for _, p := range []string{"/usr/lib/wwboot/wwclient", "/usr/libexec/wwboot/wwclient", "/usr/bin/wwclient"} {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// WithWwclient returns builtin with the file at WwclientFile read from
// the first of paths that is a regular file. The search happens each
// time the file is opened, so a binary installed after wwctl started is
// found; when there is none, opening it fails with an error naming every
// path searched, so building an overlay list with wwclient fails instead
// of sending nodes a placeholder.
func WithWwclient(builtin fs.FS, paths []string) fs.FS {
	return &withFile{base: builtin, name: WwclientFile, paths: paths}
}

type withFile struct {
	base  fs.FS
	name  string
	paths []string
}

func (w *withFile) find() (string, fs.FileInfo, error) {
	for _, p := range w.paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, st, nil
		}
	}
	return "", nil, fmt.Errorf("no wwclient binary for the wwclient overlay: build it (make build writes bin/wwclient) or install it; looked in %s",
		strings.Join(w.paths, ", "))
}

func (w *withFile) Open(name string) (fs.File, error) {
	if name != w.name {
		return w.base.Open(name)
	}
	p, _, err := w.find()
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.Open(p)
}

func (w *withFile) ReadFile(name string) ([]byte, error) {
	if name != w.name {
		return fs.ReadFile(w.base, name)
	}
	f, err := w.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (w *withFile) Stat(name string) (fs.FileInfo, error) {
	if name != w.name {
		return fs.Stat(w.base, name)
	}
	_, st, err := w.find()
	if err != nil {
		// Listing overlays works without the binary; only reading it,
		// to build an image, fails.
		return fs.Stat(w.base, name)
	}
	return st, nil
}

// ReadDir lists the base directory, with the binary's entry in place of
// the placeholder (or added, if the base has none).
func (w *withFile) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(w.base, name)
	if err != nil || name != path.Dir(w.name) {
		return entries, err
	}
	base := path.Base(w.name)
	entries = slices.DeleteFunc(entries, func(e fs.DirEntry) bool { return e.Name() == base })
	entries = append(entries, binEntry{w: w, name: base})
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

// binEntry is the directory entry of the binary; it is a regular file
// whether or not one is found (Info then describes the placeholder).
type binEntry struct {
	w    *withFile
	name string
}

func (e binEntry) Name() string               { return e.name }
func (e binEntry) IsDir() bool                { return false }
func (e binEntry) Type() fs.FileMode          { return 0 }
func (e binEntry) Info() (fs.FileInfo, error) { return e.w.Stat(e.w.name) }

var (
	_ fs.ReadDirFS  = (*withFile)(nil)
	_ fs.StatFS     = (*withFile)(nil)
	_ fs.ReadFileFS = (*withFile)(nil)
)
