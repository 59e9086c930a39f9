// Package overlay renders overlays (trees of files and Warewulf-compatible
// Go templates) per node, builds them into the archives nodes receive at
// boot and while they run, and serves them (Archives).
//
// On disk, under the Builder's Dir (<wwprovisiondir>/overlays): a node's
// images, system and runtime, are one pack file, NODE.pack (format in
// pack.go: header, JSON index of each image's manifest with section
// offsets, the images' own and secret archives uncompressed; the
// compressed forms are made from them when asked, derive.go), 0600 when
// it holds secret files and 0640 otherwise; the archives shared by nodes
// with the same overlays are .shared/SUM.img{,.gz,.zst} with a manifest
// per group, .shared/GROUP.json; .lock is the lock file builds share and
// .locks/NN the nodes' locks (lock.go).
package overlay

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/naming"
)

// Kind is what an overlay entry is.
type Kind uint8

const (
	KindDir Kind = iota
	KindFile
	KindSymlink
)

// Origin says where an overlay comes from.
type Origin string

const (
	OriginSite         Origin = "site"
	OriginDistribution Origin = "distribution"
	OriginBuiltin      Origin = "built-in"
)

// Store finds overlays: a site overlay shadows a distribution overlay of
// the same name, which shadows a built-in one.
type Store struct {
	// Site is the site overlay directory (paths.wwoverlaydir).
	Site string
	// Dist is the distribution overlay directory on disk
	// (<datadir>/warewulf/overlays); it may not exist.
	Dist string
	// Builtin holds the overlays shipped in the binary: <name>/rootfs/...
	// and an optional <name>/attrs file giving modes and owners.
	Builtin fs.FS
}

// Overlay is one overlay's source files.
type Overlay struct {
	Name   string
	Origin Origin
	// Dir is the overlay's directory on disk; "" for a built-in one.
	Dir string
	// Files are the overlay's entries in path order, read once.
	Files []*SourceFile
	// Digest covers every entry's path, kind, mode, owner and content.
	Digest string
}

// SourceFile is one entry of an overlay's rootfs.
type SourceFile struct {
	Path     string // slash separated, relative to rootfs
	Kind     Kind
	Mode     fs.FileMode // permission bits
	UID, GID int
	ModTime  time.Time
	Target   string // symlink target
	Data     []byte // file content
}

// Template reports whether the file is a template (name ends in .ww).
func (f *SourceFile) Template() bool { return f.Kind == KindFile && strings.HasSuffix(f.Path, ".ww") }

// Names lists every overlay name, sorted.
func (s *Store) Names() ([]string, error) {
	seen := map[string]bool{}
	for _, dir := range []string{s.Site, s.Dist} {
		if dir == "" {
			continue
		}
		entries, err := os.ReadDir(dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("list overlays: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && naming.Overlay.Valid(e.Name()) {
				seen[e.Name()] = true
			}
		}
	}
	if s.Builtin != nil {
		entries, err := fs.ReadDir(s.Builtin, ".")
		if err != nil {
			return nil, fmt.Errorf("list built-in overlays: %w", err)
		}
		for _, e := range entries {
			if e.IsDir() && naming.Overlay.Valid(e.Name()) {
				seen[e.Name()] = true
			}
		}
	}
	return sortedKeys(seen), nil
}

// Locate says where the overlay called name would be read from, without
// reading it. ok is false when it does not exist.
func (s *Store) Locate(name string) (origin Origin, dir string, ok bool) {
	if !naming.Overlay.Valid(name) {
		return "", "", false
	}
	for _, c := range []struct {
		dir    string
		origin Origin
	}{{s.Site, OriginSite}, {s.Dist, OriginDistribution}} {
		if c.dir == "" {
			continue
		}
		d := filepath.Join(c.dir, name)
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return c.origin, d, true
		}
	}
	if s.Builtin != nil {
		if st, err := fs.Stat(s.Builtin, name); err == nil && st.IsDir() {
			return OriginBuiltin, "", true
		}
	}
	return "", "", false
}

