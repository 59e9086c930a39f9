package oci

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrUnsafe is wrapped by every error that refuses an archive entry because
// writing it would reach outside the destination: a name or hard-link target
// that climbs out with "..", or a path that goes through a symbolic link.
var ErrUnsafe = errors.New("unsafe entry")

// cleanName turns an archive entry name (or hard-link target) into a path
// relative to the destination: leading slashes are dropped (an absolute name
// is taken relative to the root being built) and the result is cleaned
// lexically. "." names the destination itself. A name that climbs out with
// ".." is refused.
func cleanName(raw string) (string, error) {
	n := path.Clean(strings.TrimLeft(raw, "/"))
	if n == "" || n == "/" {
		return ".", nil
	}
	if n == ".." || strings.HasPrefix(n, "../") {
		return "", fmt.Errorf("%w: %q climbs out of the destination (..)", ErrUnsafe, raw)
	}
	return n, nil
}

// splitName returns the directory and last element of a cleaned relative
// name other than ".".
func splitName(name string) (dir, base string) {
	i := strings.LastIndexByte(name, '/')
	if i < 0 {
		return ".", name
	}
	return name[:i], name[i+1:]
}

// joinName is path.Join for cleaned relative names, keeping "." out.
func joinName(dir, base string) string {
	if dir == "." {
		return base
	}
	return dir + "/" + base
}

// resolver opens directories beneath a root directory descriptor without
// ever following a symbolic link: a symlink met as a path component is an
// ErrUnsafe error, whatever it points to, so nothing can be written through
// one. Names passed in are cleaned relative names (see cleanName), which have
// no ".." element.
type resolver struct {
	root int // O_PATH descriptor of the destination
	// noOpenat2 makes the resolver walk component by component; it is set
	// when openat2(2) is missing (Linux < 5.6) or filtered (seccomp), and by
	// tests to cover the fallback.
	noOpenat2 bool
}

// openDir returns an O_PATH descriptor of the directory rel beneath the root,
// which the caller closes. With create set, missing directories are made
// (mode 0755, as docker does for parents an archive does not list).
func (r *resolver) openDir(rel string, create bool) (int, error) {
	if !r.noOpenat2 {
		fd, err := unix.Openat2(r.root, rel, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS,
		})
		switch {
		case err == nil:
			return fd, nil
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
			r.noOpenat2 = true
		}
		// Any other failure (a missing directory to create, a symlink or a
		// file in the way) goes through the walk, which creates what is
		// missing and names the component at fault.
	}
	return r.walkDir(rel, create)
}

// walkDir is openDir one component at a time: each step is relative to the
// descriptor of the previous one and opened with O_NOFOLLOW, so a symlink
// can neither be followed nor swapped in between the check and the open.
func (r *resolver) walkDir(rel string, create bool) (int, error) {
	fd, err := unix.Openat(r.root, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open destination: %w", err)
	}
	if rel == "." {
		return fd, nil
	}
	done := 0
	for c := range strings.SplitSeq(rel, "/") {
		at := rel[:done+len(c)]
		done += len(c) + 1
		var st unix.Stat_t
		err := unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, c, 0o755); err == nil || errors.Is(err, unix.EEXIST) {
				err = unix.Fstatat(fd, c, &st, unix.AT_SYMLINK_NOFOLLOW)
			}
		}
		if err != nil {
			unix.Close(fd)
			return -1, &os.PathError{Op: "open", Path: at, Err: err}
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
		case unix.S_IFLNK:
			target := readlinkAt(fd, c)
			unix.Close(fd)
			return -1, fmt.Errorf("%w: %q is a symbolic link (to %q); refusing to go through it", ErrUnsafe, at, target)
		default:
			unix.Close(fd)
			return -1, fmt.Errorf("%q is not a directory", at)
		}
		next, err := unix.Openat(fd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: at, Err: err}
		}
		fd = next
	}
	return fd, nil
}

// readlinkAt returns the target of the symlink name in dirfd, or "?".
func readlinkAt(dirfd int, name string) string {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(dirfd, name, buf)
	if err != nil {
		return "?"
	}
	return string(buf[:n])
}

// removeAt removes name in dirfd and, if it is a directory, everything in
// it, without following symbolic links. A missing name is not an error.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	if err := emptyDirAt(dirfd, name, name, nil); err != nil {
		return err
	}
	if err := unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR); err != nil && !errors.Is(err, unix.ENOENT) {
		return &os.PathError{Op: "remove", Path: name, Err: err}
	}
	return nil
}

// emptyDirAt removes the contents of the directory name in dirfd, whose
// path from the destination is rel. If keep is not nil it is asked about
// each entry by its path from the destination: an entry it keeps is left
// alone, except that a kept directory is emptied in turn with the same keep.
func emptyDirAt(dirfd int, name, rel string, keep func(rel string) bool) error {
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("read directory %q: %w", rel, err)
	}
	for _, n := range names {
		child := joinName(rel, n)
		if keep == nil || !keep(child) {
			if err := removeAt(fd, n); err != nil {
				return err
			}
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstatat(fd, n, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "stat", Path: child, Err: err}
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			if err := emptyDirAt(fd, n, child, keep); err != nil {
				return err
			}
		}
	}
	return nil
}
