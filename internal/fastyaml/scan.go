package fastyaml

import (
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// plainFirst marks the ASCII bytes that may start a plain scalar anywhere
// without further look-ahead. Bytes from 0x80 up (validated UTF-8) may too.
var plainFirst = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "$()+./;<=\\^_~" {
		t[c] = true
	}
	return t
}()

// plainStop marks the bytes the plain scalar scanner must look at; all
// others simply continue the scalar.
var plainStop = func() (t [256]bool) {
	for _, c := range "\n\r :,[]{}?" {
		t[c] = true
	}
	return t
}()

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// plain scans a plain scalar at p.pos on the current line and returns its
// value (trailing spaces trimmed) and what stopped it: ':' (a value
// indicator, p.pos on it), '#' (a comment, p.pos on the space before it),
// '\n' (end of line), or in flow context one of ",[]{}".
func (p *parser) plain(flow bool) (v string, stop byte, ok bool) {
	s := p.src
	start := p.pos
	c := s[start]
	if c < 0x80 && !plainFirst[c] {
		// "-1", "-foo", "-.inf" are plain; other uses of '-' are left alone.
		if c != '-' || start+1 >= len(s) || !(isAlnum(s[start+1]) || s[start+1] == '.') {
			return "", 0, false
		}
	}
	i, end := start+1, start+1
	for i < len(s) {
		if !plainStop[s[i]] {
			i++
			end = i
			continue
		}
		switch c := s[i]; c {
		case '\n', '\r':
			p.pos = i
			return s[start:end], '\n', true
		case ' ':
			if i+1 < len(s) && s[i+1] == '#' {
				if flow {
					return "", 0, false
				}
				p.pos = i
				return s[start:end], '#', true
			}
			i++
			continue
		case ':':
			if i+1 == len(s) || s[i+1] == ' ' || s[i+1] == '\n' || s[i+1] == '\r' {
				p.pos = i
				return s[start:end], ':', true
			}
			if flow {
				return "", 0, false
			}
		case ',', '[', ']', '{', '}':
			if flow {
				p.pos = i
				return s[start:end], c, true
			}
		case '?':
			if flow {
				return "", 0, false
			}
		}
		i++
		end = i
	}
	p.pos = i
	return s[start:end], '\n', true
}

// quoted scans a single- or double-quoted scalar that ends on its own line.
func (p *parser) quoted() (*yaml.Node, bool) {
	line, col := p.line, p.column(p.pos)
	s := p.src
	q := s[p.pos]
	start := p.pos + 1
	i := start
	simple := true // no escapes: the value is a substring of the input
	for {
		if i >= len(s) {
			return nil, false
		}
		c := s[i]
		if c == q {
			if q == '\'' && i+1 < len(s) && s[i+1] == '\'' {
				simple = false
				i += 2
				continue
			}
			break
		}
		switch c {
		case '\n', '\r':
			return nil, false
		case '\\':
			if q == '"' {
				simple = false
				i++ // the escaped byte is checked when decoding
			}
		}
		i++
	}
	p.pos = i + 1
	raw := s[start:i]
	if simple {
		if q == '\'' {
			return p.scalar(raw, yaml.SingleQuotedStyle, line, col), true
		}
		return p.scalar(raw, yaml.DoubleQuotedStyle, line, col), true
	}
	if q == '\'' {
		b := p.buf[:0]
		for j := 0; j < len(raw); j++ {
			b = append(b, raw[j])
			if raw[j] == '\'' {
				j++
			}
		}
		p.buf = b
		return p.scalar(string(b), yaml.SingleQuotedStyle, line, col), true
	}
	v, ok := p.unescape(raw)
	if !ok {
		return nil, false
	}
	return p.scalar(v, yaml.DoubleQuotedStyle, line, col), true
}