// Get reads the overlay called name.
func (s *Store) Get(name string) (*Overlay, error) {
	origin, dir, ok := s.Locate(name)
	if !ok {
		if err := naming.Overlay.Check(name); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("overlay %q does not exist", name)
	}
	o := &Overlay{Name: name, Origin: origin, Dir: dir}
	var err error
	if origin == OriginBuiltin {
		o.Files, err = readBuiltin(s.Builtin, name)
	} else {
		o.Files, err = readDir(RootDir(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("read overlay %q: %w", name, err)
	}
	o.Digest = digestFiles(o.Files)
	return o, nil
}

// RootDir is where an on-disk overlay's files are: its rootfs directory,
// or the overlay directory itself when it has none (as Warewulf allows).
func RootDir(dir string) string {
	if st, err := os.Stat(filepath.Join(dir, "rootfs")); err == nil && st.IsDir() {
		return filepath.Join(dir, "rootfs")
	}
	return dir
}

func readDir(root string) ([]*SourceFile, error) {
	var files []*SourceFile
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		f := &SourceFile{Path: filepath.ToSlash(rel), Mode: st.Mode().Perm() | st.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky), ModTime: st.ModTime()}
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			f.UID, f.GID = int(sys.Uid), int(sys.Gid)
		}
		switch {
		case st.IsDir():
			f.Kind = KindDir
		case st.Mode()&fs.ModeSymlink != 0:
			f.Kind = KindSymlink
			if f.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case st.Mode().IsRegular():
			f.Kind = KindFile
			if f.Data, err = os.ReadFile(p); err != nil {
				return err
			}
		default:
			return nil // sockets, devices and fifos have no place in an overlay
		}
		files = append(files, f)
		return nil
	})
	return files, err
}

// readBuiltin reads an overlay shipped in the binary; embedded files have
// no modes or owners, so <name>/attrs supplies them: lines of
// "path mode [uid gid]". Unlisted files are 0644 and directories 0755,
// owned by root.
func readBuiltin(fsys fs.FS, name string) ([]*SourceFile, error) {
	attrs, err := readAttrs(fsys, name)
	if err != nil {
		return nil, err
	}
	root := name + "/rootfs"
	if st, err := fs.Stat(fsys, root); err != nil || !st.IsDir() {
		root = name
	}
	var files []*SourceFile
	err = fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root || (root == name && p == name+"/attrs") {
			return nil
		}
		rel := strings.TrimPrefix(p, root+"/")
		f := &SourceFile{Path: rel, Kind: KindFile, Mode: 0o644}
		if d.IsDir() {
			f.Kind, f.Mode = KindDir, 0o755
		} else if f.Data, err = fs.ReadFile(fsys, p); err != nil {
			return err
		}
		if a, ok := attrs[rel]; ok {
			f.Mode, f.UID, f.GID = a.mode, a.uid, a.gid
			if a.target != "" {
				f.Kind, f.Target, f.Data = KindSymlink, a.target, nil
			}
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// A link listed in attrs needs no placeholder file in rootfs.
	added := false
	for p, a := range attrs {
		if a.target != "" && !slices.ContainsFunc(files, func(f *SourceFile) bool { return f.Path == p }) {
			files = append(files, &SourceFile{Path: p, Kind: KindSymlink, Mode: 0o777, UID: a.uid, GID: a.gid, Target: a.target})
			added = true
		}
	}
	if added {
		sort.SliceStable(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	}
	return files, nil
}

type attr struct {
	mode     fs.FileMode
	uid, gid int
	target   string
}

// readAttrs parses <name>/attrs: "path mode [uid gid]", or
// "path -> target" for a symlink (embedding cannot hold links).
func readAttrs(fsys fs.FS, name string) (map[string]attr, error) {
	data, err := fs.ReadFile(fsys, name+"/attrs")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]attr{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		if len(fields) == 3 && fields[1] == "->" {
			out[fields[0]] = attr{mode: 0o777, target: fields[2]}
			continue
		}
		if len(fields) != 2 && len(fields) != 4 {
			return nil, fmt.Errorf("%s/attrs:%d: expected \"path mode [uid gid]\"", name, line)
		}
		mode, err := strconv.ParseUint(fields[1], 8, 32)
		if err != nil {
			return nil, fmt.Errorf("%s/attrs:%d: bad mode %q", name, line, fields[1])
		}
		a := attr{mode: fs.FileMode(mode)}
		if len(fields) == 4 {
			if a.uid, err = strconv.Atoi(fields[2]); err == nil {
				a.gid, err = strconv.Atoi(fields[3])
			}
			if err != nil {
				return nil, fmt.Errorf("%s/attrs:%d: bad owner", name, line)
			}
		}
		out[fields[0]] = a
	}
	return out, sc.Err()
}

func digestFiles(files []*SourceFile) string {
	sorted := append([]*SourceFile(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	h := sha256.New()
	for _, f := range sorted {
		fmt.Fprintf(h, "%s\x00%d\x00%o\x00%d\x00%d\x00%s\x00%d\x00", f.Path, f.Kind, f.Mode, f.UID, f.GID, f.Target, len(f.Data))
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cleanRel makes p a clean relative path inside an overlay, or fails when
// it would leave it.
func cleanRel(p string) (string, error) {
	c := path.Clean("/" + strings.TrimSpace(p))
	if c == "/" || strings.Contains(p, "\x00") {
		return "", fmt.Errorf("path %q names no file inside the overlay", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." {
			return "", fmt.Errorf("path %q leaves the overlay", p)
		}
	}
	return strings.TrimPrefix(c, "/"), nil
}
