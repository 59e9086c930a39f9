package hostlist

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// stem identifies names that can share one bracket group: the text around
// the last run of digits, and the zero-padded width (0 for unpadded).
type stem struct {
	prefix, suffix string
	width          int
}

// element is one comma-separated piece of Compress's output with the keys
// it sorts by.
type element struct {
	prefix, suffix string
	hasNum         bool
	min            uint64
	width          int
	text           string
}

// Compress returns a short pattern that Expand turns back into names: names
// that differ only in their last run of digits, with the same zero-padded
// width, share one bracket group of ranges, so n001,n002,n003,n005 becomes
// n[001-003,005]. Unpadded numbers with as many digits as a padded group
// join it (n099,n100 becomes n[099-100]). Duplicates and empty strings are
// dropped, and the pieces are sorted by prefix, then number.
//
// For names Expand accepts, Expand(Compress(names)) yields each distinct
// name exactly once. Other names, and names whose last digit run is longer
// than Expand accepts in a group, are passed through verbatim.
func Compress(names []string) string {
	type entry struct {
		val    uint64
		ndig   int
		padded bool
	}
	plain := make(map[string]struct{})
	byAffix := make(map[[2]string][]entry)
	for _, s := range names {
		if s == "" {
			continue
		}
		pre, digits, suf, ok := splitLastNumber(s)
		if !ok {
			plain[s] = struct{}{}
			continue
		}
		v, _ := strconv.ParseUint(digits, 10, 64) // splitLastNumber checked the digits
		k := [2]string{pre, suf}
		byAffix[k] = append(byAffix[k], entry{val: v, ndig: len(digits), padded: padWidth(digits) != 0})
	}

	groups := make(map[stem][]uint64)
	for k, entries := range byAffix {
		padded := make(map[int]bool)
		for _, e := range entries {
			if e.padded {
				padded[e.ndig] = true
			}
		}
		for _, e := range entries {
			st := stem{prefix: k[0], suffix: k[1]}
			if padded[e.ndig] {
				// An unpadded number as wide as a padded group prints
				// the same in it, and one bracket reads better than two.
				st.width = e.ndig
			}
			groups[st] = append(groups[st], e.val)
		}
	}

	elems := make([]element, 0, len(plain)+len(groups))
	for s := range plain {
		elems = append(elems, element{prefix: s, text: s})
	}
	for st, vals := range groups {
		slices.Sort(vals)
		vals = slices.Compact(vals)
		elems = append(elems, element{
			prefix: st.prefix,
			suffix: st.suffix,
			hasNum: true,
			min:    vals[0],
			width:  st.width,
			text:   renderGroup(st, vals),
		})
	}
	slices.SortFunc(elems, compareElements)

	var b strings.Builder
	for i, e := range elems {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.text)
	}
	return b.String()
}

func compareElements(a, b element) int {
	if c := strings.Compare(a.prefix, b.prefix); c != 0 {
		return c
	}
	if a.hasNum != b.hasNum {
		if !a.hasNum {
			return -1
		}
		return 1
	}
	return cmp.Or(
		cmp.Compare(a.min, b.min),
		cmp.Compare(a.width, b.width),
		strings.Compare(a.suffix, b.suffix),
		strings.Compare(a.text, b.text),
	)
}

// splitLastNumber splits a valid name around its last run of digits. It
// reports false for names Expand would reject, names without digits, and
// digit runs too long for a bracket group; those pass through verbatim.
// Because the run is maximal, pre never ends in a digit and suf holds
// none, so different stems can never expand to the same name.
func splitLastNumber(s string) (pre, digits, suf string, ok bool) {
	if !validName(s) {
		return "", "", "", false
	}
	end := len(s)
	for end > 0 && !isDigit(s[end-1]) {
		end--
	}
	if end == 0 {
		return "", "", "", false
	}
	start := end - 1
	for start > 0 && isDigit(s[start-1]) {
		start--
	}
	if end-start > maxDigits {
		return "", "", "", false
	}
	return s[:start], s[start:end], s[end:], true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// renderGroup writes sorted, distinct vals as prefix[ranges]suffix, or as
// a plain name when there is only one value.
func renderGroup(st stem, vals []uint64) string {
	var b strings.Builder
	b.WriteString(st.prefix)
	if len(vals) == 1 {
		b.WriteString(formatNumber(vals[0], st.width))
		b.WriteString(st.suffix)
		return b.String()
	}
	b.WriteByte('[')
	for i := 0; i < len(vals); {
		j := i
		for j+1 < len(vals) && vals[j+1] == vals[j]+1 {
			j++
		}
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(formatNumber(vals[i], st.width))
		if j > i {
			b.WriteByte('-')
			b.WriteString(formatNumber(vals[j], st.width))
		}
		i = j + 1
	}
	b.WriteByte(']')
	b.WriteString(st.suffix)
	return b.String()
}
