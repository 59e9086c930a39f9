package fastyaml

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden parses every testdata/*.yaml input, checks the tree against
// yaml.v3's, and compares Encode's output with the matching .golden file.
// Inputs named fallback-* are meant for yaml.v3's parser; all others must
// stay on the fast parser and the fast emitter.
func TestGolden(t *testing.T) {
	inputs, err := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	if err != nil || len(inputs) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := parseSlow(data)
			if err != nil {
				t.Fatalf("yaml.v3: %v", err)
			}
			doc, err := Parse(data)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d := diffTrees(doc, want, exact); d != "" {
				t.Errorf("Parse differs from yaml.v3: %s\ngot:\n%swant:\n%s", d, dumpTree(doc), dumpTree(want))
			}
			fallback := strings.HasPrefix(name, "fallback-")
			if fast := parseFast(data) != nil; fast == fallback {
				t.Errorf("fast parser used = %v, want %v", fast, !fallback)
			}
			if _, fast := encodeFast(doc); !fast && !fallback {
				t.Errorf("fast emitter not used")
			}
			out, err := Encode(doc)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			expect, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if !bytes.Equal(out, expect) {
				t.Errorf("Encode output differs from %s:\n%s", golden, out)
			}
			checkEncode(t, data, doc)
		})
	}
}
