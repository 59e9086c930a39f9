package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// extractor writes archive entries beneath one destination directory and
// nowhere else. Every entry is placed by resolving its parent directory
// beneath the destination's descriptor without following symlinks and then
// creating its last element relative to that descriptor with O_NOFOLLOW /
// O_EXCL semantics: an existing entry is removed first, never written
// through. Entries are applied the way docker applies layers.
type extractor struct {
	resolver
	log *slog.Logger
	// privileged reports whether owners can be set and device nodes made
	// (root); otherwise owners are left to the importing user and devices
	// are skipped with a warning.
	privileged bool
	// whiteouts makes ".wh." entries delete what earlier layers wrote
	// (image layers); otherwise they are ordinary files (a root filesystem
	// tarball or directory).
	whiteouts bool
	buf       []byte
	warned    map[string]bool // warnings given once per import
	// budget counts the import's entries and bytes against its Limits.
	budget budget

	// Per layer: the paths this layer wrote (and their parents), which its
	// whiteouts must spare, and its directories, whose metadata is set when
	// the layer is done so that writing their contents does not change it.
	unpacked map[string]bool
	dirs     []dirEntry
}

type dirEntry struct {
	name string
	hdr  *tar.Header
}

// newExtractor returns an extractor writing beneath the directory open as
// root (an O_PATH descriptor the caller keeps and closes), within limits
// (zero fields take their defaults). destLen is the length of the
// destination's absolute path, which with an entry's path must stay under
// PATH_MAX; 0 skips that check.
func newExtractor(root int, log *slog.Logger, limits Limits, destLen int) *extractor {
	return &extractor{
		resolver:   resolver{root: root},
		log:        log,
		privileged: os.Geteuid() == 0,
		// A multiple of holeBlock, so that copySparse sees aligned blocks.
		buf:    make([]byte, 1<<20),
		warned: map[string]bool{},
		budget: budget{Limits: limits.withDefaults(), destLen: destLen},
	}
}

// warnOnce logs msg the first time key is seen in this import.
func (x *extractor) warnOnce(key, msg string, args ...any) {
	if x.warned[key] {
		return
	}
	x.warned[key] = true
	x.log.Warn(msg, args...)
}

// applyTar applies one tar stream (a layer, or a whole root filesystem) on
// top of what is already in the destination. It stops at the first entry it
// cannot apply safely, with an error naming that entry.
func (x *extractor) applyTar(ctx context.Context, r io.Reader) error {
	x.beginLayer()
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		// ErrInsecurePath (GODEBUG tarinsecurepath=0) comes with a usable
		// header; such names get our own, stricter, treatment.
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("read tar: %w", err)
		}
		if err := x.entry(ctx, hdr, tr); err != nil {
			return fmt.Errorf("entry %q: %w", hdr.Name, err)
		}
	}
	return x.finishDirs(ctx)
}

// beginLayer starts a layer: entries go to entry, then finishDirs.
func (x *extractor) beginLayer() {
	x.unpacked = map[string]bool{}
	x.dirs = x.dirs[:0]
}

// entry applies one archive entry whose contents, for a regular file, are
// read from body. Every entry, applied or skipped, counts against the
// Limits, which are checked before anything of it is written.
func (x *extractor) entry(ctx context.Context, hdr *tar.Header, body io.Reader) error {
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if err := x.budget.admit(name); err != nil {
		return err
	}
	if name == "." {
		if hdr.Typeflag != tar.TypeDir {
			return fmt.Errorf("%w: the root can only be a directory", ErrUnsafe)
		}
		x.dirs = append(x.dirs, dirEntry{name: name, hdr: hdr})
		return nil
	}
	dir, base := splitName(name)
	if x.whiteouts && strings.HasPrefix(name, whiteoutMeta) && name != whiteoutOpaque {
		return nil // aufs metadata (.wh..wh.plnk, .wh..wh.aufs), meaningless here
	}
	if x.whiteouts && strings.HasPrefix(base, whiteoutPrefix) {
		return x.whiteout(dir, base)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse, tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
	case tar.TypeXGlobalHeader:
		return nil // PAX global metadata (git archive's commit id)
	case tar.TypeChar, tar.TypeBlock:
		if !x.privileged {
			x.log.Warn("not root: skipping device node", "entry", hdr.Name)
			return nil
		}
	default:
		x.log.Warn("skipping entry of unsupported type", "entry", hdr.Name, "type", string(hdr.Typeflag))
		return nil
	}
	if err := checkOwner(hdr); err != nil {
		return err
	}
	pfd, err := x.openDir(dir, true)
	if err != nil {
		return err
	}
	defer unix.Close(pfd)

	var st unix.Stat_t
	exists := true
	if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); errors.Is(err, unix.ENOENT) {
		exists = false
	} else if err != nil {
		return &os.PathError{Op: "stat", Path: name, Err: err}
	}
	isDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR

	switch hdr.Typeflag {
	case tar.TypeDir:
		if !isDir {
			if exists {
				if err := removeAt(pfd, base); err != nil {
					return err
				}
			}
			if err := unix.Mkdirat(pfd, base, 0o700); err != nil {
				return &os.PathError{Op: "mkdir", Path: name, Err: err}
			}
		}
		x.dirs = append(x.dirs, dirEntry{name: name, hdr: hdr})
	case tar.TypeLink:
		if err := x.hardlink(hdr, pfd, base, exists, &st); err != nil {
			return err
		}
	default:
		if exists {
			if err := removeAt(pfd, base); err != nil {
				return err
			}
		}
		if err := x.create(ctx, hdr, pfd, base, name, body); err != nil {
			return err
		}
	}
	x.markUnpacked(name)
	return nil
}

