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
	return binaryPaths(exe, "wwclient")
}

// binaryPaths lists where a node program named file is looked for, as
// WwclientPaths says.
func binaryPaths(exe, file string) []string {
	var out []string
	if exe != "" {
		dir := filepath.Dir(exe)
		out = append(out, filepath.Join(dir, file),
			filepath.Join(dir, "..", "lib", "wwboot", file),
			filepath.Join(dir, "..", "libexec", "wwboot", file))
	}
	for _, p := range []string{"/usr/lib/wwboot/" + file, "/usr/libexec/wwboot/" + file, "/usr/bin/" + file} {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// WwclientArchs are the architectures Warewulf ships a copy of the
// wwclient overlay for, as wwclient.<arch>, each with the agent built for
// that architecture (wwclient.<arch> beside wwctl: "make build" writes
// bin/wwclient.x86_64 and bin/wwclient.aarch64).
func WwclientArchs() []string { return []string{"x86_64", "aarch64"} }

// WithWwclientArchs adds to builtin, which holds the wwclient overlay,
// one copy of it per architecture of WwclientArchs named
// wwclient.<arch>: the same files, with the binary found as
// wwclient.<arch> in the places WwclientPaths lists for exe. A copy
// whose binary is not found is not there (a profile naming it gets
// "overlay does not exist"), so that an installation without the
// cross-built agents lists and builds its other overlays.
func WithWwclientArchs(builtin fs.FS, exe string) fs.FS {
	v := &archCopies{base: builtin, copies: map[string]*withFile{}}
	for _, arch := range WwclientArchs() {
		v.copies["wwclient."+arch] = &withFile{base: builtin, name: WwclientFile,
			paths: binaryPaths(exe, "wwclient."+arch), binary: "wwclient." + arch}
	}
	return v
}

// archCopies serves copies of the wwclient overlay under other names.
type archCopies struct {
	base   fs.FS
	copies map[string]*withFile // overlay name -> its files, with its binary
}

// resolve maps a path in a copy to the wwclient overlay's path and the
// file system that serves it.
func (a *archCopies) resolve(name string) (fs.FS, string) {
	first, rest, _ := strings.Cut(name, "/")
	c, ok := a.copies[first]
	if !ok {
		return a.base, name
	}
	if _, _, err := c.find(); err != nil {
		return a.base, name // not there
	}
	if rest == "" {
		return c, "wwclient"
	}
	return c, "wwclient/" + rest
}

// Missing says why the copy called name is not there: its binary is
// not found. It is nil for other names and for copies that are there.
func (a *archCopies) Missing(name string) error {
	c, ok := a.copies[name]
	if !ok {
		return nil
	}
	_, _, err := c.find()
	return err
}

func (a *archCopies) Open(name string) (fs.File, error) {
	fsys, p := a.resolve(name)
	return fsys.Open(p)
}

func (a *archCopies) ReadFile(name string) ([]byte, error) {
	fsys, p := a.resolve(name)
	return fs.ReadFile(fsys, p)
}

func (a *archCopies) Stat(name string) (fs.FileInfo, error) {
	fsys, p := a.resolve(name)
	st, err := fs.Stat(fsys, p)
	if err == nil && p == "wwclient" && name != "wwclient" {
		return renamedInfo{FileInfo: st, name: name}, nil
	}
	return st, err
}

// ReadDir lists a directory; the top level gets the copies beside the
// wwclient overlay.
func (a *archCopies) ReadDir(name string) ([]fs.DirEntry, error) {
	fsys, p := a.resolve(name)
	entries, err := fs.ReadDir(fsys, p)
	if err != nil || name != "." {
		return entries, err
	}
	st, err := fs.Stat(a.base, "wwclient")
	if err != nil {
		return entries, nil // no wwclient overlay to copy
	}
	for copyName, c := range a.copies {
		if _, _, err := c.find(); err == nil {
			entries = append(entries, fs.FileInfoToDirEntry(renamedInfo{FileInfo: st, name: copyName}))
		}
	}
	slices.SortFunc(entries, func(x, y fs.DirEntry) int { return strings.Compare(x.Name(), y.Name()) })
	return entries, nil
}

// renamedInfo is a directory's FileInfo under another name.
type renamedInfo struct {
	fs.FileInfo
	name string
}

func (r renamedInfo) Name() string { return r.name }

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
	// binary is the program's file name in messages; "" is wwclient.
	binary string
}

func (w *withFile) find() (string, fs.FileInfo, error) {
	for _, p := range w.paths {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, st, nil
		}
	}
	bin := w.binary
	if bin == "" {
		bin = "wwclient"
	}
	return "", nil, fmt.Errorf("no %s binary for the %s overlay: build it (make build writes bin/%s) or install it; looked in %s",
		bin, bin, bin, strings.Join(w.paths, ", "))
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
	_ fs.ReadDirFS  = (*archCopies)(nil)
	_ fs.StatFS     = (*archCopies)(nil)
	_ fs.ReadFileFS = (*archCopies)(nil)
	_ fs.ReadDirFS  = (*withFile)(nil)
	_ fs.StatFS     = (*withFile)(nil)
	_ fs.ReadFileFS = (*withFile)(nil)
)
