package compress

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/flate"
)

const (
	// gzipBlockSize is the input compressed by one goroutine. It fixes the
	// output, so changing it changes every artifact's bytes.
	gzipBlockSize = 1 << 20
	// flateWindow is how far back deflate can refer: each block is primed
	// with this much of the input before it.
	flateWindow = 32 << 10
)

var errWriterClosed = errors.New("compress: write to closed gzip writer")

// gzipWriter writes one gzip member whose deflate stream is the
// concatenation of independently compressed blocks, as pigz does: block i
// is compressed with the last 32 KiB of block i-1 as its preset dictionary
// and ends with a sync flush (an empty stored block), which leaves the
// stream byte-aligned for the next block; the last block ends the stream.
// A decompressor sees one ordinary deflate stream. The output depends on
// the input, the level and gzipBlockSize only, never on the number of
// goroutines or on how the input was split into Write calls.
type gzipWriter struct {
	w           io.Writer
	level       int
	concurrency int
	buf         []byte       // input of the block being filled
	dict        []byte       // the flateWindow bytes of input before buf
	pending     []*gzipBlock // blocks handed out, in stream order
	free        [][]byte     // input buffers to reuse
	encoders    chan *flate.Writer
	crc         uint32
	size        uint32 // input length modulo 2^32, as gzip records it
	wroteHeader bool
	err         error // sticky
}

// gzipBlock is one block being compressed.
type gzipBlock struct {
	input []byte
	dict  []byte
	last  bool
	out   bytes.Buffer
	err   error
	done  chan struct{} // closed when out and err are set
}

func newGzipWriter(w io.Writer, level, concurrency int) *gzipWriter {
	return &gzipWriter{
		w:           w,
		level:       level,
		concurrency: concurrency,
		encoders:    make(chan *flate.Writer, concurrency),
	}
}

// Write compresses p. Blocks are compressed in the background; errors from
// the underlying writer may surface only on a later Write or on Close.
func (z *gzipWriter) Write(p []byte) (int, error) {
	if z.err != nil {
		return 0, z.err
	}
	z.crc = crc32.Update(z.crc, crc32.IEEETable, p)
	z.size += uint32(len(p))
	n := 0
	for len(p) > 0 {
		if z.buf == nil {
			z.buf = z.reuseBuffer()
		}
		// A new buffer grows by append, so a small stream does not cost a
		// whole block of memory.
		c := min(gzipBlockSize-len(z.buf), len(p))
		z.buf = append(z.buf, p[:c]...)
		p = p[c:]
		n += c
		if len(z.buf) == gzipBlockSize {
			if err := z.startBlock(false); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// Close compresses what is left, waits for every block, and writes the
// gzip trailer. It does not close the underlying writer. Closing twice
// does nothing.
func (z *gzipWriter) Close() error {
	if errors.Is(z.err, errWriterClosed) {
		return nil
	}
	if z.err != nil {
		return z.err
	}
	if err := z.startBlock(true); err != nil {
		return err
	}
	for len(z.pending) > 0 {
		if err := z.writeOldest(); err != nil {
			return err
		}
	}
	var trailer [8]byte
	binary.LittleEndian.PutUint32(trailer[:4], z.crc)
	binary.LittleEndian.PutUint32(trailer[4:], z.size)
	if err := z.write(trailer[:]); err != nil {
		return err
	}
	z.err = errWriterClosed
	return nil
}

// reuseBuffer returns the input buffer of a finished block, or nil.
func (z *gzipWriter) reuseBuffer() []byte {
	n := len(z.free)
	if n == 0 {
		return nil
	}
	b := z.free[n-1]
	z.free = z.free[:n-1]
	return b[:0]
}

// startBlock hands the filled buffer to a goroutine, first writing out the
// oldest block if as many are already in flight as allowed.
func (z *gzipWriter) startBlock(last bool) error {
	b := &gzipBlock{input: z.buf, dict: z.dict, last: last, done: make(chan struct{})}
	if !last {
		// The buffer is full, so longer than the window. The copy lets the
		// buffer be reused once its own block is done.
		z.dict = append([]byte(nil), z.buf[len(z.buf)-flateWindow:]...)
	}
	z.buf = nil
	if len(z.pending) == z.concurrency {
		if err := z.writeOldest(); err != nil {
			return err
		}
	}
	z.pending = append(z.pending, b)
	if z.concurrency == 1 {
		z.compress(b)
	} else {
		go z.compress(b)
	}
	return nil
}

// compress deflates one block into b.out. It runs on its own goroutine and
// touches nothing of z but the encoder pool.
func (z *gzipWriter) compress(b *gzipBlock) {
	defer close(b.done)
	var enc *flate.Writer
	select {
	case enc = <-z.encoders:
	default:
		// At most z.concurrency blocks compress at once, so at most that
		// many encoders ever exist.
		var err error
		if enc, err = flate.NewWriter(nil, z.level); err != nil {
			b.err = err
			return
		}
	}
	// An encoder reset with a dictionary compresses exactly as a new one
	// would: klauspost/compress puts stale hash entries out of reach.
	enc.ResetDict(&b.out, b.dict)
	_, err := enc.Write(b.input)
	if err == nil {
		if b.last {
			err = enc.Close()
		} else {
			err = enc.Flush()
		}
	}
	b.err = err
	select {
	case z.encoders <- enc:
	default:
	}
}

// writeOldest waits for the oldest block in flight and writes it out.
func (z *gzipWriter) writeOldest() error {
	b := z.pending[0]
	<-b.done
	z.pending[0] = nil
	z.pending = z.pending[1:]
	if b.err != nil {
		z.err = fmt.Errorf("compress: gzip: %w", b.err)
		return z.err
	}
	if !z.wroteHeader {
		if err := z.write(z.header()); err != nil {
			return err
		}
		z.wroteHeader = true
	}
	if err := z.write(b.out.Bytes()); err != nil {
		return err
	}
	if cap(b.input) >= gzipBlockSize {
		z.free = append(z.free, b.input)
	}
	return nil
}

// header returns a gzip member header with no optional fields and a zero
// modification time, as Go's compress/gzip writes for an empty Header.
func (z *gzipWriter) header() []byte {
	var xfl byte
	switch z.level {
	case 1:
		xfl = 4 // fastest
	case 9:
		xfl = 2 // smallest
	}
	return []byte{0x1f, 0x8b, 8 /* deflate */, 0 /* flags */, 0, 0, 0, 0 /* mtime */, xfl, 255 /* OS unknown */}
}

func (z *gzipWriter) write(p []byte) error {
	n, err := z.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		z.err = fmt.Errorf("compress: writing gzip stream: %w", err)
		return z.err
	}
	return nil
}
