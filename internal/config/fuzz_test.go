package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	f.Add(DefaultFile())
	for _, name := range []string{"site-4.6.conf", "site-4.5.conf", "default.golden.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"ipaddr: 10.0.0.1/24\nipaddr6: fd00::1/64\n",
		"warewulf:\n  port: abc\n  prot: 1\n",
		"a: &x [1, 2]\nb: *x\n",
		"tftp:\n  ipxe:\n    00:0B: a\n",
		"image mounts:\n  - ~\n  - source: /a\n",
		"comment: \"\\u00e9\\t\"\ndhcp: {range start: 10.0.0.2, range end: 10.0.0.1}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(data, "fuzz.conf")
		if err != nil {
			return
		}
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal of an accepted config: %v", err)
		}
		again, warnings, err := Parse(out, "marshalled")
		if err != nil || len(warnings) > 0 {
			t.Fatalf("Parse(Marshal()) warnings %q, error %v\n%s", warnings, err, out)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("round trip (-parsed +reparsed):\n%s\n%s", diff, out)
		}
	})
}
