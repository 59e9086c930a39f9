package cpio

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// fieldNames names the header fields after the magic, in order, for messages.
const fieldNames = "ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check"

// Reader reads a newc archive entry by entry: Next returns each header, and
// Read the body of the current entry.
//
// The Reader accepts exactly what the Writer can write back: it refuses bad
// magic numbers, fields that are not eight hex digits, names without their
// NUL terminator or with NUL, "..", or longer than MaxNameLen, unknown file
// types, bodies on entries other than regular files and symlinks, symlink
// targets the Writer would refuse, and input that ends before the trailer.
// Such errors name the byte offset in the archive where the problem lies and
// wrap ErrFormat, or io.ErrUnexpectedEOF for truncation, and are sticky.
// The unused check field and the padding are not inspected, and the
// padding after the end-of-archive entry is not required.
//
// Names are reported cleaned as the Writer stores them, so a name in the
// archive cannot climb out of the directory it is unpacked into; a symlink
// in the archive still can, and code that unpacks must not follow them.
//
// A Reader never holds more than one name and one symlink target in memory
// and allocates nothing according to a body's declared size. It buffers its
// input, so it may read past the end-of-archive entry.
//
// A Reader is not safe for concurrent use.
type Reader struct {
	r         *bufio.Reader
	off       int64 // archive offset of the next byte r returns
	size      int64 // body size of the current entry
	remaining int64 // unread body bytes of the current entry
	pad       int64 // zeros after the current body
	name      string
	err       error // sticky; io.EOF after the trailer
	hdr       [headerLen]byte
}

// NewReader returns a Reader that reads an archive from r.
func NewReader(r io.Reader) *Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	return &Reader{r: br}
}

// Next skips what is left of the current entry and returns the next header.
// It returns io.EOF after the end-of-archive entry, and an error as
// described on Reader for malformed input.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	h, err := r.next()
	if err != nil {
		r.err = err
		r.remaining, r.pad = 0, 0
		return nil, err
	}
	return h, nil
}

func (r *Reader) next() (*Header, error) {
	if err := r.skip(r.remaining + r.pad); err != nil {
		return nil, err
	}
	r.size, r.remaining, r.pad = 0, 0, 0

	start := r.off
	if err := r.readFull(r.hdr[:], "header"); err != nil {
		return nil, err
	}
	if !bytes.Equal(r.hdr[:len(magic)], []byte(magic)) {
		return nil, r.formatErr(start, "bad magic %q, want %q (newc)", r.hdr[:len(magic)], magic)
	}
	var f [fieldCount]uint32
	for i := range f {
		at := len(magic) + 8*i
		v, ok := parseHex(r.hdr[at : at+8])
		if !ok {
			return nil, r.formatErr(start+int64(at), "%s field %q is not 8 hex digits", strings.Fields(fieldNames)[i], r.hdr[at:at+8])
		}
		f[i] = v
	}
	h := &Header{
		Ino:       f[0],
		UID:       f[2],
		GID:       f[3],
		Nlink:     f[4],
		ModTime:   int64(f[5]),
		Devmajor:  f[7],
		Devminor:  f[8],
		Rdevmajor: f[9],
		Rdevminor: f[10],
	}
	namesize := f[11]
	nameAt := r.off
	if namesize < 2 || namesize > MaxNameLen+1 {
		return nil, r.formatErr(start+int64(len(magic))+8*11, "namesize %d is outside 2 to %d", namesize, MaxNameLen+1)
	}
	name := make([]byte, namesize)
	if err := r.readFull(name, "name"); err != nil {
		return nil, err
	}
	if name[namesize-1] != 0 {
		return nil, r.formatErr(nameAt+int64(namesize)-1, "name %.40q is not NUL-terminated", name)
	}
	name = name[:namesize-1]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		return nil, r.formatErr(nameAt+int64(i), "name %q contains a NUL byte", name)
	}
	size := int64(f[6])
	sizeAt := start + int64(len(magic)) + 8*6
	if string(name) == trailer {
		// The trailer's padding is not required: nothing follows it.
		if size != 0 {
			return nil, r.formatErr(sizeAt, "end-of-archive entry has size %d", size)
		}
		return nil, io.EOF
	}
	if err := r.skip(padLen(headerLen + int64(namesize))); err != nil {
		return nil, err
	}
	// The trailer's mode is 0, so the mode is checked only now.
	var err error
	if h.Mode, err = fileMode(f[1]); err != nil {
		return nil, r.formatErr(start+int64(len(magic))+8, "%v", err)
	}
	if h.Name, err = cleanName(string(name), h.Mode); err != nil {
		return nil, r.formatErr(nameAt, "%v", err)
	}
	r.name = h.Name

	switch h.Mode.Type() {
	case 0:
		h.Size = size
		r.size, r.remaining, r.pad = size, size, padLen(size)
	case fs.ModeSymlink:
		if size == 0 || size > MaxLinknameLen {
			return nil, r.formatErr(sizeAt, "symlink %q has a target of %d bytes, outside 1 to %d", h.Name, size, MaxLinknameLen)
		}
		bodyAt := r.off
		target := make([]byte, size)
		if err := r.readFull(target, "symlink target"); err != nil {
			return nil, err
		}
		if i := bytes.IndexByte(target, 0); i >= 0 {
			return nil, r.formatErr(bodyAt+int64(i), "symlink %q target %q contains a NUL byte", h.Name, target)
		}
		h.Linkname = string(target)
		r.pad = padLen(size)
	default:
		if size != 0 {
			return nil, r.formatErr(sizeAt, "%s %q has size %d; only regular files and symlinks have a body", typeName(h.Mode), h.Name, size)
		}
	}
	return h, nil
}

