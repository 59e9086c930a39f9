package hostlist

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		want     []string
	}{
		{name: "no patterns", patterns: nil, want: nil},
		{name: "plain name", patterns: []string{"node1"}, want: []string{"node1"}},
		{name: "plain names allowed characters", patterns: []string{"a-b_c.d:e9"}, want: []string{"a-b_c.d:e9"}},
		{name: "top-level comma list", patterns: []string{"a,b,c"}, want: []string{"a", "b", "c"}},
		{name: "several arguments", patterns: []string{"a", "b,c"}, want: []string{"a", "b", "c"}},
		{name: "simple range", patterns: []string{"gpu[1-4]"}, want: []string{"gpu1", "gpu2", "gpu3", "gpu4"}},
		{
			name:     "padded range and number",
			patterns: []string{"n[001-003,005]"},
			want:     []string{"n001", "n002", "n003", "n005"},
		},
		{
			name:     "padded range crossing a power of ten",
			patterns: []string{"n[008-010]"},
			want:     []string{"n008", "n009", "n010"},
		},
		{name: "unpadded range grows", patterns: []string{"[8-10]"}, want: []string{"8", "9", "10"}},
		{name: "padded two digits", patterns: []string{"x[08-10]"}, want: []string{"x08", "x09", "x10"}},
		{name: "padding from upper bound", patterns: []string{"x[8-010]"}, want: []string{"x008", "x009", "x010"}},
		{name: "padded range exceeding width", patterns: []string{"x[098-101]"}, want: []string{"x098", "x099", "x100", "x101"}},
		{name: "zero", patterns: []string{"n[0-1]"}, want: []string{"n0", "n1"}},
		{name: "padded zero", patterns: []string{"n[00]"}, want: []string{"n00"}},
		{name: "single padded number", patterns: []string{"n[007]"}, want: []string{"n007"}},
		{
			name:     "cartesian product leftmost slowest",
			patterns: []string{"rack[1-2]n[01-02]"},
			want:     []string{"rack1n01", "rack1n02", "rack2n01", "rack2n02"},
		},
		{name: "suffix", patterns: []string{"n[1-2]-ib"}, want: []string{"n1-ib", "n2-ib"}},
		{name: "group only", patterns: []string{"[1-3]"}, want: []string{"1", "2", "3"}},
		{name: "adjacent groups", patterns: []string{"[1-2][5,7]"}, want: []string{"15", "17", "25", "27"}},
		{name: "order as written", patterns: []string{"n[5,1-2]"}, want: []string{"n5", "n1", "n2"}},
		{
			name:     "duplicates removed first wins",
			patterns: []string{"n[3,1-3],n2", "n1,m"},
			want:     []string{"n3", "n1", "n2", "m"},
		},
		{
			name:     "comma in bracket belongs to the group",
			patterns: []string{"a[1,2],b[3-4]c"},
			want:     []string{"a1", "a2", "b3c", "b4c"},
		},
		{name: "mixed list", patterns: []string{"n[01-03,05],x1"}, want: []string{"n01", "n02", "n03", "n05", "x1"}},
		{name: "single value range", patterns: []string{"n[4-4]"}, want: []string{"n4"}},
		{name: "18 digit number", patterns: []string{"n[999999999999999999]"}, want: []string{"n999999999999999999"}},
		// Warewulf skips empty names: scripts build lists as "n01,".
		{name: "trailing comma", patterns: []string{"n01,"}, want: []string{"n01"}},
		{name: "leading comma", patterns: []string{",a"}, want: []string{"a"}},
		{name: "empty name in list", patterns: []string{"a,,b"}, want: []string{"a", "b"}},
		{name: "trailing comma after a group", patterns: []string{"n[1-2],"}, want: []string{"n1", "n2"}},
		{name: "long digits outside brackets", patterns: []string{"n12345678901234567890123"}, want: []string{"n12345678901234567890123"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(tc.patterns...)
			if err != nil {
				t.Fatalf("Expand(%q): %v", tc.patterns, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Expand(%q) mismatch (-want +got):\n%s", tc.patterns, diff)
			}
		})
	}
}

