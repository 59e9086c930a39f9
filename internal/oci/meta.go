package oci

import (
	"archive/tar"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// paxXattr prefixes the PAX records that carry extended attributes (the
// form GNU tar, docker and go-containerregistry write).
const paxXattr = "SCHILY.xattr."

// checkOwner refuses owners chown(2) cannot represent.
func checkOwner(hdr *tar.Header) error {
	const maxID = 1<<32 - 2 // (uid_t)-1 means "unchanged"
	if hdr.Uid < 0 || hdr.Gid < 0 || int64(hdr.Uid) > maxID || int64(hdr.Gid) > maxID {
		return fmt.Errorf("invalid owner %d:%d", hdr.Uid, hdr.Gid)
	}
	return nil
}

type xattr struct {
	name  string
	value []byte
}

// xattrs returns the extended attributes recorded in hdr, sorted by name.
func xattrs(hdr *tar.Header) []xattr {
	var out []xattr
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, paxXattr); ok && name != "" {
			out = append(out, xattr{name: name, value: []byte(v)})
		}
	}
	slices.SortFunc(out, func(a, b xattr) int { return strings.Compare(a.name, b.name) })
	return out
}

// setMetaFd sets owner, extended attributes and mode, in that order (chown
// clears setuid bits and file capabilities), on the open file fd.
func (x *extractor) setMetaFd(hdr *tar.Header, fd int, name string, mode uint32) error {
	if err := x.chown(hdr, name, func() error { return unix.Fchown(fd, hdr.Uid, hdr.Gid) }); err != nil {
		return err
	}
	for _, xa := range xattrs(hdr) {
		x.xattrErr(name, xa.name, unix.Fsetxattr(fd, xa.name, xa.value, 0))
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return &os.PathError{Op: "chmod", Path: name, Err: err}
	}
	return nil
}

// setMetaAt sets owner, extended attributes, mode (if chmod) and times of
// base in pfd, which may be a symlink (not followed; symlinks have no mode).
func (x *extractor) setMetaAt(hdr *tar.Header, pfd int, base, name string, chmod bool) error {
	if err := x.chown(hdr, name, func() error {
		return unix.Fchownat(pfd, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW)
	}); err != nil {
		return err
	}
	if attrs := xattrs(hdr); len(attrs) > 0 {
		// There is no lsetxattrat; the descriptor's /proc entry names the
		// parent, and lsetxattr does not follow the last element.
		p := fmt.Sprintf("/proc/self/fd/%d/%s", pfd, base)
		for _, xa := range attrs {
			x.xattrErr(name, xa.name, unix.Lsetxattr(p, xa.name, xa.value, 0))
		}
	}
	if chmod {
		// base was just made by mknod, so it is no symlink to follow.
		if err := unix.Fchmodat(pfd, base, uint32(hdr.Mode)&0o7777, 0); err != nil {
			return &os.PathError{Op: "chmod", Path: name, Err: err}
		}
	}
	return setTimesAt(hdr, pfd, base, name)
}

// chown runs do when running as root; otherwise files stay the importing
// user's, which is said once.
func (x *extractor) chown(hdr *tar.Header, name string, do func() error) error {
	if !x.privileged {
		if hdr.Uid != os.Geteuid() || hdr.Gid != os.Getegid() {
			x.warnOnce("chown", "not root: imported files are owned by the importing user, not the owners the source records")
		}
		return nil
	}
	if err := do(); err != nil {
		return &os.PathError{Op: fmt.Sprintf("chown %d:%d", hdr.Uid, hdr.Gid), Path: name, Err: err}
	}
	return nil
}

// xattrErr reports an extended attribute the filesystem refused; the
// import goes on without it. It is said once per attribute name.
func (x *extractor) xattrErr(entry, attr string, err error) {
	if err != nil {
		x.warnOnce("xattr "+attr, "cannot set extended attribute; ignoring it (reported once per attribute)",
			"attr", attr, "entry", entry, "err", err)
	}
}

// setTimesAt sets the access and modification times of base in pfd without
// following a symlink. A time the filesystem cannot store is not an error.
func setTimesAt(hdr *tar.Header, pfd int, base, name string) error {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	ts := []unix.Timespec{
		{Sec: atime.Unix(), Nsec: int64(atime.Nanosecond())},
		{Sec: hdr.ModTime.Unix(), Nsec: int64(hdr.ModTime.Nanosecond())},
	}
	err := unix.UtimesNanoAt(pfd, base, ts, unix.AT_SYMLINK_NOFOLLOW)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.EOVERFLOW) {
		return &os.PathError{Op: "set times", Path: name, Err: err}
	}
	return nil
}
