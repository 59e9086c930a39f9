package fastyaml

import (
	"strconv"
	"strings"
	"time"
)

// Short tags as yaml.v3 reports them on decoded nodes.
const (
	nullTag      = "!!null"
	boolTag      = "!!bool"
	strTag       = "!!str"
	intTag       = "!!int"
	floatTag     = "!!float"
	timestampTag = "!!timestamp"
	seqTag       = "!!seq"
	mapTag       = "!!map"
	mergeTag     = "!!merge"
)

// resolvePlain returns the tag yaml.v3 gives a plain (unquoted, untagged)
// scalar with value s. It follows yaml.v3's decision order exactly, because
// the order is what makes oddities such as "09" (a float) or "0b-1" (an int)
// come out the same; the cheap pre-checks only skip work that cannot change
// the answer.
func resolvePlain(s string) string {
	switch s {
	case "true", "True", "TRUE", "false", "False", "FALSE":
		return boolTag
	case "", "~", "null", "Null", "NULL":
		return nullTag
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF",
		"+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return floatTag
	case "<<":
		return mergeTag
	}
	switch c := s[0]; {
	case c == '.':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return floatTag
		}
		return strTag
	case c == '+' || c == '-' || (c >= '0' && c <= '9'):
		return resolveNumeric(s)
	}
	return strTag
}

// resolveNumeric handles the scalars yaml.v3 hints as digit or sign.
func resolveNumeric(s string) string {
	if looksLikeDate(s) {
		// yaml.v3's layouts, in its order.
		for _, layout := range [...]string{
			"2006-1-2T15:4:5.999999999Z07:00",
			"2006-1-2t15:4:5.999999999Z07:00",
			"2006-1-2 15:4:5.999999999",
			"2006-1-2",
		} {
			if _, err := time.Parse(layout, s); err == nil {
				return timestampTag
			}
		}
	}
	// Every remaining candidate form (ints in any base, YAML floats) uses
	// only these bytes and at most one dot, so anything else, such as an
	// IP address or a MAC address, is a string without trying to parse it.
	dots := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F',
			c == 'x', c == 'X', c == 'o', c == 'O', c == '+', c == '-', c == '_':
		case c == '.':
			dots++
		default:
			return strTag
		}
	}
	if dots > 1 {
		return strTag
	}
	plain := s
	if strings.IndexByte(s, '_') >= 0 {
		plain = strings.ReplaceAll(s, "_", "")
	}
	if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
		return intTag
	}
	if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
		return intTag
	}
	if isYAMLFloat(plain) {
		if _, err := strconv.ParseFloat(plain, 64); err == nil {
			return floatTag
		}
	}
	// yaml.v3 retries binary and octal prefixes by hand, which also accepts
	// a sign after the prefix ("0b-1").
	var digits string
	base := 0
	switch {
	case strings.HasPrefix(plain, "0b"):
		digits, base = plain[2:], 2
	case strings.HasPrefix(plain, "-0b"):
		digits, base = "-"+plain[3:], 2
	case strings.HasPrefix(plain, "0o"):
		digits, base = plain[2:], 8
	case strings.HasPrefix(plain, "-0o"):
		digits, base = "-"+plain[3:], 8
	}
	if base != 0 {
		if _, err := strconv.ParseInt(digits, base, 64); err == nil {
			return intTag
		}
		if digits == "" || digits[0] != '-' {
			if _, err := strconv.ParseUint(digits, base, 64); err == nil {
				return intTag
			}
		}
	}
	return strTag
}

// looksLikeDate reports whether s starts with four digits and a dash, the
// only shape any timestamp layout can match.
func looksLikeDate(s string) bool {
	if len(s) < 5 || s[4] != '-' {
		return false
	}
	for i := 0; i < 4; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isYAMLFloat matches ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$.
func isYAMLFloat(s string) bool {
	i := 0
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	} else {
		if digits() == 0 {
			return false
		}
		if i < len(s) && s[i] == '.' {
			i++
			digits()
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '-' || s[i] == '+') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}
