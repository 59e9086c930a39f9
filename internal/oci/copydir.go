package oci

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// isRootfs reports whether dir looks like a root filesystem: it has
// bin/sh or usr/bin/sh (a symlink to a shell counts), reached through real
// directories only, so an absolute symlink cannot make the host's count.
func isRootfs(dir string) bool {
	for _, sh := range []string{"bin/sh", "usr/bin/sh"} {
		ok := true
		parts := strings.Split(sh, "/")
		p := dir
		for _, c := range parts[:len(parts)-1] {
			p = filepath.Join(p, c)
			if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
				ok = false
				break
			}
		}
		if _, err := os.Lstat(filepath.Join(p, parts[len(parts)-1])); ok && err == nil {
			return true
		}
	}
	return false
}

// copyDir copies the root filesystem in src into the destination through
// the extractor, so that the copy has the same guarantees as an archive:
// hard links (files seen before with the same device and inode), symlinks
// (never followed), device nodes, fifos, owners, modes, times and extended
// attributes are kept. Sockets are skipped, and so is the content of other
// filesystems mounted inside src (their mount points are kept, as with
// cp -x); dest itself is skipped if it is inside src.
func copyDir(ctx context.Context, x *extractor, src, dest string, opts Options) error {
	src, err := filepath.EvalSymlinks(src)
	if err != nil {
		return err
	}
	var rootSt, destSt unix.Stat_t
	if err := unix.Stat(src, &rootSt); err != nil {
		return &os.PathError{Op: "stat", Path: src, Err: err}
	}
	if err := unix.Stat(dest, &destSt); err != nil {
		return &os.PathError{Op: "stat", Path: dest, Err: err}
	}
	x.whiteouts = false
	x.beginLayer()
	ext := newProgress(opts.Progress, "extract", 0)
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}

	err = filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no stat data", p)
		}
		if fi.IsDir() && st.Dev == destSt.Dev && st.Ino == destSt.Ino {
			return filepath.SkipDir
		}
		hdr := &tar.Header{
			Name:       rel,
			Mode:       int64(st.Mode & 0o7777),
			Uid:        int(st.Uid),
			Gid:        int(st.Gid),
			ModTime:    time.Unix(st.Mtim.Sec, st.Mtim.Nsec),
			AccessTime: time.Unix(st.Atim.Sec, st.Atim.Nsec),
		}
		skipDir := false
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			hdr.Typeflag = tar.TypeDir
			if st.Dev != rootSt.Dev {
				x.log.Warn("not copying another filesystem mounted in the source", "path", p)
				skipDir = true
			}
		case unix.S_IFREG:
			hdr.Typeflag = tar.TypeReg
		case unix.S_IFLNK:
			hdr.Typeflag = tar.TypeSymlink
			if hdr.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case unix.S_IFCHR, unix.S_IFBLK:
			hdr.Typeflag = tar.TypeChar
			if st.Mode&unix.S_IFMT == unix.S_IFBLK {
				hdr.Typeflag = tar.TypeBlock
			}
			hdr.Devmajor = int64(unix.Major(st.Rdev))
			hdr.Devminor = int64(unix.Minor(st.Rdev))
		case unix.S_IFIFO:
			hdr.Typeflag = tar.TypeFifo
		default:
			x.log.Warn("skipping socket", "path", p)
			return nil
		}
		if hdr.Typeflag != tar.TypeDir && st.Nlink > 1 {
			key := inode{uint64(st.Dev), st.Ino}
			if first, ok := seen[key]; ok {
				hdr.Typeflag, hdr.Linkname = tar.TypeLink, first
			} else {
				seen[key] = rel
			}
		}
		if hdr.Typeflag != tar.TypeLink {
			attrs, err := readXattrs(p)
			if err != nil {
				return err
			}
			hdr.PAXRecords = attrs
		}
		var body io.Reader
		if hdr.Typeflag == tar.TypeReg {
			// O_NONBLOCK: should p have become a fifo since the Lstat,
			// the open must not hang; the Stat below then refuses it.
			f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			if now, err := f.Stat(); err != nil || !now.Mode().IsRegular() || !os.SameFile(now, fi) {
				return fmt.Errorf("%s changed while being copied", p)
			}
			body = &countingReader{ctx: ctx, r: f, p: ext}
		}
		if err := x.entry(ctx, hdr, body); err != nil {
			return fmt.Errorf("entry %q: %w", rel, err)
		}
		if skipDir {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return err
	}
	ext.finish()
	return x.finishDirs(ctx)
}

// readXattrs returns the extended attributes of p (not following a
// symlink) as PAX records, or nil if the filesystem has none.
func readXattrs(p string) (map[string]string, error) {
	names, err := listXattrs(p)
	if err != nil || len(names) == 0 {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		v, err := getXattr(p, n)
		if errors.Is(err, unix.ENODATA) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, fmt.Errorf("%s: read extended attribute %s: %w", p, n, err)
		}
		out[paxXattr+n] = string(v)
	}
	return out, nil
}

func listXattrs(p string) ([]string, error) {
	for {
		n, err := unix.Llistxattr(p, nil)
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil || n == 0 {
			return nil, osErr("list extended attributes", p, err)
		}
		buf := make([]byte, n)
		n, err = unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) {
			continue // grew meanwhile
		}
		if err != nil {
			return nil, osErr("list extended attributes", p, err)
		}
		var names []string
		for _, s := range strings.Split(string(buf[:n]), "\x00") {
			if s != "" {
				names = append(names, s)
			}
		}
		return names, nil
	}
}

func getXattr(p, name string) ([]byte, error) {
	for {
		n, err := unix.Lgetxattr(p, name, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// osErr wraps err, if any, as an *os.PathError.
func osErr(op, p string, err error) error {
	if err == nil {
		return nil
	}
	return &os.PathError{Op: op, Path: p, Err: err}
}
