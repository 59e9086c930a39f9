package compress

import (
	"bytes"
	"io"
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
