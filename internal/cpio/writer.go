package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// blockSize is the unit the finished archive is padded to, as GNU cpio
// does; the kernel skips the zero padding between concatenated archives.
const blockSize = 512

// errClosed marks a Writer that has been closed.
var errClosed = errors.New("cpio: write to closed Writer")

// Writer writes a newc archive to an underlying io.Writer: for each entry,
// WriteHeader and then, for a regular file, exactly Header.Size bytes of body
// through Write; finally Close.
//
// The output is a function of the headers and bodies alone. The Writer
// numbers inodes 1, 2, 3... in the order entries are written (the names of
// one file written by WriteHardLinked share one number), writes a link
// count of 2 for directories, the number of names for hard-linked files
// and 1 for everything else, and zero for the device the entry lives on.
// A link count of 1 means the kernel never takes two entries for hard links
// of each other, and it forgets inode numbers at each end-of-archive entry,
// so archives concatenated into one initrd do not clash. The Writer does not check that parent directories come before their
// contents (the kernel needs them to) or that names are unique (the kernel
// keeps the last).
//
// Errors from the underlying writer, and a body shorter than its header
// promised, are sticky: every later call returns the same error, because
// the archive is broken. A header refused by WriteHeader is not: nothing was
// written, and the caller may go on with the next entry.
//
// A Writer is not safe for concurrent use.
type Writer struct {
	w         io.Writer
	ino       uint32 // inode number of the latest entry
	name      string // latest entry, for messages
	size      int64  // body size of the latest entry
	remaining int64  // body bytes the latest entry still expects
	written   int64  // bytes written to w
	buf       []byte // scratch for one header record
	err       error  // sticky
}

// NewWriter returns a Writer that writes an archive to w. It does not buffer
// bodies: wrap w in a bufio.Writer when it is costly to write to.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// WriteHeader starts a new entry described by h. The previous entry's body
// must be complete. For a symlink it also writes the body, h.Linkname; for a
// regular file the caller writes h.Size bytes of body next.
//
// The header is refused, with an error wrapping ErrHeader, if its name is
// empty, contains NUL or a ".." component, or is too long; if its mode has
// an unsupported type; if ModTime or Size do not fit newc's 32-bit fields;
// if a type other than a regular file has a body; or if a symlink's target
// is empty, contains NUL, or is longer than MaxLinknameLen.
func (w *Writer) WriteHeader(h *Header) error {
	return w.WriteHardLinked(h, nil)
}

// WriteHardLinked starts a regular file that also has the names in others
// (hard links of it), the way GNU cpio writes them in newc: one header for
// each name in others, then one for h, all with the same inode number and
// a link count of 1+len(others), and only the last with a body; the caller
// writes h.Size bytes of body next, as after WriteHeader. Each of others
// gets h's mode, owner and ModTime. The kernel and GNU cpio create the file
// at the first name, link the later names to it and fill it from the last.
// All names must be in the archive's directories by then, so write the
// group where its last name comes in the walk.
//
// With no others it is WriteHeader. Otherwise h must be a regular file, and
// h and every name in others are checked as WriteHeader checks them; when
// anything is refused nothing is written.
func (w *Writer) WriteHardLinked(h *Header, others []string) error {
	if w.err != nil {
		return w.err
	}
	if err := w.checkBodyDone(); err != nil {
		return err
	}
	e, err := validate(h)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrHeader, h.Name, err)
	}
	names := make([]string, 0, len(others))
	if len(others) > 0 {
		if h.Mode.Type() != 0 {
			return fmt.Errorf("%w: %q: hard links of a %s (only regular files)", ErrHeader, h.Name, typeName(h.Mode))
		}
		if len(others) >= 1<<32-1 {
			return fmt.Errorf("%w: %q: more hard links than newc can count", ErrHeader, h.Name)
		}
		for _, o := range others {
			name, err := cleanName(o, h.Mode)
			if err != nil {
				return fmt.Errorf("%w: hard link %q of %q: %v", ErrHeader, o, h.Name, err)
			}
			names = append(names, name)
		}
	}
	if w.ino == 1<<32-1 {
		return fmt.Errorf("%w: %q: more entries than newc inode numbers", ErrHeader, h.Name)
	}
	ino := w.ino + 1
	nlink := uint32(1 + len(names))
	if h.Mode.IsDir() {
		nlink = 2
	}
	mtime := uint32(h.ModTime)
	b := w.buf[:0]
	for _, name := range names {
		b = w.appendPad(b, int64(len(b)))
		b = appendHeader(b, ino, e.mode, h.UID, h.GID, nlink, mtime, 0, 0, 0, name)
	}
	b = w.appendPad(b, int64(len(b)))
	b = appendHeader(b, ino, e.mode, h.UID, h.GID, nlink, mtime, e.size, h.Rdevmajor, h.Rdevminor, e.name)
	if e.linkname != "" {
		b = append(b, e.linkname...)
		b = appendZeros(b, padLen(int64(len(e.linkname))))
	}
	w.buf = b
	if err := w.write(b); err != nil {
		return err
	}
	w.ino = ino
	w.name = e.name
	w.size = h.Size
	w.remaining = 0
	if e.linkname == "" {
		w.remaining = int64(e.size)
	}
	return nil
}