// markUnpacked records that this layer wrote name, and so also its parents.
func (x *extractor) markUnpacked(name string) {
	for name != "." && !x.unpacked[name] {
		x.unpacked[name] = true
		name = path.Dir(name)
	}
}

// create makes a new regular file, symlink, fifo or device node base in
// pfd (nothing is there) and sets its metadata.
func (x *extractor) create(ctx context.Context, hdr *tar.Header, pfd int, base, name string, body io.Reader) error {
	mode := uint32(hdr.Mode) & 0o7777
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, base); err != nil {
			return &os.PathError{Op: "symlink", Path: name, Err: err}
		}
		return x.setMetaAt(hdr, pfd, base, name, false)
	case tar.TypeFifo, tar.TypeChar, tar.TypeBlock:
		kind := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			kind = unix.S_IFCHR
		case tar.TypeBlock:
			kind = unix.S_IFBLK
		}
		if hdr.Devmajor < 0 || hdr.Devmajor > 0xfff || hdr.Devminor < 0 || hdr.Devminor > 0xfffff {
			return fmt.Errorf("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
		}
		dev := int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))
		if err := unix.Mknodat(pfd, base, kind|0o600, dev); err != nil {
			return &os.PathError{Op: "mknod", Path: name, Err: err}
		}
		return x.setMetaAt(hdr, pfd, base, name, true)
	}
	// An entry whose announced size is over the limit is refused before
	// its file is made (copySparse counts what really comes as well).
	if err := x.budget.reserve(entrySize(hdr)); err != nil {
		return err
	}
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	// The copy streams whatever the archive really holds for the entry; the
	// header's size is never used to allocate anything. Zeros become holes.
	if body != nil {
		if _, err := copySparse(ctx, f, body, x.buf, &x.budget); err != nil {
			if isLimit(err) || ctx.Err() != nil {
				return err
			}
			return fmt.Errorf("write %q: %w", name, err)
		}
	}
	if err := x.setMetaFd(hdr, fd, name, mode); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %q: %w", name, err)
	}
	return setTimesAt(hdr, pfd, base, name)
}

// hardlink makes base in pfd a hard link to the already extracted entry
// named by hdr.Linkname, which is resolved beneath the destination exactly
// like an entry name.
func (x *extractor) hardlink(hdr *tar.Header, pfd int, base string, exists bool, st *unix.Stat_t) error {
	target, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hard link target: %w", err)
	}
	if target == "." {
		return fmt.Errorf("hard link to the root directory")
	}
	tdir, tbase := splitName(target)
	tfd, err := x.openDir(tdir, false)
	if err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tfd)
	var tst unix.Stat_t
	if err := unix.Fstatat(tfd, tbase, &tst, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("hard link target %q: %w", hdr.Linkname, err)
	}
	if tst.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("hard link target %q is a directory", hdr.Linkname)
	}
	if exists {
		if st.Dev == tst.Dev && st.Ino == tst.Ino {
			return nil // already that file
		}
		if err := removeAt(pfd, base); err != nil {
			return err
		}
	}
	// Without AT_SYMLINK_FOLLOW a symlink target is linked itself, never
	// the file it points to.
	if err := unix.Linkat(tfd, tbase, pfd, base, 0); err != nil {
		return fmt.Errorf("hard link to %q: %w", hdr.Linkname, err)
	}
	return nil
}

// whiteout applies the whiteout entry base in dir: ".wh.NAME" removes NAME,
// ".wh..wh..opq" hides everything earlier layers put in dir. What this
// layer wrote itself is spared (whiteouts apply to lower layers only).
func (x *extractor) whiteout(dir, base string) error {
	if base != whiteoutOpaque && strings.HasPrefix(base, whiteoutMeta) {
		return nil // other aufs metadata, meaningless here
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if base != whiteoutOpaque && (victim == "" || victim == "." || victim == "..") {
		return fmt.Errorf("invalid whiteout name %q", base)
	}
	pfd, err := x.openDir(dir, false)
	if errors.Is(err, unix.ENOENT) {
		return nil // nothing there to hide
	}
	if err != nil {
		return err
	}
	defer unix.Close(pfd)
	if base == whiteoutOpaque {
		return emptyDirAt(pfd, ".", dir, func(rel string) bool { return x.unpacked[rel] })
	}
	if x.unpacked[joinName(dir, victim)] {
		return nil
	}
	return removeAt(pfd, victim)
}

// finishDirs sets the metadata of the directories this layer listed,
// deepest first, once their contents are in place. A directory a later
// entry replaced is left alone.
func (x *extractor) finishDirs(ctx context.Context) error {
	slices.SortStableFunc(x.dirs, func(a, b dirEntry) int {
		return strings.Count(b.name, "/") - strings.Count(a.name, "/")
	})
	for _, d := range x.dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := x.finishDir(d); err != nil {
			return fmt.Errorf("entry %q: %w", d.hdr.Name, err)
		}
	}
	x.dirs = x.dirs[:0]
	return nil
}

func (x *extractor) finishDir(d dirEntry) error {
	dir, base := ".", "."
	if d.name != "." {
		dir, base = splitName(d.name)
	}
	pfd, err := x.openDir(dir, false)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	defer unix.Close(pfd)
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ELOOP) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: d.name, Err: err}
	}
	err = x.setMetaFd(d.hdr, fd, d.name, uint32(d.hdr.Mode)&0o7777)
	unix.Close(fd)
	if err != nil {
		return err
	}
	return setTimesAt(d.hdr, pfd, base, d.name)
}
