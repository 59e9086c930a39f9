package fastyaml

import (
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// The fast parser works line by line over one string copy of the input, so
// unescaped values are substrings of it and cost no allocation. Every
// function returns ok=false as soon as the input leaves the recognised
// subset; Parse then asks yaml.v3, which also produces the error messages.

const (
	// maxDepth bounds recursion; deeper documents are yaml.v3's problem,
	// and it has its own limit.
	maxDepth = 256
	// maxKeyLen keeps keys below yaml.v3's 1024-character limit for
	// implicit keys, where it starts to reject documents.
	maxKeyLen = 1000
)

// level is one open block collection, used to place foot comments.
type level struct {
	col        int        // byte column of its keys or dashes
	indentless bool       // a sequence at its parent key's own column
	last       *yaml.Node // most recent key, or most recent scalar item
}

type parser struct {
	src       string
	pos       int
	line      int // 1-based line of pos
	lineStart int // offset where the current line starts
	ascii     bool

	// indent is the byte column of the content line found by scanGap,
	// or -1 at the end of the input.
	indent int
	colon  int // offset of the ':' of the last key scanned
	// started is set once the optional leading "---" has been looked for.
	started bool
	// noFoot refuses foot comments, for gaps where yaml.v3 would give
	// them to an empty value rather than to an entry.
	noFoot bool
	// strictFoot accepts foot comments only when deeper than the next
	// content line.
	strictFoot bool
	depth      int

	levels []level
	head   string // comment block waiting for the next key or item
	foot   []string

	// scratch for comment lines between content lines
	groups        []group
	trailingBlank bool

	stack []*yaml.Node // children of the collections being built
	arena arena
	buf   []byte
}

// parseFast returns the document, or nil when the input is not in the
// subset the fast path handles exactly like yaml.v3.
func parseFast(data []byte) *yaml.Node {
	if len(data) == 0 {
		return nil
	}
	p := &parser{src: string(data), line: 1}
	ok, ascii := validate(p.src)
	if !ok {
		return nil
	}
	p.ascii = ascii
	p.arena.init(p.src)
	doc, ok := p.document()
	if !ok {
		return nil
	}
	return doc
}

func (p *parser) document() (*yaml.Node, bool) {
	doc := p.arena.node()
	doc.Kind = yaml.DocumentNode
	if !p.scanGap() || p.indent < 0 {
		return nil, false
	}
	p.started = true
	explicit := false
	if p.indent == 0 && p.hasPrefix("---") && p.blankOrEnd(p.pos+3) {
		// Comments around an explicit start attach differently in yaml.v3;
		// only the plain case is handled here.
		if len(p.groups) > 0 {
			return nil, false
		}
		explicit = true
		doc.Line, doc.Column = p.line, 1
		p.pos += 3
		p.skipSpaces()
		if !p.atEOL() {
			return nil, false
		}
		p.endLine()
		if !p.scanGap() || p.indent < 0 {
			return nil, false
		}
		if len(p.groups) > 1 {
			return nil, false
		}
		if len(p.groups) == 1 {
			g := &p.groups[0]
			if g.blankBefore || p.trailingBlank || g.col != p.indent {
				return nil, false
			}
			p.head = p.groupText(g)
		}
	} else if !p.distributeStart(doc) {
		return nil, false
	}
	root, ok := p.blockNode()
	if !ok || p.indent >= 0 || p.head != "" {
		return nil, false
	}
	if !explicit {
		doc.Line, doc.Column = root.Line, root.Column
	}
	doc.Content = p.arena.ptrs1(root)
	if len(p.foot) > 0 {
		doc.FootComment = joinBlank(p.foot)
	}
	return doc, true
}

// blockNode parses the block collection starting at p.pos, the first
// content of a line indented by p.indent.
func (p *parser) blockNode() (*yaml.Node, bool) {
	col := p.indent
	if p.isSeqEntry() {
		return p.blockSeq(col, false)
	}
	key, isKey, ok := p.item()
	if !ok || !isKey {
		return nil, false
	}
	p.takeHead(key)
	return p.blockMapping(col, key)
}

// blockMapping parses a block mapping whose keys sit at byte column col and
// whose first key has just been scanned, with p.pos after its ':'.
func (p *parser) blockMapping(col int, key *yaml.Node) (*yaml.Node, bool) {
	if !p.enter() {
		return nil, false
	}
	m := p.arena.node()
	m.Kind, m.Tag, m.Line, m.Column = yaml.MappingNode, mapTag, key.Line, key.Column
	base := len(p.stack)
	li := len(p.levels)
	p.levels = append(p.levels, level{col: col})
	for {
		p.levels[li].last = key
		p.stack = append(p.stack, key)
		val, ok := p.mappingValue(col, key)
		if !ok {
			return nil, false
		}
		p.stack = append(p.stack, val)
		if p.indent != col {
			break
		}
		if p.isSeqEntry() {
			return nil, false
		}
		var isKey bool
		key, isKey, ok = p.item()
		if !ok || !isKey {
			return nil, false
		}
		p.takeHead(key)
	}
	if p.indent > col {
		return nil, false
	}
	m.Content = p.collect(base)
	p.levels = p.levels[:li]
	p.depth--
	return m, true
}

// mappingValue parses what follows a key's ':' at p.pos and leaves the
// parser on the next content line.
func (p *parser) mappingValue(col int, key *yaml.Node) (*yaml.Node, bool) {
	colon, line := p.colon, p.line
	p.skipSpaces()
	if p.atEOL() || p.src[p.pos] == '#' {
		if !p.atEOL() {
			key.LineComment = p.lineComment()
		}
		nullCol := p.column(colon) + 1
		p.endLine()
		if !p.nextContentNoFoot() {
			return nil, false
		}
		switch {
		case p.indent > col:
			return p.blockNode()
		case p.indent == col && p.isSeqEntry():
			return p.blockSeq(col, true)
		}
		return p.null(line, nullCol), true
	}
	if p.isSeqEntry() {
		return nil, false
	}
	val, isKey, ok := p.item()
	if !ok || isKey || !p.finishLine(val) || p.indent > col {
		return nil, false
	}
	return val, true
}

// blockSeq parses a block sequence whose dashes sit at byte column col,
// starting at the first dash. An indentless sequence shares its column
// with the key that owns it.
func (p *parser) blockSeq(col int, indentless bool) (*yaml.Node, bool) {
	if !p.enter() {
		return nil, false
	}
	s := p.arena.node()
	s.Kind, s.Tag, s.Line, s.Column = yaml.SequenceNode, seqTag, p.line, p.column(p.pos)
	base := len(p.stack)
	li := len(p.levels)
	p.levels = append(p.levels, level{col: col, indentless: indentless})
	for {
		head := p.head
		p.head = ""
		p.levels[li].last = nil
		dash, line := p.pos, p.line
		p.pos++
		p.skipSpaces()
		var item *yaml.Node
		switch {
		case p.atEOL() || p.src[p.pos] == '#':
			if !p.atEOL() || head != "" {
				return nil, false
			}
			nullCol := p.column(dash) + 1
			p.endLine()
			if !p.nextContentNoFoot() {
				return nil, false
			}
			if p.indent > col {
				n, ok := p.blockNode()
				if !ok {
					return nil, false
				}
				item = n
			} else {
				item = p.null(line, nullCol)
			}
		case p.isSeqEntry():
			if head != "" {
				return nil, false
			}
			n, ok := p.blockSeq(p.pos-p.lineStart, false)
			if !ok {
				return nil, false
			}
			item = n
		default:
			inner := p.pos - p.lineStart
			n, isKey, ok := p.item()
			if !ok {
				return nil, false
			}
			if isKey {
				m, ok := p.blockMapping(inner, n)
				if !ok {
					return nil, false
				}
				m.HeadComment = head
				item = m
				break
			}
			n.HeadComment = head
			if n.Kind == yaml.ScalarNode {
				p.levels[li].last = n
			}
			if !p.finishLine(n) || p.indent > col {
				return nil, false
			}
			item = n
		}
		p.stack = append(p.stack, item)
		if p.indent != col || !p.isSeqEntry() {
			break
		}
	}
	if p.indent > col {
		return nil, false
	}
	s.Content = p.collect(base)
	p.levels = p.levels[:li]
	p.depth--
	return s, true
}

// item scans the node starting at p.pos inside a line: a flow collection or
// a scalar. A scalar followed by ': ' is a mapping key; then isKey is set and
// p.pos is just after the ':'.
func (p *parser) item() (n *yaml.Node, isKey, ok bool) {
	start := p.pos
	switch p.src[p.pos] {
	case '[', '{':
		n, ok = p.flow()
		if !ok {
			return nil, false, false
		}
		p.skipSpaces()
		if p.pos < len(p.src) && p.src[p.pos] == ':' {
			return nil, false, false
		}
		return n, false, true
	case '"', '\'':
		n, ok = p.quoted()
		if !ok {
			return nil, false, false
		}
		p.skipSpaces()
		if p.pos == len(p.src) || p.src[p.pos] != ':' {
			return n, false, true
		}
	default:
		line, col := p.line, p.column(start)
		v, stop, ok := p.plain(false)
		if !ok {
			return nil, false, false
		}
		n = p.scalar(v, 0, line, col)
		if stop != ':' {
			return n, false, true
		}
	}
	// p.pos is at ':'
	if p.pos-start > maxKeyLen || !p.blankOrEnd(p.pos+1) {
		return nil, false, false
	}
	p.colon = p.pos
	p.pos++
	return n, true, true
}

// finishLine consumes the rest of a line after an inline value n: spaces,
// an optional comment that becomes n's line comment, the line break and
// the gap up to the next content line.
func (p *parser) finishLine(n *yaml.Node) bool {
	p.skipSpaces()
	if !p.atEOL() {
		// yaml.v3 takes '#' right after a closing quote as a comment; the
		// fast path insists on the space YAML requires.
		if p.src[p.pos] != '#' || p.src[p.pos-1] != ' ' {
			return false
		}
		n.LineComment = p.lineComment()
	}
	p.endLine()
	// After a quoted scalar, a flow collection or a line comment yaml.v3
	// reads a comment below the line as if a blank line came first, unless
	// it is indented deeper than what follows.
	p.strictFoot = n.Kind != yaml.ScalarNode || n.Style != 0 || n.LineComment != ""
	ok := p.nextContent()
	p.strictFoot = false
	return ok
}

func (p *parser) enter() bool {
	p.depth++
	return p.depth <= maxDepth
}

func (p *parser) takeHead(n *yaml.Node) {
	if p.head != "" {
		n.HeadComment = p.head
		p.head = ""
	}
}

// scalar makes a scalar node, resolving the tag of plain ones.
func (p *parser) scalar(v string, style yaml.Style, line, col int) *yaml.Node {
	n := p.arena.node()
	n.Kind, n.Value, n.Style, n.Line, n.Column = yaml.ScalarNode, v, style, line, col
	if style == 0 {
		n.Tag = resolvePlain(v)
	} else {
		n.Tag = strTag
	}
	return n
}

func (p *parser) null(line, col int) *yaml.Node {
	n := p.arena.node()
	n.Kind, n.Tag, n.Line, n.Column = yaml.ScalarNode, nullTag, line, col
	return n
}

// collect moves the children pushed since base into their own slice.
func (p *parser) collect(base int) []*yaml.Node {
	c := p.arena.ptrs(p.stack[base:])
	p.stack = p.stack[:base]
	return c
}

// column converts an offset on the current line to yaml.v3's 1-based
// column, which counts characters rather than bytes.
func (p *parser) column(pos int) int {
	if p.ascii {
		return pos - p.lineStart + 1
	}
	return utf8.RuneCountInString(p.src[p.lineStart:pos]) + 1
}

func (p *parser) skipSpaces() {
	for p.pos < len(p.src) && p.src[p.pos] == ' ' {
		p.pos++
	}
}

func (p *parser) atEOL() bool {
	return p.pos == len(p.src) || p.src[p.pos] == '\n' || p.src[p.pos] == '\r'
}

// blankOrEnd reports whether offset i is a space, a line end or the end.
func (p *parser) blankOrEnd(i int) bool {
	return i >= len(p.src) || p.src[i] == ' ' || p.src[i] == '\n' || p.src[i] == '\r'
}

func (p *parser) hasPrefix(s string) bool {
	return len(p.src)-p.pos >= len(s) && p.src[p.pos:p.pos+len(s)] == s
}

func (p *parser) isSeqEntry() bool {
	return p.pos < len(p.src) && p.src[p.pos] == '-' && p.blankOrEnd(p.pos+1)
}

// endLine moves past the line break at p.pos (validated as LF or CRLF).
func (p *parser) endLine() {
	if p.pos < len(p.src) {
		if p.src[p.pos] == '\r' {
			p.pos++
		}
		p.pos++
	}
	p.line++
	p.lineStart = p.pos
}

// lineComment returns the comment starting at p.pos and moves to its end.
func (p *parser) lineComment() string {
	start := p.pos
	for !p.atEOL() {
		p.pos++
	}
	return p.src[start:p.pos]
}
