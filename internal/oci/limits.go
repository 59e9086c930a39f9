package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Limits bound what an import may unpack, so that a small hostile source
// (a sparse entry that expands to terabytes, millions of empty files, a
// directory chain thousands deep) is refused instead of filling the disk
// or leaving an image that cannot be built. A zero field takes its
// default; the defaults are far above what a real operating system image
// holds.
type Limits struct {
	// MaxSize is the total logical size in bytes of the regular files
	// written, summed over all layers (holes count: a sparse file counts
	// for its apparent size, although it is written sparse).
	MaxSize int64
	// MaxEntries is the number of archive entries (or directory entries
	// copied), summed over all layers.
	MaxEntries int64
	// MaxPathLength is the length in bytes of an entry's path in the
	// image ("/usr/bin/sh" is 11).
	MaxPathLength int
	// MaxDepth is the number of components of an entry's path in the
	// image ("/usr/bin/sh" is 3).
	MaxDepth int
}

// Default limits.
const (
	DefaultMaxSize       = 64 << 30
	DefaultMaxEntries    = 10_000_000
	DefaultMaxPathLength = 4096
	DefaultMaxDepth      = 256
)

// withDefaults returns l with its zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = DefaultMaxSize
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = DefaultMaxEntries
	}
	if l.MaxPathLength <= 0 {
		l.MaxPathLength = DefaultMaxPathLength
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Which limit a LimitError is about.
const (
	LimitSize       = "size"
	LimitEntries    = "entries"
	LimitPathLength = "path length"
	LimitDepth      = "depth"
	// LimitPathMax is the system's own limit on a path (PATH_MAX): an
	// entry whose path under the destination would be longer could be
	// written (one directory at a time) but not read back by path, and so
	// the image could not be built.
	LimitPathMax = "PATH_MAX"
)

// LimitError refuses an entry that passes one of the Limits. The entry's
// name is added by the caller, as for every entry error.
type LimitError struct {
	Limit string // LimitSize, LimitEntries, ...
	Max   int64  // the limit
	Got   int64  // what the entry would make it (at least Max+1)
}

func (e *LimitError) Error() string {
	switch e.Limit {
	case LimitSize:
		return fmt.Sprintf("the files unpacked so far would reach %s, over the import size limit of %s", sizeString(e.Got), sizeString(e.Max))
	case LimitEntries:
		return fmt.Sprintf("more than %d entries, the import limit", e.Max)
	case LimitPathLength:
		return fmt.Sprintf("path is %d bytes long, over the import limit of %d", e.Got, e.Max)
	case LimitDepth:
		return fmt.Sprintf("path is %d directories deep, over the import limit of %d", e.Got, e.Max)
	case LimitPathMax:
		return fmt.Sprintf("path would be %d bytes long where it is written, over the system's limit (PATH_MAX) of %d", e.Got, e.Max)
	}
	return fmt.Sprintf("over the import %s limit of %d", e.Limit, e.Max)
}

// sizeString writes n bytes in the largest binary unit that keeps it
// exact to a tenth.
func sizeString(n int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%d bytes", n)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") + " " + units[i]
}

// budget counts what an import has unpacked against its Limits.
type budget struct {
	Limits
	// destLen is the length of the destination's path, for LimitPathMax.
	destLen int
	entries int64
	size    int64
}

// admit counts one entry whose cleaned relative name is name and checks
// its path, before anything of it is written.
func (b *budget) admit(name string) error {
	b.entries++
	if b.entries > b.MaxEntries {
		return &LimitError{Limit: LimitEntries, Max: b.MaxEntries, Got: b.entries}
	}
	if name == "." {
		return nil
	}
	// The path in the image is "/" + name.
	if n := len(name) + 1; n > b.MaxPathLength {
		return &LimitError{Limit: LimitPathLength, Max: int64(b.MaxPathLength), Got: int64(n)}
	}
	if n := strings.Count(name, "/") + 1; n > b.MaxDepth {
		return &LimitError{Limit: LimitDepth, Max: int64(b.MaxDepth), Got: int64(n)}
	}
	// A path as long as PATH_MAX, its NUL included, is refused by every
	// system call that takes one.
	if n := b.destLen + 1 + len(name); b.destLen > 0 && n >= unix.PathMax {
		return &LimitError{Limit: LimitPathMax, Max: unix.PathMax - 1, Got: int64(n)}
	}
	return nil
}

// reserve checks that n more bytes of regular file content fit, without
// counting them.
func (b *budget) reserve(n int64) error {
	if n > 0 && b.size+n > b.MaxSize {
		return &LimitError{Limit: LimitSize, Max: b.MaxSize, Got: b.size + n}
	}
	return nil
}

// spend counts n bytes of regular file content.
func (b *budget) spend(n int64) error {
	if err := b.reserve(n); err != nil {
		return err
	}
	b.size += n
	return nil
}

// holeBlock is the granularity of hole detection: a block of this many
// zero bytes, aligned in the file, is skipped with a seek rather than
// written, so that it is not allocated. It is the block size of the
// common Linux filesystems.
const holeBlock = 4096

// zeroBlock is what a hole block is compared with. It is never written.
var zeroBlock [holeBlock]byte

// copySparse copies body into f, which is empty, leaving every aligned
// all-zero block of holeBlock bytes as a hole: an archive's sparse entry
// (which archive/tar expands, returning its holes as zeros) or a file
// full of zeros stays small on disk. It checks ctx between blocks of buf,
// so a huge entry can be cancelled in its middle, and counts what it
// copies against the budget. It returns the bytes copied.
func copySparse(ctx context.Context, f *os.File, body io.Reader, buf []byte, b *budget) (int64, error) {
	var off int64 // bytes of body consumed; the file's logical size
	pending := false
	for {
		if err := ctx.Err(); err != nil {
			return off, err
		}
		// Fill buf (short reads would misalign the blocks); the tar
		// reader's io.ErrUnexpectedEOF for a truncated archive stays an
		// error, unlike with io.ReadFull.
		n := 0
		var rerr error
		for n < len(buf) && rerr == nil {
			var m int
			m, rerr = body.Read(buf[n:])
			n += m
		}
		if n > 0 {
			if err := b.spend(int64(n)); err != nil {
				return off, err
			}
			// buf is a multiple of holeBlock and every read but the last
			// fills it, so chunks start aligned in the file.
			for start := 0; start < n; {
				end := min(start+holeBlock, n)
				if bytes.Equal(buf[start:end], zeroBlock[:end-start]) {
					start = end
					pending = true
					continue
				}
				// A run of data blocks is one write.
				for end < n {
					next := min(end+holeBlock, n)
					if bytes.Equal(buf[end:next], zeroBlock[:next-end]) {
						break
					}
					end = next
				}
				if _, err := f.WriteAt(buf[start:end], off+int64(start)); err != nil {
					return off, err
				}
				start = end
				pending = false
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return off, rerr
		}
	}
	if pending {
		// The file ends in a hole: give it its size.
		if err := f.Truncate(off); err != nil {
			return off, err
		}
	}
	return off, nil
}

// isLimit reports whether err refuses an entry for one of the Limits.
func isLimit(err error) bool {
	var le *LimitError
	return errors.As(err, &le)
}

// entrySize is the logical size a header announces for an entry whose
// content is written (regular files), 0 for the others.
func entrySize(hdr *tar.Header) int64 {
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		return hdr.Size
	}
	return 0
}
