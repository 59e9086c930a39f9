// Package hostlist expands and compresses hostlist patterns as HPC
// administrators write them: n[001-003,005], gpu[1-4], rack[1-2]n[01-02],
// n[1-2]-ib.
//
// A pattern is a comma-separated list of names; empty names between
// commas ("n01,", "a,,b") are skipped, as Warewulf does. Commas inside brackets
// belong to the bracket group, which holds a comma list of numbers and
// ranges (lo-hi). Several groups in one name expand to their cartesian
// product, leftmost group varying slowest. A number or range whose text has
// a leading zero keeps that width: [08-10] gives 08,09,10 while [8-10] gives
// 8,9,10.
//
// Names may contain only ASCII letters, digits, '-', '_', '.' and ':'.
// There are no globs or regular expressions: a '*' is an error, not a
// wildcard, so a typo can never select more nodes than written.
package hostlist

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxNames is the largest number of names one call to Expand may produce,
// counted before duplicates are removed. It keeps a short pattern such as
// n[0-999999999] from exhausting memory.
const MaxNames = 1000000

// maxDigits bounds the text of a number in a bracket group so that every
// value and every range size fits in a uint64 without overflow checks.
const maxDigits = 18

// span is one element of a bracket group: the values lo..hi, each printed
// zero-padded to width digits (width 0 means no padding).
type span struct {
	lo, hi uint64
	width  int
}

// name is one parsed comma-separated element of a pattern: literal text
// interleaved with bracket groups, len(lits) == len(groups)+1.
type name struct {
	text   string
	lits   []string
	groups [][]span
}

// Expand returns the names the patterns denote, in the order written, with
// later duplicates removed. Each pattern may itself be a comma-separated
// list. Expand returns an error naming the offending pattern for unbalanced
// or nested brackets, a pattern with no name at all ("" or ","), empty
// groups or group elements, non-numeric or
// descending ranges, characters not allowed in names, and for expansions of
// more than MaxNames names; the limit is checked before any name is built.
// With no patterns it returns nil.
func Expand(patterns ...string) ([]string, error) {
	var names []name
	total := 0
	for _, p := range patterns {
		elems, err := splitTop(p)
		if err != nil {
			return nil, err
		}
		for _, e := range elems {
			n, err := parseName(e)
			if err != nil {
				return nil, err
			}
			c, err := n.count()
			if err != nil {
				return nil, err
			}
			if c > MaxNames-total {
				return nil, fmt.Errorf("hostlist pattern %q: expansion exceeds %d names", p, MaxNames)
			}
			total += c
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	out := make([]string, 0, total)
	seen := make(map[string]struct{}, total)
	for _, n := range names {
		out = n.expand(out, seen)
	}
	return out, nil
}

// splitTop splits a pattern at commas outside brackets and checks that
// brackets are balanced and not nested. Empty names between commas are
// skipped, as Warewulf skips them ("n01," is n01), but a pattern must name
// something.
func splitTop(p string) ([]string, error) {
	var elems []string
	depth, start, open := 0, 0, 0
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '[':
			if depth > 0 {
				return nil, fmt.Errorf("hostlist pattern %q: nested '[' at column %d", p, i+1)
			}
			depth, open = 1, i
		case ']':
			if depth == 0 {
				return nil, fmt.Errorf("hostlist pattern %q: unmatched ']' at column %d", p, i+1)
			}
			depth = 0
		case ',':
			if depth == 0 {
				if i > start {
					elems = append(elems, p[start:i])
				}
				start = i + 1
			}
		}
	}
	if depth > 0 {
		return nil, fmt.Errorf("hostlist pattern %q: unclosed '[' at column %d", p, open+1)
	}
	if start < len(p) {
		elems = append(elems, p[start:])
	}
	if len(elems) == 0 {
		return nil, fmt.Errorf("hostlist pattern %q names nothing", p)
	}
	return elems, nil
}

// parseName parses one element that splitTop has already checked for
// balanced, unnested brackets.
func parseName(e string) (name, error) {
	n := name{text: e}
	lit := 0
	for i := 0; i < len(e); i++ {
		c := e[i]
		if c == '[' {
			rel := strings.IndexByte(e[i+1:], ']')
			if rel < 0 {
				// splitTop rules this out; checked so no input can panic.
				return name{}, fmt.Errorf("hostlist pattern %q: unclosed '[' at column %d", e, i+1)
			}
			end := i + 1 + rel
			g, err := parseGroup(e, e[i+1:end])
			if err != nil {
				return name{}, err
			}
			n.lits = append(n.lits, e[lit:i])
			n.groups = append(n.groups, g)
			i = end
			lit = end + 1
			continue
		}
		if !allowed(c) {
			return name{}, fmt.Errorf("hostlist pattern %q: character %q at column %d is not allowed in names (letters, digits, '-', '_', '.', ':')",
				e, badChar(e[i:]), i+1)
		}
	}
	n.lits = append(n.lits, e[lit:])
	return n, nil
}

