// Package compress compresses and decompresses the archives served to
// booting nodes, with gzip or zstd, deterministically: the same input and
// Options give the same bytes on every run, on every machine, whatever the
// concurrency, so a compressed artifact can be addressed by its hash.
//
// Both formats produce a single gzip member or a single zstd frame, which
// is what the Linux kernel's initramfs unpacker requires: it decompresses
// one member or frame at a time and refuses the archive unless the cpio
// stream inside ends exactly there (init/initramfs.c, "junk in compressed
// archive").
package compress

import (
	"bytes"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Format is a compression format.
type Format string

// The supported formats. The zero Format is None.
const (
	None Format = ""
	Gzip Format = "gzip"
	Zstd Format = "zstd"
)

// ParseFormat parses the name of a format as it appears in a query value or
// configuration: "" or "none" for None, "gz" or "gzip" for Gzip, "zst" or
// "zstd" for Zstd. Anything else is an error naming the value.
func ParseFormat(s string) (Format, error) {
	switch s {
	case "", "none":
		return None, nil
	case "gz", "gzip":
		return Gzip, nil
	case "zst", "zstd":
		return Zstd, nil
	}
	return None, fmt.Errorf("compress: unknown format %q (want gz, gzip, zst, zstd, none or empty)", s)
}

// Ext returns the file name extension of f: "", ".gz" or ".zst".
func (f Format) Ext() string {
	switch f {
	case Gzip:
		return ".gz"
	case Zstd:
		return ".zst"
	}
	return ""
}

// String returns the name of f, "none" for None.
func (f Format) String() string {
	if f == None {
		return "none"
	}
	return string(f)
}

// Magic numbers at the start of a stream.
const (
	gzipMagic = "\x1f\x8b"
	zstdMagic = "\x28\xb5\x2f\xfd"
)

// Detect returns the format whose magic number starts first, or None if
// first starts with neither (an uncompressed cpio archive starts "0707").
// Four bytes are enough to tell.
func Detect(first []byte) Format {
	switch {
	case bytes.HasPrefix(first, []byte(gzipMagic)):
		return Gzip
	case bytes.HasPrefix(first, []byte(zstdMagic)):
		return Zstd
	}
	return None
}

// Options tune a Writer. The zero value is a sensible default.
type Options struct {
	// Level is the compression level: for Gzip 1 (fastest) to 9 (smallest),
	// default 6; for Zstd the zstd command's levels 1 to 22, default 3,
	// which map to the encoder's four speeds (1-2 fastest, 3-5 default,
	// 6-9 better, 10-22 best). 0 means the default. It changes the output.
	Level int
	// Concurrency is the number of goroutines compressing at once; 0 means
	// GOMAXPROCS. It never changes the output.
	Concurrency int
}

// Default levels, as the gzip and zstd commands have them.
const (
	defaultGzipLevel = 6
	defaultZstdLevel = 3
)

// NewWriter returns a WriteCloser that compresses what is written to it in
// format f and writes it to w. Close flushes the stream and ends it; it does
// not close w. With None, writes pass straight to w.
//
// Gzip output has no file name, modification time or other optional header
// field; it is one gzip member made of independently compressed 1 MiB
// blocks (each primed with the 32 KiB before it, so the ratio is within a
// fraction of a percent of a single stream), so it compresses in parallel.
// Zstd output is one frame with a checksum and no dictionary.
func NewWriter(w io.Writer, f Format, opts Options) (io.WriteCloser, error) {
	if opts.Concurrency < 0 {
		return nil, fmt.Errorf("compress: concurrency %d is negative", opts.Concurrency)
	}
	concurrency := opts.Concurrency
	if concurrency == 0 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	switch f {
	case None:
		return nopWriteCloser{w}, nil
	case Gzip:
		level := opts.Level
		if level == 0 {
			level = defaultGzipLevel
		}
		if level < 1 || level > 9 {
			return nil, fmt.Errorf("compress: gzip level %d is outside 1 to 9", level)
		}
		return newGzipWriter(w, level, concurrency), nil
	case Zstd:
		level := opts.Level
		if level == 0 {
			level = defaultZstdLevel
		}
		if level < 1 || level > 22 {
			return nil, fmt.Errorf("compress: zstd level %d is outside 1 to 22", level)
		}
		// Concurrent blocks compress sections of the stream (each primed
		// with the end of the one before) on several goroutines, still one
		// frame. The sections' size depends on the window only, so the
		// bytes are the same for every concurrency of 2 or more and every
		// number of CPUs (tested); concurrency 1 would give other bytes, so
		// it is never used.
		enc, err := zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)),
			zstd.WithEncoderConcurrency(max(concurrency, 2)),
			zstd.WithConcurrentBlocks(true),
			zstd.WithEncoderCRC(true),
			zstd.WithZeroFrames(true),
		)
		if err != nil {
			return nil, fmt.Errorf("compress: zstd writer: %w", err)
		}
		return enc, nil
	}
	return nil, fmt.Errorf("compress: unknown format %q", string(f))
}

// maxZstdWindow is the largest zstd window NewReader accepts: the kernel's
// limit (ZSTD_WINDOWLOG_MAX, 128 MiB), far above what NewWriter uses (at
// most 8 MiB), so a hostile stream cannot make the reader allocate more.
const maxZstdWindow = 128 << 20

// NewReader returns a ReadCloser that decompresses the stream in format f
// read from r. Close releases the decoder's goroutines and memory; it does
// not close r. With None, reads pass straight through from r.
//
// A gzip stream of several members is read as their concatenation, as
// gzip -d does. Both formats verify their checksums; a mismatch or a
// truncated stream is an error from Read.
func NewReader(r io.Reader, f Format) (io.ReadCloser, error) {
	switch f {
	case None:
		return io.NopCloser(r), nil
	case Gzip:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("compress: gzip stream: %w", err)
		}
		return zr, nil
	case Zstd:
		zr, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, fmt.Errorf("compress: zstd stream: %w", err)
		}
		return zstdReadCloser{zr}, nil
	}
	return nil, fmt.Errorf("compress: unknown format %q", string(f))
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

// zstdReadCloser gives zstd.Decoder the io.ReadCloser Close signature.
type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error {
	z.Decoder.Close()
	return nil
}
