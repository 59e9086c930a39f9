package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/flate"
)

// mixedData returns n bytes, alternating 1 MiB of random bytes with about
// as much repetitive text, the same on every call.
func mixedData(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, 0, n+256)
	for len(b) < n {
		for end := min(len(b)+1<<20, n); len(b) < end; {
			b = binary64(b, r.Uint64())
		}
		for end := min(len(b)+1<<20, n); len(b) < end; {
			b = fmt.Appendf(b, "%05d the quick brown fox jumps over the lazy dog %d times\n", len(b)%99991, r.IntN(10))
		}
	}
	return b[:n]
}

func binary64(b []byte, v uint64) []byte {
	for i := range 8 {
		b = append(b, byte(v>>(8*i)))
	}
	return b
}

// compressBytes compresses data, writing it in chunks of the given size.
func compressBytes(t testing.TB, data []byte, f Format, opts Options, chunk int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, f, opts)
	if err != nil {
		t.Fatalf("NewWriter(%s, %+v): %v", f, opts, err)
	}
	if chunk <= 0 {
		chunk = len(data) + 1
	}
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

func decompressBytes(data []byte, f Format) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(data), f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantExt string
		wantErr bool
	}{
		{in: "", want: None, wantExt: ""},
		{in: "none", want: None, wantExt: ""},
		{in: "gz", want: Gzip, wantExt: ".gz"},
		{in: "gzip", want: Gzip, wantExt: ".gz"},
		{in: "zst", want: Zstd, wantExt: ".zst"},
		{in: "zstd", want: Zstd, wantExt: ".zst"},
		{in: "GZ", wantErr: true},
		{in: "xz", wantErr: true},
		{in: " gzip", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseFormat(tc.in)
			if tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", tc.in)) {
					t.Fatalf("ParseFormat(%q) = %v, %v; want an error naming the value", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want || got.Ext() != tc.wantExt {
				t.Errorf("ParseFormat(%q) = %v (ext %q), %v; want %v (ext %q)", tc.in, got, got.Ext(), err, tc.want, tc.wantExt)
			}
		})
	}
	if s := None.String(); s != "none" {
		t.Errorf("None.String() = %q, want none", s)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name  string
		first []byte
		want  Format
	}{
		{name: "gzip output", first: compressBytes(t, []byte("x"), Gzip, Options{}, 0), want: Gzip},
		{name: "zstd output", first: compressBytes(t, []byte("x"), Zstd, Options{}, 0), want: Zstd},
		{name: "empty zstd output", first: compressBytes(t, nil, Zstd, Options{}, 0), want: Zstd},
		{name: "stdlib gzip", first: stdGzip(t, []byte("x"), 6), want: Gzip},
		{name: "cpio newc", first: []byte("070701000000"), want: None},
		{name: "empty", first: nil, want: None},
		{name: "half a gzip magic", first: []byte{0x1f}, want: None},
		{name: "three bytes of zstd magic", first: []byte{0x28, 0xb5, 0x2f}, want: None},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.first); got != tc.want {
				t.Errorf("Detect(% x) = %v, want %v", tc.first[:min(4, len(tc.first))], got, tc.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"empty":              nil,
		"one byte":           []byte("x"),
		"text":               []byte(strings.Repeat("hello, node\n", 1000)),
		"one block exactly":  mixedData(gzipBlockSize),
		"one block and one":  mixedData(gzipBlockSize + 1),
		"several blocks":     mixedData(3*gzipBlockSize + 12345),
		"incompressible 64K": mixedData(64 << 10),
	}
	tests := []struct {
		format Format
		opts   Options
	}{
		{format: None},
		{format: Gzip},
		{format: Gzip, opts: Options{Level: 1, Concurrency: 1}},
		{format: Gzip, opts: Options{Level: 9, Concurrency: 3}},
		{format: Zstd},
		{format: Zstd, opts: Options{Level: 1, Concurrency: 1}},
		{format: Zstd, opts: Options{Level: 19, Concurrency: 3}},
	}
	for _, tc := range tests {
		for name, in := range inputs {
			t.Run(fmt.Sprintf("%s level %d conc %d/%s", tc.format, tc.opts.Level, tc.opts.Concurrency, name), func(t *testing.T) {
				z := compressBytes(t, in, tc.format, tc.opts, 100_000)
				if got := Detect(z); got != tc.format && len(in) > 0 {
					t.Errorf("Detect = %v, want %v", got, tc.format)
				}
				out, err := decompressBytes(z, tc.format)
				if err != nil {
					t.Fatalf("decompress: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("round trip changed %d bytes into %d bytes", len(in), len(out))
				}
				if tc.format == Gzip {
					// An independent decoder: the standard library's.
					zr, err := stdgzip.NewReader(bytes.NewReader(z))
					if err != nil {
						t.Fatal(err)
					}
					zr.Multistream(false)
					out, err := io.ReadAll(zr)
					if err != nil || !bytes.Equal(out, in) {
						t.Fatalf("compress/gzip reads %d bytes, %v; want the input", len(out), err)
					}
					// One member, nothing after it: what the kernel needs.
					if err := zr.Reset(bytes.NewReader(nil)); !errors.Is(err, io.EOF) {
						t.Fatalf("reset: %v", err)
					}
				}
			})
		}
	}
}

// TestGzipSingleMember checks there is exactly one gzip member: the kernel
// unpacks one member at a time and refuses a cpio archive split across two.
func TestGzipSingleMember(t *testing.T) {
	in := mixedData(5*gzipBlockSize + 7)
	z := compressBytes(t, in, Gzip, Options{Concurrency: 4}, 0)
	br := bytes.NewReader(z)
	zr, err := stdgzip.NewReader(br)
	if err != nil {
		t.Fatal(err)
	}
	zr.Multistream(false)
	out, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("first member holds %d bytes, %v; want all %d", len(out), err, len(in))
	}
	if br.Len() != 0 {
		t.Errorf("%d bytes follow the first member", br.Len())
	}
	// No optional header fields (the kernel skips only FNAME), no mtime.
	if diff := cmp.Diff([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255}, z[:10]); diff != "" {
		t.Errorf("gzip header (-want +got):\n%s", diff)
	}
	if zr.Header.Name != "" || !zr.Header.ModTime.IsZero() || zr.Header.Extra != nil || zr.Header.Comment != "" {
		t.Errorf("gzip header has optional fields: %+v", zr.Header)
	}
}

