// Package cpio reads and writes the "newc" cpio format (SVR4 without CRC,
// magic "070701"), the format the Linux kernel unpacks as an initramfs and
// GNU cpio produces with -H newc.
//
// The Writer is reproducible: the bytes it produces depend only on the
// sequence of headers and bodies it is given. It assigns inode numbers itself
// (sequentially from 1), writes link counts by a fixed rule and zero device
// numbers for the containing filesystem, so nothing leaks in from the host the
// archive was built on.
//
// The Reader is strict and safe on hostile input: it refuses anything it
// could not re-write, never panics, and never allocates more than a few
// kilobytes per entry whatever the header fields claim.
//
// Entry names are relative, slash-separated and clean: "./x" and "/x" are
// stored and reported as "x", and names with ".." components or NUL bytes are
// refused by both sides. "." names the root directory of the archive.
package cpio

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
)

const (
	magic      = "070701"
	headerLen  = 110
	trailer    = "TRAILER!!!"
	fieldCount = 13

	// MaxNameLen is the longest entry name, in bytes, without its NUL
	// terminator: the kernel skips entries whose name with the NUL exceeds
	// PATH_MAX (4096).
	MaxNameLen = 4095
	// MaxLinknameLen is the longest symlink target, in bytes. Linux refuses
	// targets of PATH_MAX bytes or more.
	MaxLinknameLen = 4095
	// MaxSize is the largest body newc can describe: its size field is 32 bits.
	MaxSize = 1<<32 - 1
	// MaxModTime is the latest modification time newc can hold (its mtime
	// field is an unsigned 32-bit count of seconds, which ends in 2106).
	MaxModTime = 1<<32 - 1
)

// Unix file type and permission bits as they appear in the mode field.
const (
	modeTypeMask = 0o170000
	modeSocket   = 0o140000
	modeSymlink  = 0o120000
	modeRegular  = 0o100000
	modeBlock    = 0o060000
	modeDir      = 0o040000
	modeChar     = 0o020000
	modeFIFO     = 0o010000
	modeSetuid   = 0o4000
	modeSetgid   = 0o2000
	modeSticky   = 0o1000
	modePerm     = 0o777
	modeAllBits  = modeTypeMask | modeSetuid | modeSetgid | modeSticky | modePerm
)

// ErrFormat is wrapped by the errors the Reader returns for malformed input.
// Truncated input is reported with io.ErrUnexpectedEOF instead.
var ErrFormat = errors.New("cpio: invalid archive")

// ErrHeader is wrapped by the errors Writer.WriteHeader returns for headers
// that newc cannot represent or that this package refuses to write.
var ErrHeader = errors.New("cpio: invalid header")

// ErrWriteTooLong is wrapped by the error Writer.Write returns when more
// bytes are written than the current header's Size.
var ErrWriteTooLong = errors.New("cpio: write too long")

// Header describes one archive entry.
//
// The Writer uses Name, Mode, UID, GID, ModTime, Size, Linkname, Rdevmajor
// and Rdevminor. Ino, Nlink, Devmajor and Devminor are identity fields the
// Reader reports from the archive (GNU cpio uses them to mark hard links);
// the Writer ignores them and writes its own reproducible values.
type Header struct {
	// Name is the entry's path, relative and slash-separated.
	Name string
	// Mode holds the file type (0, fs.ModeDir, fs.ModeSymlink,
	// fs.ModeNamedPipe, fs.ModeSocket, fs.ModeDevice, or
	// fs.ModeDevice|fs.ModeCharDevice) and the permission bits including
	// fs.ModeSetuid, fs.ModeSetgid and fs.ModeSticky.
	Mode fs.FileMode
	// UID and GID own the entry.
	UID, GID uint32
	// ModTime is seconds since the Unix epoch, 0 to MaxModTime. Reproducible
	// builds pass 0 or a fixed time.
	ModTime int64
	// Size is the body length of a regular file, 0 to MaxSize. Every other
	// type has no body of its own: a symlink's body is its Linkname, written
	// and read by the Writer and Reader themselves, and the Reader reports
	// Size 0 for it.
	Size int64
	// Linkname is a symlink's target.
	Linkname string
	// Rdevmajor and Rdevminor are the device numbers of a character or block
	// device node.
	Rdevmajor, Rdevminor uint32

	// Ino is the entry's inode number, as recorded in the archive.
	Ino uint32
	// Nlink is the entry's link count, as recorded in the archive.
	Nlink uint32
	// Devmajor and Devminor identify the device the entry was archived from.
	Devmajor, Devminor uint32
}

