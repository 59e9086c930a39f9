package fastyaml

import (
	"strings"
	"testing"
)

// FuzzParseGenerated feeds checkParse with block YAML built from the fuzz
// input by a small grammar, so that most inputs reach the fast path and its
// comment placement rather than dying as syntax errors.
func FuzzParseGenerated(f *testing.F) {
	for _, seed := range []string{"", "\x01\x02\x03", "\xff\x10\x20\x30\x40\x50\x60\x70", "abcdefghijklmnop", "\x05\x05\x05\x05\x05\x05\x05\x05\x05"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &yamlGen{data: data}
		g.document()
		checkParse(t, []byte(g.b.String()))
	})
}

// yamlGen turns bytes into YAML text; every choice consumes one byte, and
// running out of bytes picks the first choice.
type yamlGen struct {
	data   []byte
	i      int
	b      strings.Builder
	indent []int // indents of the open block collections
	nodes  int
	crlf   bool
}

func (g *yamlGen) next(n int) int {
	if g.i >= len(g.data) {
		return 0
	}
	c := int(g.data[g.i])
	g.i++
	return c % n
}

var (
	genKeys = []string{"a", "b", "network devices", "ipaddr", "\"quoted key\"", "'it''s'", "1", "~", "true", "key:x", "k #h", "é"}
	genVals = []string{"x", "1", "-2", "0x1F", "1e3", ".inf", "yes", "~", "null", "\"q\"", "'s'", "\"a\\tb\"",
		"00:11:22:33:44:55", "10.0.0.1", "a b", "a#b", "[a, b]", "{k: v, l: [1, 2]}", "[]", "{}", "\"\"", "2001-12-14", "-foo", "x  "}
	genComments = []string{"# c", "#", "# a: b", "#   spaced  "}
)

func (g *yamlGen) line(indent int, s string) {
	g.b.WriteString(strings.Repeat(" ", indent))
	g.b.WriteString(s)
	if g.crlf {
		g.b.WriteString("\r")
	}
	g.b.WriteString("\n")
}

// comments writes zero or more comment lines and blank lines, at the given
// indent or at the indent of some open collection.
func (g *yamlGen) comments(indent int) {
	for g.next(3) == 1 {
		switch g.next(5) {
		case 0:
			g.b.WriteString("\n")
		case 4:
			g.line(g.next(7), genComments[g.next(len(genComments))])
		case 1:
			col := indent
			if len(g.indent) > 0 {
				col = g.indent[g.next(len(g.indent))]
			}
			g.line(col, genComments[g.next(len(genComments))])
		default:
			g.line(indent, genComments[g.next(len(genComments))])
		}
	}
}

func (g *yamlGen) document() {
	g.crlf = g.next(8) == 7
	g.comments(0)
	if g.next(6) == 5 {
		g.line(0, "---")
	}
	indent := g.next(3)
	if g.next(4) == 3 {
		g.sequence(indent, 0)
	} else {
		g.mapping(indent, 0)
	}
	g.comments(0)
	if g.next(4) == 3 {
		g.b.WriteString("# end")
	}
}

func (g *yamlGen) mapping(indent, depth int) {
	g.indent = append(g.indent, indent)
	defer func() { g.indent = g.indent[:len(g.indent)-1] }()
	n := 1 + g.next(3)
	for i := 0; i < n && g.nodes < 60; i++ {
		g.nodes++
		if i > 0 {
			g.comments(indent)
		}
		key := genKeys[g.next(len(genKeys))] + ":"
		g.value(key, indent, depth)
	}
}

func (g *yamlGen) sequence(indent, depth int) {
	g.indent = append(g.indent, indent)
	defer func() { g.indent = g.indent[:len(g.indent)-1] }()
	n := 1 + g.next(3)
	for i := 0; i < n && g.nodes < 60; i++ {
		g.nodes++
		if i > 0 {
			g.comments(indent)
		}
		if depth < 4 && g.next(4) == 3 {
			// "- key: value" with the mapping continuing below
			g.b.WriteString(strings.Repeat(" ", indent) + "- ")
			inner := indent + 2
			g.indent = append(g.indent, inner)
			key := genKeys[g.next(len(genKeys))] + ":"
			g.valueRest(key, inner, depth+1)
			if g.next(2) == 1 {
				g.comments(inner)
				g.value(genKeys[g.next(len(genKeys))]+":", inner, depth+1)
			}
			g.indent = g.indent[:len(g.indent)-1]
			continue
		}
		g.value("-", indent, depth)
	}
}

// value writes "prefix value" at indent, where prefix is "key:" or "-".
func (g *yamlGen) value(prefix string, indent, depth int) {
	g.b.WriteString(strings.Repeat(" ", indent))
	g.valueRest(prefix, indent, depth)
}

func (g *yamlGen) valueRest(prefix string, indent, depth int) {
	choice := g.next(8)
	if depth >= 4 {
		choice %= 4
	}
	switch choice {
	case 0, 1, 2:
		s := prefix + " " + genVals[g.next(len(genVals))]
		if g.next(3) == 2 {
			s += " " + genComments[g.next(len(genComments))]
		}
		g.line(0, s)
	case 3:
		g.line(0, prefix)
	case 4, 5:
		s := prefix
		if g.next(3) == 2 {
			s += " " + genComments[g.next(len(genComments))]
		}
		g.line(0, s)
		g.comments(indent + 2)
		g.mapping(indent+1+g.next(3), depth+1)
	default:
		g.line(0, prefix)
		g.comments(indent + 2)
		child := indent + 2
		if prefix != "-" && g.next(2) == 1 {
			child = indent // indentless
		}
		g.sequence(child, depth+1)
	}
}