func TestDeterministic(t *testing.T) {
	in := mixedData(4*gzipBlockSize + 54321)
	for _, tc := range []struct {
		format Format
		level  int
	}{
		{Gzip, 1}, {Gzip, 2}, {Gzip, 3}, {Gzip, 4}, {Gzip, 5}, {Gzip, 6}, {Gzip, 7}, {Gzip, 8}, {Gzip, 9},
		{Zstd, 1}, {Zstd, 3}, {Zstd, 7}, {Zstd, 19},
	} {
		t.Run(fmt.Sprintf("%s %d", tc.format, tc.level), func(t *testing.T) {
			want := compressBytes(t, in, tc.format, Options{Level: tc.level, Concurrency: 1}, 0)
			for _, c := range []int{1, 2, 4, 7} {
				for _, chunk := range []int{0, 4096, 1_000_003} {
					got := compressBytes(t, in, tc.format, Options{Level: tc.level, Concurrency: c}, chunk)
					if !bytes.Equal(got, want) {
						t.Errorf("concurrency %d, writes of %d: %d bytes (sha256 %x), concurrency 1: %d bytes (sha256 %x)",
							c, chunk, len(got), sha256.Sum256(got), len(want), sha256.Sum256(want))
					}
				}
			}
		})
	}
}

// TestGzipMatchesReference rebuilds the gzip stream with a fresh encoder
// per block: reusing encoders across blocks must not change the output.
func TestGzipMatchesReference(t *testing.T) {
	in := mixedData(3*gzipBlockSize + 99)
	for level := 1; level <= 9; level++ {
		t.Run(fmt.Sprint(level), func(t *testing.T) {
			var want bytes.Buffer
			xfl := map[int]byte{1: 4, 9: 2}[level]
			want.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255})
			var dict []byte
			for p := in; ; {
				n := min(gzipBlockSize, len(p))
				last := n == len(p) && n < gzipBlockSize
				fw, err := flate.NewWriterDict(&want, level, dict)
				if err != nil {
					t.Fatal(err)
				}
				fw.Write(p[:n])
				if last {
					fw.Close()
					break
				}
				fw.Flush()
				dict = p[n-flateWindow : n]
				p = p[n:]
			}
			var trailer [8]byte
			crc := crc32.ChecksumIEEE(in)
			for i := range 4 {
				trailer[i] = byte(crc >> (8 * i))
				trailer[4+i] = byte(uint32(len(in)) >> (8 * i))
			}
			want.Write(trailer[:])
			for _, c := range []int{1, 3} {
				if got := compressBytes(t, in, Gzip, Options{Level: level, Concurrency: c}, 0); !bytes.Equal(got, want.Bytes()) {
					t.Errorf("concurrency %d: output differs from fresh encoders per block", c)
				}
			}
		})
	}
}

