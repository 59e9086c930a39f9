package fastyaml

import (
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// scalarCtx is where a scalar is written, which decides what needs quotes.
type scalarCtx uint8

const (
	ctxValue   scalarCtx = iota // block mapping value or sequence item
	ctxKey                      // block mapping key
	ctxFlow                     // item or value inside a flow collection
	ctxFlowKey                  // key inside a flow mapping
)

// scalar writes a scalar node. A plain string is written plain only when
// Parse and yaml.v3 both read it back as that same string; otherwise it is
// double-quoted. Non-string tags must read back from their plain form, or
// the fast emitter gives up (yaml.v3 then writes an explicit tag).
func (e *encoder) scalar(n *yaml.Node, ctx scalarCtx) bool {
	e.last = endNonPlain
	if n.Kind != yaml.ScalarNode || n.Anchor != "" || n.Alias != nil {
		return false
	}
	v := n.Value
	flow := ctx >= ctxFlow
	switch n.Style {
	case 0:
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle, yaml.LiteralStyle, yaml.FoldedStyle:
		// Block scalars become double-quoted strings: the value survives,
		// and yaml.v3's block scalar writer mangles some values (leading
		// blank lines, for one).
		if n.Tag != "" && n.Tag != strTag {
			return false
		}
		if n.Style == yaml.SingleQuotedStyle && singleQuotable(v) {
			e.single(v)
			return true
		}
		return e.double(v)
	default:
		return false
	}
	switch n.Tag {
	case strTag:
		if canPlain(v, flow) && resolvePlain(v) == strTag {
			e.plain(v)
			return true
		}
		return e.double(v)
	case "":
		if canPlain(v, flow) {
			e.plain(v)
			return true
		}
		return v != "" && e.double(v)
	case nullTag, boolTag, intTag, floatTag, timestampTag, mergeTag:
		if !canPlain(v, flow) || resolvePlain(v) != n.Tag {
			return false
		}
		e.plain(v)
		return true
	}
	return false
}

func (e *encoder) plain(v string) {
	e.buf = append(e.buf, v...)
	e.last = endPlain
}

// canPlain reports whether v, written without quotes, is read back by the
// fast parser (and so by yaml.v3) as exactly v. Its resolved tag is
// checked separately.
func canPlain(v string, flow bool) bool {
	if v == "" || v[len(v)-1] == ' ' || strings.HasPrefix(v, "...") {
		return false
	}
	if c := v[0]; c < 0x80 && !plainFirst[c] {
		if c != '-' || len(v) < 2 || !(isAlnum(v[1]) || v[1] == '.') {
			return false
		}
	}
	for i := 0; i < len(v); i++ {
		if !plainAttention[v[i]] {
			continue
		}
		switch c := v[i]; {
		case c >= 0x80:
			r, size := utf8.DecodeRuneInString(v[i:])
			if size == 1 || !allowedRune(r) {
				return false
			}
			i += size - 1
		case c < 0x20 || c == 0x7f:
			return false
		case c == ':':
			if flow || i+1 == len(v) || v[i+1] == ' ' {
				return false
			}
		case c == '#':
			if flow || v[i-1] == ' ' {
				return false
			}
		case flow && (c == ',' || c == '[' || c == ']' || c == '{' || c == '}' || c == '?'):
			return false
		}
	}
	return true
}

// plainAttention marks the bytes canPlain must look at closely.
var plainAttention = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c < 0x20 || c >= 0x7f
	}
	for _, c := range ":#,[]{}?" {
		t[c] = true
	}
	return t
}()

// singleQuotable reports whether v fits in single quotes on one line.
func singleQuotable(v string) bool {
	ok, _ := validate(v)
	return ok && strings.IndexByte(v, '\n') < 0
}

func (e *encoder) single(v string) {
	e.buf = append(e.buf, '\'')
	for {
		i := strings.IndexByte(v, '\'')
		if i < 0 {
			break
		}
		e.buf = append(e.buf, v[:i+1]...)
		e.buf = append(e.buf, '\'')
		v = v[i+1:]
	}
	e.buf = append(e.buf, v...)
	e.buf = append(e.buf, '\'')
}

const hexDigits = "0123456789ABCDEF"

// double writes v double-quoted, escaping what cannot appear literally.
// Invalid UTF-8 cannot be written as a string at all.
func (e *encoder) double(v string) bool {
	b := append(e.buf, '"')
	for i := 0; i < len(v); {
		c := v[i]
		if c < 0x80 {
			i++
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20 && c < 0x7f:
				b = append(b, c)
			default:
				b = appendEscape(b, rune(c))
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(v[i:])
		if size == 1 {
			return false
		}
		if allowedRune(r) {
			b = append(b, v[i:i+size]...)
		} else {
			b = appendEscape(b, r)
		}
		i += size
	}
	e.buf = append(b, '"')
	return true
}

// appendEscape writes the escape for a character that may not appear
// literally inside double quotes.
func appendEscape(b []byte, r rune) []byte {
	switch r {
	case 0:
		return append(b, `\0`...)
	case '\a':
		return append(b, `\a`...)
	case '\b':
		return append(b, `\b`...)
	case '\t':
		return append(b, `\t`...)
	case '\n':
		return append(b, `\n`...)
	case '\v':
		return append(b, `\v`...)
	case '\f':
		return append(b, `\f`...)
	case '\r':
		return append(b, `\r`...)
	case 0x1b:
		return append(b, `\e`...)
	case 0x85:
		return append(b, `\N`...)
	case 0x2028:
		return append(b, `\L`...)
	case 0x2029:
		return append(b, `\P`...)
	}
	if r < 0x100 {
		return append(b, '\\', 'x', hexDigits[r>>4], hexDigits[r&0xf])
	}
	return append(b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}
