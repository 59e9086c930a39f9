package compress

import (
	"bytes"
	"io"
	"runtime"
	"testing"
)

func TestEncoder(t *testing.T) {
	inputs := [][]byte{nil, []byte("hello"), mixedData(300 << 10), []byte("hello")}
	for _, f := range []Format{None, Gzip, Zstd} {
		t.Run(f.String(), func(t *testing.T) {
			e, err := NewEncoder(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			first := map[string][]byte{}
			for i, in := range inputs {
				out, err := e.Encode(in)
				if err != nil {
					t.Fatal(err)
				}
				if Detect(out) != f && len(in) > 0 {
					t.Errorf("input %d: output detected as %s", i, Detect(out))
				}
				r, err := NewReader(bytes.NewReader(out), f)
				if err != nil {
					t.Fatal(err)
				}
				back, err := io.ReadAll(r)
				if err != nil || !bytes.Equal(back, in) {
					t.Fatalf("input %d: round trip failed: %v", i, err)
				}
				// Reusing the encoder must not change the output.
				if prev, ok := first[string(in)]; ok && !bytes.Equal(prev, out) {
					t.Errorf("input %d: output changed on reuse", i)
				}
				first[string(in)] = append([]byte(nil), out...)
			}
		})
	}
}

// TestZstdSameBytesOnAnyMachine compresses more than one concurrent
// section with different concurrency settings and CPU counts: the bytes
// must not change, or archives would differ between servers.
func TestZstdSameBytesOnAnyMachine(t *testing.T) {
	if testing.Short() {
		t.Skip("compresses 48 MiB several times")
	}
	in := mixedData(48 << 20)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var want []byte
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		for _, c := range []int{1, 2, 3, 8} {
			got := compressBytes(t, in, Zstd, Options{Concurrency: c}, 1<<20)
			if want == nil {
				want = got
				continue
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("GOMAXPROCS %d, concurrency %d: different bytes", procs, c)
			}
		}
	}
}

// TestEncoderReusesItsBuffers checks that a warm Encoder compresses
// without allocating: it exists for many small archives in a row.
func TestEncoderReusesItsBuffers(t *testing.T) {
	in := mixedData(64 << 10)
	for _, f := range []Format{Gzip, Zstd} {
		e, err := NewEncoder(f, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Encode(in); err != nil {
			t.Fatal(err)
		}
		if n := testing.AllocsPerRun(10, func() { _, _ = e.Encode(in) }); n != 0 {
			t.Errorf("%s: %v allocations per Encode, want 0", f, n)
		}
	}
}
