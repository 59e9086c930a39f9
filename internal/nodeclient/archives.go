// Package nodeclient is what the node programs (wwclient and two-stage
// boot's stage one) share to talk to the daemon: the HTTP client
// (privileged source port, stall timeout, sha256 check, resume) and the
// reader of boot archives. It imports only format and contract packages,
// so the node programs stay small static binaries.
package nodeclient

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
)

// ErrTooLarge marks archives that unpack to more than WalkOptions.MaxBytes.
var ErrTooLarge = errors.New("archives larger than the limit")

// WalkOptions tune Walk.
type WalkOptions struct {
	// MaxBytes bounds the bytes decompressed from compressed parts, all
	// together (a bomb of zero padding too); 0 is no bound. Plain input
	// is the caller's to bound.
	MaxBytes int64
	// Empty accepts an input without any archive; otherwise it is
	// io.ErrUnexpectedEOF.
	Empty bool
}

// Walk reads boot archives as the kernel unpacks an initramfs: gzip
// members, zstd frames and plain newc archives one after the other, with
// zero padding between them and between the archives inside one
// compressed stream. It calls fn for every entry with the number of its
// archive (from 1; inode numbers, and so hard links, are per archive)
// and the entry's content, which fn may leave unread. An error of fn
// ends the walk and is returned as it is.
func Walk(r io.Reader, o WalkOptions, fn func(archive int, h *cpio.Header, body io.Reader) error) error {
	w := &walker{fn: fn, left: o.MaxBytes, bounded: o.MaxBytes > 0}
	br := bufio.NewReaderSize(r, 256<<10)
	for n := 0; ; n++ {
		if err := skipZeros(br); err == io.EOF && (n > 0 || o.Empty) {
			return nil
		} else if err != nil {
			return fmt.Errorf("archive %d: %w", w.archive+1, noEOF(err))
		}
		magic, err := br.Peek(4)
		if err != nil {
			return fmt.Errorf("archive %d: %w", w.archive+1, noEOF(err))
		}
		format := compress.Detect(magic)
		if format == compress.None {
			if err := w.read(br); err != nil {
				return err
			}
			continue
		}
		zr, err := compress.NewReader(br, format)
		if err != nil {
			return fmt.Errorf("archive %d: %w", w.archive+1, err)
		}
		// One gzip member at a time, so that padding may follow it; the
		// zstd decoder reads ahead, so it takes every frame left.
		if ms, ok := zr.(interface{ Multistream(bool) }); ok {
			ms.Multistream(false)
		}
		in := bufio.NewReaderSize(w.limit(zr), 256<<10)
		for {
			if err := skipZeros(in); err == io.EOF {
				break
			} else if err != nil {
				zr.Close()
				return fmt.Errorf("archive %d: %w", w.archive+1, err)
			}
			if err := w.read(in); err != nil {
				zr.Close()
				return err
			}
		}
		zr.Close()
	}
}

type walker struct {
	fn      func(int, *cpio.Header, io.Reader) error
	archive int
	bounded bool
	left    int64
}

// limit counts what r gives against MaxBytes.
func (w *walker) limit(r io.Reader) io.Reader {
	if !w.bounded {
		return r
	}
	return &limited{r: r, w: w}
}

type limited struct {
	r io.Reader
	w *walker
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if l.w.left -= int64(n); l.w.left < 0 {
		return 0, ErrTooLarge
	}
	return n, err
}

// read reads one archive: entries up to its trailer.
func (w *walker) read(in *bufio.Reader) error {
	w.archive++
	cr := cpio.NewReader(in)
	for {
		h, err := cr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive %d: %w", w.archive, err)
		}
		if err := w.fn(w.archive, h, cr); err != nil {
			return err
		}
	}
}

// skipZeros discards zero bytes; it returns io.EOF at the end of input.
func skipZeros(br *bufio.Reader) error {
	for {
		b, err := br.Peek(1)
		if err != nil {
			return err
		}
		if b[0] != 0 {
			return nil
		}
		if _, err := br.Discard(1); err != nil {
			return err
		}
	}
}

// noEOF turns an early end of input into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
