package compress

import (
	"bytes"
	stdgzip "compress/gzip"
	"fmt"
	"io"
	"runtime"
	"testing"
)

// BenchmarkCompress compresses 64 MiB of mixed data (half random, half
// repetitive text) and reports throughput and the compressed size as a
// percentage of the input, against the standard library's gzip.
func BenchmarkCompress(b *testing.B) {
	in := mixedData(64 << 20)
	procs := runtime.GOMAXPROCS(0)
	type compressor func(w io.Writer) (io.WriteCloser, error)
	ours := func(f Format, level, conc int) compressor {
		return func(w io.Writer) (io.WriteCloser, error) {
			return NewWriter(w, f, Options{Level: level, Concurrency: conc})
		}
	}
	std := func(level int) compressor {
		return func(w io.Writer) (io.WriteCloser, error) { return stdgzip.NewWriterLevel(w, level) }
	}
	cases := []struct {
		name string
		new  compressor
	}{
		{"stdlib-gzip-1", std(1)},
		{"gzip-1-conc1", ours(Gzip, 1, 1)},
		{fmt.Sprintf("gzip-1-conc%d", procs), ours(Gzip, 1, procs)},
		{"stdlib-gzip-6", std(6)},
		{"gzip-6-conc1", ours(Gzip, 6, 1)},
		{fmt.Sprintf("gzip-6-conc%d", procs), ours(Gzip, 6, procs)},
		{"stdlib-gzip-9", std(9)},
		{fmt.Sprintf("gzip-9-conc%d", procs), ours(Gzip, 9, procs)},
		{"zstd-1-conc1", ours(Zstd, 1, 1)},
		{"zstd-3-conc1", ours(Zstd, 3, 1)},
		{fmt.Sprintf("zstd-3-conc%d", procs), ours(Zstd, 3, procs)},
		{fmt.Sprintf("zstd-19-conc%d", procs), ours(Zstd, 19, procs)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			var out countWriter
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				out = 0
				w, err := c.new(&out)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(in); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*float64(out)/float64(len(in)), "%size")
		})
	}
}

// BenchmarkDecompress decompresses the same data, as a booting node does.
func BenchmarkDecompress(b *testing.B) {
	in := mixedData(64 << 20)
	for _, f := range []Format{Gzip, Zstd} {
		z := compressBytes(b, in, f, Options{}, 0)
		b.Run(f.String(), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				r, err := NewReader(bytes.NewReader(z), f)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, r); err != nil {
					b.Fatal(err)
				}
				r.Close()
			}
		})
	}
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}