// Read reads from the body of the current entry. It returns io.EOF at the
// end of the body, and an error wrapping io.ErrUnexpectedEOF if the archive
// ends first.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.remaining == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := r.r.Read(p)
	r.off += int64(n)
	r.remaining -= int64(n)
	switch {
	case errors.Is(err, io.EOF) && r.remaining > 0:
		r.err = fmt.Errorf("cpio: offset %d: archive ends %d bytes into the body of %q: %w", r.off, r.size-r.remaining, r.name, io.ErrUnexpectedEOF)
		r.remaining = 0
		return n, r.err
	case errors.Is(err, io.EOF):
		return n, nil
	case err != nil:
		r.err = fmt.Errorf("cpio: reading body of %q at offset %d: %w", r.name, r.off, err)
		r.remaining = 0
		return n, r.err
	}
	return n, nil
}

// readFull fills b from the archive, reporting truncation at the offset
// where the input ended.
func (r *Reader) readFull(b []byte, what string) error {
	n, err := io.ReadFull(r.r, b)
	r.off += int64(n)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("cpio: offset %d: archive ends inside a %s (end-of-archive entry missing): %w", r.off, what, io.ErrUnexpectedEOF)
	case err != nil:
		return fmt.Errorf("cpio: reading %s at offset %d: %w", what, r.off, err)
	}
	return nil
}

// skip discards n bytes of the archive.
func (r *Reader) skip(n int64) error {
	if n == 0 {
		return nil
	}
	m, err := io.CopyN(io.Discard, r.r, n)
	r.off += m
	switch {
	case errors.Is(err, io.EOF):
		return fmt.Errorf("cpio: offset %d: archive ends %d bytes early (end-of-archive entry missing): %w", r.off, n-m, io.ErrUnexpectedEOF)
	case err != nil:
		return fmt.Errorf("cpio: reading at offset %d: %w", r.off, err)
	}
	return nil
}

func (r *Reader) formatErr(off int64, format string, args ...any) error {
	return fmt.Errorf("cpio: offset %d: %w: %s", off, ErrFormat, fmt.Sprintf(format, args...))
}

// parseHex decodes eight hex digits of either case.
func parseHex(b []byte) (uint32, bool) {
	var v uint32
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}