func TestNewWriterRefuses(t *testing.T) {
	tests := []struct {
		name   string
		format Format
		opts   Options
		want   string
	}{
		{name: "gzip level 10", format: Gzip, opts: Options{Level: 10}, want: "gzip level 10 is outside 1 to 9"},
		{name: "gzip level -1", format: Gzip, opts: Options{Level: -1}, want: "gzip level -1"},
		{name: "zstd level 23", format: Zstd, opts: Options{Level: 23}, want: "zstd level 23 is outside 1 to 22"},
		{name: "negative concurrency", format: Gzip, opts: Options{Concurrency: -1}, want: "concurrency -1"},
		{name: "unknown format", format: Format("xz"), want: `unknown format "xz"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewWriter(io.Discard, tc.format, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewWriter = %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	if _, err := NewReader(bytes.NewReader(nil), Format("xz")); err == nil {
		t.Error("NewReader accepted format xz")
	}
}

func TestReaderRefusesDamage(t *testing.T) {
	in := mixedData(2*gzipBlockSize + 5)
	for _, f := range []Format{Gzip, Zstd} {
		z := compressBytes(t, in, f, Options{}, 0)
		tests := map[string][]byte{
			"truncated":        z[:len(z)/2],
			"no checksum":      z[:len(z)-4],
			"flipped checksum": append(bytes.Clone(z[:len(z)-8]), flipFirst(z[len(z)-8:])...),
			"wrong format":     []byte("070701 is cpio, not compressed"),
		}
		for name, data := range tests {
			t.Run(fmt.Sprintf("%s %s", f, name), func(t *testing.T) {
				out, err := decompressBytes(data, f)
				if err == nil {
					t.Fatalf("damaged stream decompressed to %d bytes without error", len(out))
				}
			})
		}
	}
}

func flipFirst(b []byte) []byte {
	b = bytes.Clone(b)
	b[0] ^= 0xff
	return b
}

func TestWriteAfterClose(t *testing.T) {
	for _, f := range []Format{Gzip, Zstd} {
		w, err := NewWriter(io.Discard, f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Errorf("%s: Write after Close succeeded", f)
		}
	}
}

func TestUnderlyingWriteError(t *testing.T) {
	for _, f := range []Format{Gzip, Zstd} {
		w, err := NewWriter(failWriter{}, f, Options{Concurrency: 2})
		if err != nil {
			t.Fatal(err)
		}
		_, werr := w.Write(mixedData(3 * gzipBlockSize))
		cerr := w.Close()
		if !errors.Is(werr, errBroken) && !errors.Is(cerr, errBroken) {
			t.Errorf("%s: Write = %v, Close = %v; want errBroken from one of them", f, werr, cerr)
		}
	}
}

var errBroken = errors.New("broken pipe")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBroken }

func stdGzip(t testing.TB, data []byte, level int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := stdgzip.NewWriterLevel(&buf, level)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