// unescape decodes the escapes yaml.v3 accepts in a one-line double-quoted
// scalar. Escaped line breaks and tabs never reach it.
func (p *parser) unescape(raw string) (string, bool) {
	b := p.buf[:0]
	for j := 0; j < len(raw); j++ {
		c := raw[j]
		if c != '\\' {
			b = append(b, c)
			continue
		}
		j++
		if j >= len(raw) {
			return "", false
		}
		width := 0
		switch raw[j] {
		case '0':
			b = append(b, 0)
		case 'a':
			b = append(b, '\a')
		case 'b':
			b = append(b, '\b')
		case 't':
			b = append(b, '\t')
		case 'n':
			b = append(b, '\n')
		case 'v':
			b = append(b, '\v')
		case 'f':
			b = append(b, '\f')
		case 'r':
			b = append(b, '\r')
		case 'e':
			b = append(b, 0x1b)
		case ' ', '"', '\'', '\\':
			b = append(b, raw[j])
		case 'N':
			b = append(b, "\u0085"...)
		case '_':
			b = append(b, "\u00a0"...)
		case 'L':
			b = append(b, "\u2028"...)
		case 'P':
			b = append(b, "\u2029"...)
		case 'x':
			width = 2
		case 'u':
			width = 4
		case 'U':
			width = 8
		default:
			return "", false
		}
		if width == 0 {
			continue
		}
		if j+width >= len(raw) {
			return "", false
		}
		r := rune(0)
		for k := 1; k <= width; k++ {
			d := unhex(raw[j+k])
			if d < 0 {
				return "", false
			}
			r = r<<4 | rune(d)
		}
		if r >= 0xD800 && r <= 0xDFFF || r > utf8.MaxRune {
			return "", false
		}
		b = utf8.AppendRune(b, r)
		j += width
	}
	p.buf = b
	return string(b), true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// flow parses a flow collection that opens at p.pos and closes on the same
// line.
func (p *parser) flow() (*yaml.Node, bool) {
	if !p.enter() {
		return nil, false
	}
	n := p.arena.node()
	n.Line, n.Column, n.Style = p.line, p.column(p.pos), yaml.FlowStyle
	closer := byte(']')
	if p.src[p.pos] == '{' {
		n.Kind, n.Tag, closer = yaml.MappingNode, mapTag, '}'
	} else {
		n.Kind, n.Tag = yaml.SequenceNode, seqTag
	}
	base := len(p.stack)
	p.pos++
	p.skipSpaces()
	if p.pos < len(p.src) && p.src[p.pos] == closer {
		p.pos++
		p.depth--
		return n, true
	}
	for {
		if closer == '}' {
			key, ok := p.flowKey()
			if !ok {
				return nil, false
			}
			p.stack = append(p.stack, key)
		}
		v, ok := p.flowItem()
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, v)
		p.skipSpaces()
		if p.pos >= len(p.src) {
			return nil, false
		}
		if c := p.src[p.pos]; c == closer {
			p.pos++
			break
		} else if c != ',' {
			return nil, false
		}
		p.pos++
		p.skipSpaces()
		if p.pos >= len(p.src) || p.src[p.pos] == closer {
			return nil, false
		}
	}
	n.Content = p.collect(base)
	p.depth--
	return n, true
}

// flowKey scans a scalar key in a flow mapping and the ': ' after it.
func (p *parser) flowKey() (*yaml.Node, bool) {
	start := p.pos
	if start >= len(p.src) {
		return nil, false
	}
	var key *yaml.Node
	switch p.src[p.pos] {
	case '"', '\'':
		k, ok := p.quoted()
		if !ok {
			return nil, false
		}
		p.skipSpaces()
		key = k
	case '[', '{':
		return nil, false
	default:
		line, col := p.line, p.column(start)
		v, stop, ok := p.plain(true)
		if !ok || stop != ':' {
			return nil, false
		}
		key = p.scalar(v, 0, line, col)
	}
	if p.pos+1 >= len(p.src) || p.src[p.pos] != ':' || p.src[p.pos+1] != ' ' || p.pos-start > maxKeyLen {
		return nil, false
	}
	p.pos += 2
	p.skipSpaces()
	return key, true
}

// flowItem scans a value inside a flow collection.
func (p *parser) flowItem() (*yaml.Node, bool) {
	if p.pos >= len(p.src) {
		return nil, false
	}
	var n *yaml.Node
	switch p.src[p.pos] {
	case '[', '{':
		f, ok := p.flow()
		if !ok {
			return nil, false
		}
		n = f
	case '"', '\'':
		q, ok := p.quoted()
		if !ok {
			return nil, false
		}
		n = q
	default:
		line, col := p.line, p.column(p.pos)
		v, stop, ok := p.plain(true)
		if !ok || stop == ':' || stop == '\n' || stop == '#' {
			return nil, false
		}
		return p.scalar(v, 0, line, col), true
	}
	p.skipSpaces()
	if p.pos < len(p.src) && p.src[p.pos] == ':' {
		return nil, false
	}
	return n, true
}