// cleanName returns name in the form stored in archives: relative, without
// "." or empty components, without a trailing slash. It refuses names that
// could escape the directory an archive is unpacked into, and names the
// format cannot hold.
func cleanName(name string, mode fs.FileMode) (string, error) {
	if name == "" {
		return "", errors.New("empty name")
	}
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name %q contains a NUL byte", name)
	}
	for rest := name; rest != ""; {
		part, after, _ := strings.Cut(rest, "/")
		if part == ".." {
			return "", fmt.Errorf("name %q contains a \"..\" component", name)
		}
		rest = after
	}
	clean := path.Clean(strings.TrimLeft(name, "/"))
	if len(clean) > MaxNameLen {
		return "", fmt.Errorf("name %.40q... is %d bytes long, longer than %d", clean, len(clean), MaxNameLen)
	}
	if clean == trailer {
		return "", fmt.Errorf("name %q is reserved for the end-of-archive marker", name)
	}
	if clean == "." && !mode.IsDir() {
		return "", fmt.Errorf("name %q denotes the archive root, which must be a directory", name)
	}
	return clean, nil
}

// unixMode converts m to the mode field of a newc header.
func unixMode(m fs.FileMode) (uint32, error) {
	const known = fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky
	if extra := m &^ known; extra != 0 {
		return 0, fmt.Errorf("mode %v has bits newc cannot hold (%v)", m, extra)
	}
	var u uint32
	switch m.Type() {
	case 0:
		u = modeRegular
	case fs.ModeDir:
		u = modeDir
	case fs.ModeSymlink:
		u = modeSymlink
	case fs.ModeNamedPipe:
		u = modeFIFO
	case fs.ModeSocket:
		u = modeSocket
	case fs.ModeDevice:
		u = modeBlock
	case fs.ModeDevice | fs.ModeCharDevice:
		u = modeChar
	default:
		return 0, fmt.Errorf("mode %v: unsupported file type", m)
	}
	u |= uint32(m & fs.ModePerm)
	if m&fs.ModeSetuid != 0 {
		u |= modeSetuid
	}
	if m&fs.ModeSetgid != 0 {
		u |= modeSetgid
	}
	if m&fs.ModeSticky != 0 {
		u |= modeSticky
	}
	return u, nil
}

// fileMode converts the mode field of a newc header to an fs.FileMode.
func fileMode(u uint32) (fs.FileMode, error) {
	if u&^modeAllBits != 0 {
		return 0, fmt.Errorf("mode %#o has bits outside the Unix mode", u)
	}
	var m fs.FileMode
	switch u & modeTypeMask {
	case modeRegular:
	case modeDir:
		m = fs.ModeDir
	case modeSymlink:
		m = fs.ModeSymlink
	case modeFIFO:
		m = fs.ModeNamedPipe
	case modeSocket:
		m = fs.ModeSocket
	case modeBlock:
		m = fs.ModeDevice
	case modeChar:
		m = fs.ModeDevice | fs.ModeCharDevice
	default:
		return 0, fmt.Errorf("mode %#o has an unknown file type", u)
	}
	m |= fs.FileMode(u & modePerm)
	if u&modeSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if u&modeSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if u&modeSticky != 0 {
		m |= fs.ModeSticky
	}
	return m, nil
}

// padLen returns how many zero bytes follow n bytes to reach a multiple of 4.
func padLen(n int64) int64 { return -n & 3 }

// typeName names the file type of m, for messages.
func typeName(m fs.FileMode) string {
	switch m.Type() {
	case 0:
		return "regular file"
	case fs.ModeDir:
		return "directory"
	case fs.ModeSymlink:
		return "symlink"
	case fs.ModeNamedPipe:
		return "fifo"
	case fs.ModeSocket:
		return "socket"
	case fs.ModeDevice:
		return "block device"
	case fs.ModeDevice | fs.ModeCharDevice:
		return "character device"
	}
	return m.Type().String()
}