// Write writes body bytes of the current entry. Writing more than the
// header's Size writes what fits and returns an error wrapping
// ErrWriteTooLong.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	if int64(n) > w.remaining {
		n = int(w.remaining)
	}
	if n > 0 {
		m, err := w.w.Write(p[:n])
		w.remaining -= int64(m)
		w.written += int64(m)
		if err == nil && m < n {
			err = io.ErrShortWrite
		}
		if err != nil {
			w.err = fmt.Errorf("cpio: writing body of %q: %w", w.name, err)
			return m, w.err
		}
	}
	if n < len(p) {
		return n, fmt.Errorf("%w: %q has a body of %d bytes", ErrWriteTooLong, w.name, w.size)
	}
	return n, nil
}

// Close completes the archive: it checks the last body is complete, writes
// the end-of-archive entry "TRAILER!!!" and pads the archive with zeros to a
// multiple of 512 bytes. It does not close the underlying writer. Closing a
// closed Writer does nothing.
func (w *Writer) Close() error {
	if errors.Is(w.err, errClosed) {
		return nil
	}
	if w.err != nil {
		return w.err
	}
	if err := w.checkBodyDone(); err != nil {
		return err
	}
	b := w.appendPad(w.buf[:0], 0)
	b = appendHeader(b, 0, 0, 0, 0, 1, 0, 0, 0, 0, trailer)
	total := w.written + int64(len(b))
	b = appendZeros(b, -total&(blockSize-1))
	w.buf = b
	if err := w.write(b); err != nil {
		return err
	}
	w.err = errClosed
	return nil
}

// AddDir writes a directory entry with permission bits perm and ModTime 0.
func (w *Writer) AddDir(name string, perm fs.FileMode, uid, gid uint32) error {
	return w.WriteHeader(&Header{Name: name, Mode: fs.ModeDir | perm, UID: uid, GID: gid})
}

// AddFile writes a regular file entry with permission bits perm, body data
// and ModTime 0.
func (w *Writer) AddFile(name string, perm fs.FileMode, uid, gid uint32, data []byte) error {
	if perm.Type() != 0 {
		return fmt.Errorf("%w: %q: AddFile with file type %v", ErrHeader, name, perm.Type())
	}
	if err := w.WriteHeader(&Header{Name: name, Mode: perm, UID: uid, GID: gid, Size: int64(len(data))}); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// AddSymlink writes a symlink entry pointing at target, with permission bits
// 0777 (what Linux gives every symlink) and ModTime 0.
func (w *Writer) AddSymlink(name, target string, uid, gid uint32) error {
	return w.WriteHeader(&Header{Name: name, Mode: fs.ModeSymlink | 0o777, UID: uid, GID: gid, Linkname: target})
}

// checkBodyDone fails, stickily, if the current entry's body is short.
func (w *Writer) checkBodyDone() error {
	if w.remaining > 0 {
		w.err = fmt.Errorf("cpio: %q: body is %d bytes short of its size %d", w.name, w.remaining, w.size)
		return w.err
	}
	return nil
}

// appendPad appends the zeros that align the end of the previous entry,
// pending bytes after what was written so far.
func (w *Writer) appendPad(b []byte, pending int64) []byte {
	return appendZeros(b, padLen(w.written+pending))
}

func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.written += int64(n)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = fmt.Errorf("cpio: writing archive: %w", err)
		return w.err
	}
	return nil
}

