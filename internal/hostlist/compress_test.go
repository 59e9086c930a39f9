package hostlist

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCompress(t *testing.T) {
	tests := []struct {
		name  string
		names []string
		want  string
	}{
		{name: "empty", names: nil, want: ""},
		{name: "empty strings dropped", names: []string{"", "a", ""}, want: "a"},
		{name: "single numbered name stays plain", names: []string{"n1"}, want: "n1"},
		{name: "padded with gap", names: []string{"n001", "n002", "n003", "n005"}, want: "n[001-003,005]"},
		{name: "unpadded crossing width", names: []string{"n1", "n2", "n3", "n10"}, want: "n[1-3,10]"},
		{name: "unsorted input with duplicates", names: []string{"n3", "n1", "n2", "n1", "n3"}, want: "n[1-3]"},
		{name: "pair is a range", names: []string{"n1", "n2"}, want: "n[1-2]"},
		{name: "names without digits", names: []string{"login", "head"}, want: "head,login"},
		{name: "mixed padded widths separate", names: []string{"n01", "n02", "n001", "n002"}, want: "n[01-02],n[001-002]"},
		{name: "padded and unpadded separate", names: []string{"n1", "n2", "n01", "n02"}, want: "n[1-2],n[01-02]"},
		{name: "unpadded joins padded of its width", names: []string{"n098", "n099", "n100", "n101"}, want: "n[098-101]"},
		{
			name:  "unpadded narrower than padded stays apart",
			names: []string{"n098", "n099", "n5"},
			want:  "n5,n[098-099]",
		},
		{name: "suffix", names: []string{"n1-ib", "n2-ib", "n3-ib"}, want: "n[1-3]-ib"},
		{name: "suffix and no suffix", names: []string{"n1-ib", "n2-ib", "n1", "n2"}, want: "n[1-2],n[1-2]-ib"},
		{
			name:  "trailing-most number groups",
			names: []string{"rack1n01", "rack1n02", "rack2n01", "rack2n02"},
			want:  "rack1n[01-02],rack2n[01-02]",
		},
		{name: "natural order by prefix then number", names: []string{"b1", "a10", "a9", "a", "c"}, want: "a,a[9-10],b1,c"},
		{name: "zero", names: []string{"n0", "n1", "n00"}, want: "n[0-1],n00"},
		{name: "all digits", names: []string{"1", "2", "3"}, want: "[1-3]"},
		{name: "invalid names pass through", names: []string{"a b", "n1"}, want: "a b,n1"},
		{name: "long digit run passes through", names: []string{"n1234567890123456789", "n1234567890123456790"}, want: "n1234567890123456789,n1234567890123456790"},
		{name: "18 digits grouped", names: []string{"n100000000000000000", "n100000000000000001"}, want: "n[100000000000000000-100000000000000001]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Compress(tc.names)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Compress(%q) mismatch (-want +got):\n%s", tc.names, diff)
			}
		})
	}
}

// checkRoundTrip asserts that Expand(Compress(names)) is the set of the
// valid names in names, each once.
func checkRoundTrip(t *testing.T, names []string) {
	t.Helper()
	var want []string
	for _, n := range names {
		if validName(n) {
			want = append(want, n)
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)

	c := Compress(want)
	if len(want) == 0 {
		if c != "" {
			t.Fatalf("Compress(%q) = %q, want empty", names, c)
		}
		return
	}
	got, err := Expand(c)
	if err != nil {
		t.Fatalf("Expand(Compress(%q)) = Expand(%q): %v", names, c, err)
	}
	if len(got) != len(want) {
		t.Errorf("Expand(%q) gave %d names, want %d: Compress produced overlapping groups", c, len(got), len(want))
	}
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("Expand(Compress(%q)) via %q mismatch (-want +got):\n%s", names, c, diff)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		names []string
	}{
		{name: "padded", names: []string{"n001", "n002", "n003", "n005"}},
		{name: "widths mixed", names: []string{"n1", "n01", "n001", "n10", "n010", "n100", "n099", "n0", "n00"}},
		{name: "multi-field", names: []string{"rack1n01", "rack2n01", "rack1n02", "r1", "r1n", "rack1n1"}},
		{name: "no digits", names: []string{"a", "b", "a-b"}},
		{name: "digits only", names: []string{"0", "00", "1", "01", "10"}},
		{name: "suffixes", names: []string{"n1-ib", "n1", "n2-ib", "n2.ib", "n3:x"}},
		{name: "invalid ignored", names: []string{"n1", "n 2", "", "n[3]"}},
		{name: "long digit runs", names: []string{"n1234567890123456789", "n123456789012345678", "n0123456789012345678"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkRoundTrip(t, tc.names)
		})
	}
}

// TestRoundTripRandom checks the round-trip property on many small random
// sets drawn from an alphabet that makes prefixes, widths and runs collide.
func TestRoundTripRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	prefixes := []string{"", "n", "n1", "rack2n", "a-", "x.y"}
	suffixes := []string{"", "-ib", "b", ".x"}
	for i := range 2000 {
		names := make([]string, r.IntN(30))
		for j := range names {
			num := fmt.Sprint(r.IntN(120))
			if r.IntN(3) == 0 {
				num = strings.Repeat("0", 1+r.IntN(2)) + num
			}
			names[j] = prefixes[r.IntN(len(prefixes))] + num + suffixes[r.IntN(len(suffixes))]
		}
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkRoundTrip(t, names)
		})
	}
}
