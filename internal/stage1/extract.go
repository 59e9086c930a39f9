package stage1

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wwboot/wwboot/internal/cpio"
	"github.com/wwboot/wwboot/internal/nodeclient"
)

// Extractor unpacks boot archives into a directory as the kernel unpacks
// an initramfs: gzip, zstd or plain newc cpio, several archives one after
// the other (an overlay is a shared and a per-node archive), a later
// entry replacing an earlier one of the same name.
//
// Nothing is ever written outside the directory: every name is resolved
// through an os.Root, so a symbolic link in the archive (or already in
// the directory) that leads out of it makes the entry an error instead.
type Extractor struct {
	// Owners sets entries' owners (needs root); off, files belong to
	// whoever extracts.
	Owners bool
}

// Stats counts what was extracted.
type Stats struct {
	Entries int
	Bytes   int64 // file content
}

// Extract reads the compressed or plain archives in r into dir. Like
// the kernel, it takes gzip members, zstd frames and plain archives one
// after the other, with zero padding between them.
func (x *Extractor) Extract(r io.Reader, dir string) (Stats, error) {
	var st Stats
	root, err := os.OpenRoot(dir)
	if err != nil {
		return st, err
	}
	defer root.Close()
	u := &unpacker{x: x, root: root, links: map[uint32]string{}}
	current := 0
	err = nodeclient.Walk(r, nodeclient.WalkOptions{}, func(archive int, h *cpio.Header, body io.Reader) error {
		if archive != current {
			current = archive
			clear(u.links) // inode numbers are per archive, as for the kernel
		}
		nb, err := u.entry(h, body)
		if err != nil {
			return fmt.Errorf("%s: %w", h.Name, err)
		}
		st.Entries++
		st.Bytes += nb
		return nil
	})
	if err != nil {
		return st, err
	}
	return u.finish(st)
}

type unpacker struct {
	x     *Extractor
	root  *os.Root
	links map[uint32]string // inode -> first name, for hard links
	dirs  []*cpio.Header    // times set last, as later entries change them
}

func (u *unpacker) finish(st Stats) (Stats, error) {
	for i := len(u.dirs) - 1; i >= 0; i-- {
		h := u.dirs[i]
		_ = u.at(h.Name, func(fd int, base string) error {
			t := unix.NsecToTimespec(time.Unix(h.ModTime, 0).UnixNano())
			return unix.UtimesNanoAt(fd, base, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW)
		})
	}
	return st, nil
}

// at runs fn with a descriptor of name's parent directory, opened
// through the root, and name's last component.
func (u *unpacker) at(name string, fn func(dirfd int, base string) error) error {
	dir, base := path.Split(name)
	if dir == "" {
		dir = "."
	}
	d, err := u.root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return fn(int(d.Fd()), base)
}

func (u *unpacker) entry(h *cpio.Header, body io.Reader) (int64, error) {
	if h.Name == "." {
		if u.x.Owners {
			return 0, u.at(".", func(fd int, _ string) error { return unix.Fchownat(fd, ".", int(h.UID), int(h.GID), 0) })
		}
		return 0, nil
	}
	// Replace what is there unless both are directories.
	if st, err := u.root.Lstat(h.Name); err == nil {
		if !(st.IsDir() && h.Mode.IsDir()) {
			if err := u.root.Remove(h.Name); err != nil {
				return 0, fmt.Errorf("replace: %w", err)
			}
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	var n int64
	mode := h.Mode
	switch {
	case mode.IsDir():
		if err := u.root.Mkdir(h.Name, mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
			return 0, err
		}
		u.dirs = append(u.dirs, h)
	case mode.IsRegular():
		if first, ok := u.links[h.Ino]; ok && h.Nlink > 1 {
			if err := u.hardlink(first, h.Name); err != nil {
				return 0, err
			}
			if h.Size == 0 {
				return 0, u.meta(h)
			}
		} else if h.Nlink > 1 {
			u.links[h.Ino] = h.Name
		}
		f, err := u.root.OpenFile(h.Name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode.Perm())
		if err != nil {
			return 0, err
		}
		n, err = io.Copy(f, body)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return n, err
		}
	case mode&fs.ModeSymlink != 0:
		if err := u.at(h.Name, func(fd int, base string) error { return unix.Symlinkat(h.Linkname, fd, base) }); err != nil {
			return 0, err
		}
	case mode&(fs.ModeDevice|fs.ModeNamedPipe) != 0:
		typ := uint32(unix.S_IFIFO)
		if mode&fs.ModeDevice != 0 {
			typ = unix.S_IFBLK
			if mode&fs.ModeCharDevice != 0 {
				typ = unix.S_IFCHR
			}
		}
		dev := unix.Mkdev(h.Rdevmajor, h.Rdevminor)
		if err := u.at(h.Name, func(fd int, base string) error {
			return unix.Mknodat(fd, base, typ|uint32(mode.Perm()), int(dev))
		}); err != nil {
			return 0, err
		}
	default:
		return 0, nil // sockets: nothing to create
	}
	return n, u.meta(h)
}

func (u *unpacker) hardlink(first, name string) error {
	return u.at(first, func(ofd int, obase string) error {
		return u.at(name, func(nfd int, nbase string) error { return unix.Linkat(ofd, obase, nfd, nbase, 0) })
	})
}

// meta sets owner, the mode bits umask and chown take away, and the
// modification time of a non-directory.
func (u *unpacker) meta(h *cpio.Header) error {
	return u.at(h.Name, func(fd int, base string) error {
		if u.x.Owners {
			if err := unix.Fchownat(fd, base, int(h.UID), int(h.GID), unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		if h.Mode&fs.ModeSymlink == 0 {
			if err := unix.Fchmodat(fd, base, unixPerm(h.Mode), 0); err != nil {
				return err
			}
		}
		if h.Mode.IsDir() {
			return nil
		}
		t := unix.NsecToTimespec(time.Unix(h.ModTime, 0).UnixNano())
		return unix.UtimesNanoAt(fd, base, []unix.Timespec{t, t}, unix.AT_SYMLINK_NOFOLLOW)
	})
}

func unixPerm(m fs.FileMode) uint32 {
	p := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		p |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		p |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		p |= unix.S_ISVTX
	}
	return p
}