// entry holds the fields of a header as they will be written.
type entry struct {
	name     string
	mode     uint32
	size     uint32
	linkname string
}

// validate checks that h can be written and returns its encoded fields.
func validate(h *Header) (entry, error) {
	var e entry
	var err error
	if e.name, err = cleanName(h.Name, h.Mode); err != nil {
		return e, err
	}
	if e.mode, err = unixMode(h.Mode); err != nil {
		return e, err
	}
	if h.ModTime < 0 || h.ModTime > MaxModTime {
		return e, fmt.Errorf("modification time %d is outside newc's range 0 to %d", h.ModTime, int64(MaxModTime))
	}
	switch t := h.Mode.Type(); {
	case t == 0:
		if h.Size < 0 || h.Size > MaxSize {
			return e, fmt.Errorf("size %d is outside newc's range 0 to %d (4 GiB - 1)", h.Size, int64(MaxSize))
		}
		e.size = uint32(h.Size)
	case t == fs.ModeSymlink:
		if err := checkLinkname(h.Linkname); err != nil {
			return e, err
		}
		if h.Size != 0 && h.Size != int64(len(h.Linkname)) {
			return e, fmt.Errorf("symlink size %d differs from its target length %d", h.Size, len(h.Linkname))
		}
		e.linkname = h.Linkname
		e.size = uint32(len(h.Linkname))
	default:
		if h.Size != 0 {
			return e, fmt.Errorf("%s has size %d; only regular files have a body", typeName(h.Mode), h.Size)
		}
	}
	if h.Linkname != "" && h.Mode.Type() != fs.ModeSymlink {
		return e, fmt.Errorf("linkname %q on a non-symlink (write hard links with WriteHardLinked)", h.Linkname)
	}
	return e, nil
}

// checkLinkname reports whether target is a symlink target Linux accepts.
func checkLinkname(target string) error {
	switch {
	case target == "":
		return errors.New("symlink target is empty")
	case len(target) > MaxLinknameLen:
		return fmt.Errorf("symlink target is %d bytes long, longer than %d", len(target), MaxLinknameLen)
	}
	for i := 0; i < len(target); i++ {
		if target[i] == 0 {
			return fmt.Errorf("symlink target %q contains a NUL byte", target)
		}
	}
	return nil
}

// appendHeader appends a newc header for name, the name with its NUL, and the
// zeros that align what follows.
func appendHeader(b []byte, ino, mode, uid, gid, nlink, mtime, size, rmajor, rminor uint32, name string) []byte {
	start := len(b)
	b = append(b, magic...)
	for _, v := range [fieldCount]uint32{
		ino, mode, uid, gid, nlink, mtime, size,
		0, 0, // device of the archived file: never recorded, for reproducibility
		rmajor, rminor,
		uint32(len(name) + 1),
		0, // check: unused by newc
	} {
		b = appendHex(b, v)
	}
	b = append(b, name...)
	b = append(b, 0)
	return appendZeros(b, padLen(int64(len(b)-start)))
}

func appendZeros(b []byte, n int64) []byte {
	if n <= 0 {
		return b
	}
	return append(b, make([]byte, n)...)
}

// appendHex appends v as eight upper-case hex digits, as GNU cpio and the
// kernel's gen_init_cpio write them.
func appendHex(b []byte, v uint32) []byte {
	const digits = "0123456789ABCDEF"
	for shift := 28; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}
