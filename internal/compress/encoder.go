package compress

import (
	"bytes"
	"fmt"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Encoder compresses whole buffers, keeping its state between calls, for
// many small archives (a thousand nodes' overlays) where setting up a
// compressor each time would cost more than compressing. Its output is
// deterministic but not the same bytes as NewWriter's. Use it from one
// goroutine at a time.
type Encoder struct {
	format Format
	zstd   *zstd.Encoder
	gzip   *gzip.Writer
	buf    bytes.Buffer // gzip's output
	dst    []byte       // zstd's output
}

// NewEncoder returns an Encoder for format f at level (0: the default).
func NewEncoder(f Format, level int) (*Encoder, error) {
	e := &Encoder{format: f}
	switch f {
	case None:
	case Zstd:
		if level == 0 {
			level = defaultZstdLevel
		}
		z, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(true))
		if err != nil {
			return nil, fmt.Errorf("compress: zstd: %w", err)
		}
		e.zstd = z
	case Gzip:
		if level == 0 {
			level = defaultGzipLevel
		}
		g, err := gzip.NewWriterLevel(nil, level)
		if err != nil {
			return nil, fmt.Errorf("compress: gzip: %w", err)
		}
		e.gzip = g
	default:
		return nil, fmt.Errorf("compress: unknown format %q", string(f))
	}
	return e, nil
}

// Encode returns src compressed; the result is valid until the next call.
func (e *Encoder) Encode(src []byte) ([]byte, error) {
	switch e.format {
	case Zstd:
		e.dst = e.zstd.EncodeAll(src, e.dst[:0])
		return e.dst, nil
	case Gzip:
		e.buf.Reset()
		e.gzip.Reset(&e.buf)
		if _, err := e.gzip.Write(src); err != nil {
			return nil, fmt.Errorf("compress: gzip: %w", err)
		}
		if err := e.gzip.Close(); err != nil {
			return nil, fmt.Errorf("compress: gzip: %w", err)
		}
		return e.buf.Bytes(), nil
	}
	return src, nil
}
