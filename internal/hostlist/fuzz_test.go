package hostlist

import (
	"fmt"
	"strings"
	"testing"
)

func FuzzExpand(f *testing.F) {
	for _, s := range []string{
		"n[001-003,005]",
		"gpu[1-4]",
		"rack[1-2]n[01-02]",
		"n[1-2]-ib",
		"n[8-10],n[08-10]",
		"n[098-101]",
		"n[1-010]",
		"a,b,c",
		"[0-9][0-9]",
		"n[00]",
		"a.b:c_d-e",
		"n[3,1-3],n2",
		"n[5-1]",
		"n[]",
		"n[1,,2]",
		"n[1[2]]",
		"n[1-2",
		"n1]",
		"a,,b",
		"a,",
		"n[a-b]",
		"n[-]",
		"n[01-0100]",
		"n[0-999999999999999999]",
		"n[1234567890123456789]",
		"n *",
		"nœud",
		"\xff",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, pattern string) {
		names, err := Expand(pattern)
		if err != nil {
			if names != nil {
				t.Fatalf("Expand(%q) returned names with error %v", pattern, err)
			}
			return
		}
		if len(names) == 0 || len(names) > MaxNames {
			t.Fatalf("Expand(%q) = %d names without error", pattern, len(names))
		}
		seen := make(map[string]bool, len(names))
		for _, n := range names {
			if !validName(n) {
				t.Fatalf("Expand(%q) produced invalid name %q", pattern, n)
			}
			if seen[n] {
				t.Fatalf("Expand(%q) produced %q twice", pattern, n)
			}
			seen[n] = true
		}
		// Round-tripping a huge expansion would slow the fuzzer to a crawl
		// and finds nothing a small one would not.
		if len(names) <= 10000 {
			checkRoundTrip(t, names)
		}
	})
}

func FuzzCompress(f *testing.F) {
	f.Add("n001\nn002\nn003\nn005")
	f.Add("n1\nn2\nn3\nn10")
	f.Add("n01\nn1\nn001\nn099\nn100")
	f.Add("rack1n01\nrack2n01\nlogin\nn1-ib")
	f.Add("0\n00\n1\n\n")
	f.Add("n1234567890123456789\nn123456789012345678")
	f.Add("a b\nn[1]\nn,2\n\xff")
	f.Fuzz(func(t *testing.T, list string) {
		names := strings.Split(list, "\n")
		checkRoundTrip(t, names)
		// Compress must also accept names it cannot group without panicking.
		_ = Compress(names)
	})
}

func BenchmarkExpand(b *testing.B) {
	for b.Loop() {
		if _, err := Expand("n[00001-10000]"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompress(b *testing.B) {
	names := make([]string, 10000)
	for i := range names {
		// Gaps every 7 names keep the output from being one trivial range.
		names[i] = fmt.Sprintf("n%05d", i+i/7)
	}
	for b.Loop() {
		_ = Compress(names)
	}
}
