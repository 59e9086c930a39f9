package compress

import (
	"bytes"
	"io"
	"testing"
)

// FuzzRoundTrip checks that whatever is compressed decompresses to itself,
// with the same bytes whatever the concurrency.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte(""), uint8(0), uint8(1))
	f.Add([]byte("hello hello hello"), uint8(9), uint8(3))
	f.Add(mixedData(5000), uint8(3), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, level, conc uint8) {
		for _, format := range []Format{Gzip, Zstd} {
			lvl := int(level) % 10
			if lvl == 0 {
				lvl = 1
			}
			one := compressBytes(t, data, format, Options{Level: lvl, Concurrency: 1}, 0)
			// Up to 4 goroutines: each concurrent zstd block holds a window
			// of buffers, and 8 made the target run a few inputs a second.
			// That the bytes are the same at every concurrency is the unit
			// XX
			many := compressBytes(t, data, format, Options{Level: lvl, Concurrency: 1 + int(conc)%4}, 1+int(conc))
			if !bytes.Equal(one, many) {
				t.Fatalf("%s level %d: concurrency changed the output", format, lvl)
			}
			out, err := decompressBytes(one, format)
			if err != nil || !bytes.Equal(out, data) {
				t.Fatalf("%s level %d: round trip gave %q, %v", format, lvl, out, err)
			}
		}
	})
}

// FuzzReader feeds arbitrary bytes to the readers: errors are fine, panics
// and runaway output are not.
func FuzzReader(f *testing.F) {
	f.Add(compressBytes(f, []byte("some text some text"), Gzip, Options{}, 0))
	f.Add(compressBytes(f, []byte("some text some text"), Zstd, Options{}, 0))
	f.Add([]byte{0x1f, 0x8b, 8, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		format := Detect(data)
		r, err := NewReader(bytes.NewReader(data), format)
		if err != nil {
			return
		}
		defer r.Close()
		// Bound the output: a tiny input can legitimately expand a lot.
		_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<20))
	})
}
