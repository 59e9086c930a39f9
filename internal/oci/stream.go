package oci

import (
	"bufio"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// progress reports byte counts of one stage to Options.Progress, at most
// once per progressStep bytes plus once when the stage is complete.
type progress struct {
	fn          func(stage string, done, total int64)
	stage       string
	done, total int64
	last        int64
}

const progressStep = 1 << 20

func newProgress(fn func(string, int64, int64), stage string, total int64) *progress {
	return &progress{fn: fn, stage: stage, total: total, last: -1}
}

func (p *progress) add(n int64) {
	p.done += n
	if p.fn != nil && p.done-p.last >= progressStep {
		p.last = p.done
		p.fn(p.stage, p.done, p.total)
	}
}

// finish reports the final count if it has not been reported.
func (p *progress) finish() {
	if p.fn != nil && p.last != p.done {
		p.last = p.done
		p.fn(p.stage, p.done, p.total)
	}
}

// countingReader adds what it reads to its progress counter and stops
// when the context is cancelled.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	p   *progress
}

func (c *countingReader) Read(b []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(b)
	c.p.add(int64(n))
	return n, err
}

// digestReader hashes what it reads with SHA-256.
type digestReader struct {
	r io.Reader
	h hash.Hash
	n int64
}

func newDigestReader(r io.Reader) *digestReader {
	return &digestReader{r: r, h: sha256.New()}
}

func (d *digestReader) Read(b []byte) (int, error) {
	n, err := d.r.Read(b)
	d.h.Write(b[:n])
	d.n += int64(n)
	return n, err
}

// digest returns "sha256:<hex>" of what was read.
func (d *digestReader) digest() string {
	return "sha256:" + hex.EncodeToString(d.h.Sum(nil))
}

// check compares what was read with the expected digest and, if size >= 0,
// length.
func (d *digestReader) check(want string, size int64) error {
	if size >= 0 && d.n != size {
		return fmt.Errorf("size is %d bytes, the manifest says %d", d.n, size)
	}
	if got := d.digest(); got != want {
		return fmt.Errorf("digest is %s, want %s", got, want)
	}
	return nil
}

// Compression names, as reported by decompress.
const (
	compNone  = "none"
	compGzip  = "gzip"
	compZstd  = "zstd"
	compBzip2 = "bzip2"
)

const (
	magicGzip  = "\x1f\x8b"
	magicZstd  = "\x28\xb5\x2f\xfd"
	magicBzip2 = "BZh"
	magicXz    = "\xfd7zXZ\x00"
)

// sniffCompression names the compression whose magic number starts head.
func sniffCompression(head []byte) (string, error) {
	h := string(head)
	switch {
	case strings.HasPrefix(h, magicGzip):
		return compGzip, nil
	case strings.HasPrefix(h, magicZstd):
		return compZstd, nil
	case len(h) >= 10 && strings.HasPrefix(h, magicBzip2) && h[3] >= '1' && h[3] <= '9' && h[4:10] == "1AY&SY":
		// The block magic too: a tar whose first name starts "BZh" is not bzip2.
		return compBzip2, nil
	case strings.HasPrefix(h, magicXz):
		return "", errors.New("xz compression is not supported; recompress with gzip or zstd")
	}
	return compNone, nil
}

// decompress returns r decompressed according to the magic number it
// starts with (gzip, zstd, bzip2, or none). Closing the result releases
// the decompressor, not r.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(10) // a short or empty stream is uncompressed
	comp, err := sniffCompression(head)
	if err != nil {
		return nil, err
	}
	switch comp {
	case compGzip:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		return zr, nil
	case compZstd:
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		return zr.IOReadCloser(), nil
	case compBzip2:
		return io.NopCloser(bzip2.NewReader(br)), nil
	}
	return io.NopCloser(br), nil
}

// drain reads r to its end, so that digests and checksums of the whole
// stream are checked even when the tar reader stopped at the end-of-archive
// marker. It stops when ctx is done: what follows the marker may be a
// decompression bomb.
func drain(ctx context.Context, r io.Reader) error {
	buf := make([]byte, 64<<10)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := r.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