// badChar returns the whole UTF-8 sequence starting s, so the error shows
// 'é' rather than its first byte.
func badChar(s string) string {
	for i, r := range s {
		if i > 0 {
			return s[:i]
		}
		if r == '\uFFFD' {
			return s[:1]
		}
	}
	return s
}

// allowed reports whether c may appear in a name.
func allowed(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '-' || c == '_' || c == '.' || c == ':'
}

// validName reports whether s is a name Expand could produce.
func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !allowed(s[i]) {
			return false
		}
	}
	return true
}

// parseGroup parses the text between one pair of brackets of element e.
func parseGroup(e, body string) ([]span, error) {
	if body == "" {
		return nil, fmt.Errorf("hostlist pattern %q: empty group []", e)
	}
	items := strings.Split(body, ",")
	g := make([]span, 0, len(items))
	for _, it := range items {
		if it == "" {
			return nil, fmt.Errorf("hostlist pattern %q: empty element in group [%s]", e, body)
		}
		loText, hiText, isRange := strings.Cut(it, "-")
		if !isRange {
			v, err := parseNumber(e, loText, "value")
			if err != nil {
				return nil, err
			}
			g = append(g, span{lo: v, hi: v, width: padWidth(loText)})
			continue
		}
		lo, err := parseNumber(e, loText, "range bound")
		if err != nil {
			return nil, err
		}
		hi, err := parseNumber(e, hiText, "range bound")
		if err != nil {
			return nil, err
		}
		if lo > hi {
			return nil, fmt.Errorf("hostlist pattern %q: descending range %s", e, it)
		}
		wl, wh := padWidth(loText), padWidth(hiText)
		if wl != 0 && wh != 0 && wl != wh {
			return nil, fmt.Errorf("hostlist pattern %q: range %s mixes zero-padded widths %d and %d", e, it, wl, wh)
		}
		g = append(g, span{lo: lo, hi: hi, width: max(wl, wh)})
	}
	return g, nil
}

// parseNumber parses a run of ASCII digits; what names the role of s in
// the error message.
func parseNumber(e, s, what string) (uint64, error) {
	if s == "" {
		return 0, fmt.Errorf("hostlist pattern %q: empty %s", e, what)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("hostlist pattern %q: non-numeric %s %q", e, what, s)
		}
	}
	if len(s) > maxDigits {
		return 0, fmt.Errorf("hostlist pattern %q: number %s is longer than %d digits", e, s, maxDigits)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		// Unreachable for at most maxDigits digits; kept so a change to
		// maxDigits cannot turn into a silent wrong value.
		return 0, fmt.Errorf("hostlist pattern %q: number %s: %w", e, s, err)
	}
	return v, nil
}

// padWidth is the zero-padded width the number text s asks for, or 0 when
// s has no leading zero.
func padWidth(s string) int {
	if len(s) > 1 && s[0] == '0' {
		return len(s)
	}
	return 0
}

// count returns how many names n expands to, or an error once that exceeds
// MaxNames; it never overflows because each factor is checked first.
func (n name) count() (int, error) {
	total := 1
	for _, g := range n.groups {
		size := uint64(0)
		for _, s := range g {
			size += s.hi - s.lo + 1
			if size > MaxNames {
				break
			}
		}
		if size > MaxNames || uint64(total) > MaxNames/size {
			return 0, fmt.Errorf("hostlist pattern %q: expansion exceeds %d names", n.text, MaxNames)
		}
		total *= int(size)
	}
	return total, nil
}

// expand appends n's names not yet in seen to out. Formatting every group
// value once up front costs at most the group sizes, which count has
// bounded.
func (n name) expand(out []string, seen map[string]struct{}) []string {
	vals := make([][]string, len(n.groups))
	for i, g := range n.groups {
		for _, s := range g {
			for v := s.lo; ; v++ {
				vals[i] = append(vals[i], formatNumber(v, s.width))
				if v == s.hi {
					break
				}
			}
		}
	}
	idx := make([]int, len(n.groups))
	var b strings.Builder
	for {
		b.Reset()
		for i, g := range vals {
			b.WriteString(n.lits[i])
			b.WriteString(g[idx[i]])
		}
		b.WriteString(n.lits[len(n.lits)-1])
		s := b.String()
		if _, dup := seen[s]; !dup {
			seen[s] = struct{}{}
			out = append(out, s)
		}
		// Odometer: the rightmost group turns fastest.
		i := len(idx) - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(vals[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			return out
		}
	}
}

// formatNumber prints v with at least width digits.
func formatNumber(v uint64, width int) string {
	s := strconv.FormatUint(v, 10)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}