func TestExpandErrors(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		want     []string // fragments the error text must contain
	}{
		{name: "unclosed bracket", patterns: []string{"n[1-2"}, want: []string{`"n[1-2"`, "unclosed '['"}},
		{name: "unmatched close", patterns: []string{"n1-2]"}, want: []string{`"n1-2]"`, "unmatched ']'"}},
		{name: "nested brackets", patterns: []string{"n[1[2]]"}, want: []string{`"n[1[2]]"`, "nested '['"}},
		{name: "empty group", patterns: []string{"n[]"}, want: []string{`"n[]"`, "empty group"}},
		{name: "empty group element", patterns: []string{"n[1,,2]"}, want: []string{`"n[1,,2]"`, "empty element in group"}},
		{name: "trailing comma in group", patterns: []string{"n[1,]"}, want: []string{`"n[1,]"`, "empty element in group"}},
		{name: "descending range", patterns: []string{"n[5-1]"}, want: []string{`"n[5-1]"`, "descending range 5-1"}},
		{name: "non-numeric bound", patterns: []string{"n[a-3]"}, want: []string{`"n[a-3]"`, `non-numeric range bound "a"`}},
		{name: "non-numeric upper bound", patterns: []string{"n[1-2-3]"}, want: []string{`non-numeric range bound "2-3"`}},
		{name: "non-numeric value", patterns: []string{"n[x]"}, want: []string{`"n[x]"`, `non-numeric value "x"`}},
		{name: "empty lower bound", patterns: []string{"n[-3]"}, want: []string{`"n[-3]"`, "empty range bound"}},
		{name: "empty upper bound", patterns: []string{"n[3-]"}, want: []string{`"n[3-]"`, "empty range bound"}},
		{name: "space in group", patterns: []string{"n[1 - 3]"}, want: []string{"non-numeric range bound"}},
		{name: "mixed padded widths", patterns: []string{"n[01-0100]"}, want: []string{`"n[01-0100]"`, "mixes zero-padded widths 2 and 4"}},
		{name: "number too long", patterns: []string{"n[1234567890123456789]"}, want: []string{"longer than 18 digits"}},
		{name: "empty pattern", patterns: []string{""}, want: []string{`""`, "names nothing"}},
		{name: "only commas", patterns: []string{",,"}, want: []string{`",,"`, "names nothing"}},
		{name: "only commas after a good argument", patterns: []string{"a", ","}, want: []string{`","`, "names nothing"}},
		{name: "space", patterns: []string{"n 1"}, want: []string{`"n 1"`, `character " " at column 2 is not allowed`}},
		{name: "slash", patterns: []string{"a/b"}, want: []string{`"a/b"`, `character "/"`}},
		{name: "glob", patterns: []string{"n*"}, want: []string{`"n*"`, `character "*"`}},
		{name: "regex", patterns: []string{"n.+"}, want: []string{`character "+"`}},
		{name: "non-ascii letter", patterns: []string{"nœud"}, want: []string{`character "œ"`}},
		{name: "invalid utf-8", patterns: []string{"n\xff"}, want: []string{`character "\xff"`}},
		{name: "bad char in later element", patterns: []string{"a,b c"}, want: []string{`"b c"`}},
		{name: "error in later argument", patterns: []string{"ok", "n[2-1]"}, want: []string{`"n[2-1]"`, "descending"}},
		{name: "memory bomb single group", patterns: []string{"n[0-999999999999]"}, want: []string{"exceeds 1000000 names"}},
		{name: "memory bomb product", patterns: []string{"n[1-1000][1-1001]"}, want: []string{"exceeds 1000000 names"}},
		{name: "memory bomb many groups", patterns: []string{strings.Repeat("[0-9]", 40)}, want: []string{"exceeds 1000000 names"}},
		{name: "memory bomb many spans", patterns: []string{"n[" + strings.Repeat("0-999999999999999999,", 30) + "1]"}, want: []string{"exceeds"}},
		{name: "memory bomb across arguments", patterns: []string{"a[1-600000]", "b[1-400001]"}, want: []string{`"b[1-400001]"`, "exceeds 1000000 names"}},
		{name: "memory bomb counts duplicates", patterns: []string{"a[1-600000]", "a[1-400001]"}, want: []string{"exceeds 1000000 names"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Expand(tc.patterns...)
			if err == nil {
				t.Fatalf("Expand(%q) = %d names, want error", tc.patterns, len(got))
			}
			for _, frag := range tc.want {
				if !strings.Contains(err.Error(), frag) {
					t.Errorf("Expand(%q) error %q does not contain %q", tc.patterns, err, frag)
				}
			}
			if got != nil {
				t.Errorf("Expand(%q) returned names with an error", tc.patterns)
			}
		})
	}
}

func TestExpandMaxNames(t *testing.T) {
	got, err := Expand(fmt.Sprintf("n[1-%d]", MaxNames))
	if err != nil {
		t.Fatalf("Expand at the limit: %v", err)
	}
	if len(got) != MaxNames {
		t.Fatalf("got %d names, want %d", len(got), MaxNames)
	}
	if got[0] != "n1" || got[MaxNames-1] != fmt.Sprintf("n%d", MaxNames) {
		t.Errorf("got first %q last %q", got[0], got[MaxNames-1])
	}
}
