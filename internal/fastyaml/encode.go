package fastyaml

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// The fast emitter writes straight into one byte slice. Whenever a node or
// comment cannot be written so that both yaml.v3 and Parse read it back in
// the same place, it gives up and Encode uses yaml.v3's encoder instead.

// spaces is sliced for indentation.
const spaces = "                                                                "

type encoder struct {
	buf   []byte
	depth int
	last  lineEnd
	blank bool // a foot comment was written; separate it from what follows

	// lineDepth is the nesting depth of the last entry written; run counts
	// the foot comments written since, and runInnermost records whether
	// the last of them sits where yaml.v3 puts a foot that is followed by
	// another one.
	lineDepth    int
	run          int
	runInnermost bool
}

func encodeFast(n *yaml.Node) ([]byte, bool) {
	e := &encoder{buf: make([]byte, 0, 16<<10)}
	if !e.document(n) {
		return nil, false
	}
	return e.buf, true
}

func (e *encoder) document(n *yaml.Node) bool {
	root := n
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) != 1 || n.LineComment != "" || n.Anchor != "" || n.Tag != "" {
			return false
		}
		if n.HeadComment != "" {
			if !e.comment(n.HeadComment, 0, true) {
				return false
			}
			e.buf = append(e.buf, '\n')
		}
		root = n.Content[0]
	}
	if root == nil || root.HeadComment != "" || root.LineComment != "" || root.FootComment != "" {
		return false
	}
	switch {
	case isBlock(root) && root.Kind == yaml.MappingNode:
		if !e.mapping(root, 0, false, -1) {
			return false
		}
	case isBlock(root) && root.Kind == yaml.SequenceNode:
		if !e.sequence(root, 0, false, -1) {
			return false
		}
	case isEmptyNull(root):
		// Written as nothing, the document itself would vanish; yaml.v3
		// reads a comment above the "---" as a foot comment.
		if len(e.buf) > 0 {
			return false
		}
		e.buf = append(e.buf, "---\n"...)
	default:
		if !e.inline(root, ctxValue) {
			return false
		}
		e.buf = append(e.buf, '\n')
	}
	if n.Kind == yaml.DocumentNode && n.FootComment != "" {
		e.blank = false
		e.buf = append(e.buf, '\n')
		if !e.comment(n.FootComment, 0, true) {
			return false
		}
	}
	return true
}

// isBlock reports whether n is written as an indented block: a non-empty
// collection without the flow style, or one whose content cannot be
// written in flow style.
func isBlock(n *yaml.Node) bool {
	return (n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode) && len(n.Content) > 0 &&
		(n.Style&yaml.FlowStyle == 0 || !canFlow(n, 0))
}

// canFlow reports whether everything inside n can be written on one line:
// no comments, no collection keys, and no nulls spelled as nothing, which
// would read back differently as "[a, ]" or "{a: }".
func canFlow(n *yaml.Node, depth int) bool {
	if depth > maxDepth {
		return false
	}
	for i, c := range n.Content {
		if c == nil || c.HeadComment != "" || c.LineComment != "" || c.FootComment != "" {
			return false
		}
		switch c.Kind {
		case yaml.ScalarNode:
			if isEmptyNull(c) {
				return false
			}
		case yaml.MappingNode, yaml.SequenceNode:
			if n.Kind == yaml.MappingNode && i%2 == 0 || !canFlow(c, depth+1) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// isEmptyNull reports whether n is a null written as nothing at all.
func isEmptyNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Value == "" && n.Style == 0 && (n.Tag == nullTag || n.Tag == "") &&
		n.Anchor == "" && n.Alias == nil
}

func (e *encoder) enter() bool {
	e.depth++
	return e.depth <= maxDepth
}

// lineEnd classifies the last content line written, which decides where
// yaml.v3 lets a comment below it attach.
type lineEnd uint8

const (
	endPlain    lineEnd = iota // a plain scalar, or a collection opener
	endNonPlain                // a quoted scalar, flow collection or comment
	endEmpty                   // a key or dash with an empty value
)

// mapping writes the pairs of a block mapping at indent. With inline set
// the first key continues the current line (after "- "). next is the
// indent of the content line that follows the mapping, -1 at the end.
func (e *encoder) mapping(m *yaml.Node, indent int, inline bool, next int) bool {
	if !e.enter() || len(m.Content)%2 != 0 || !plainCollection(m, mapTag) {
		return false
	}
	for i := 0; i < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k == nil || v == nil || k.Kind != yaml.ScalarNode || v.HeadComment != "" || v.FootComment != "" {
			return false
		}
		if k.HeadComment != "" && (i == 0 && inline || !e.comment(k.HeadComment, indent, false)) {
			return false
		}
		if i > 0 || !inline {
			e.newLine(indent)
		}
		e.contentLine()
		if isEmptyNull(k) {
			// An empty key needs the explicit "?" form to exist at all.
			if k.HeadComment != "" || k.LineComment != "" || k.FootComment != "" {
				return false
			}
			e.buf = append(e.buf, "?\n"...)
			e.indent(indent)
		} else {
			start := len(e.buf)
			if !e.scalar(k, ctxKey) || len(e.buf)-start > maxKeyLen {
				return false
			}
		}
		e.buf = append(e.buf, ':')
		after := next
		if i+2 < len(m.Content) {
			after = indent
		}
		if !e.value(k, v, indent, after) {
			return false
		}
		if k.FootComment != "" && !e.foot(k.FootComment, indent, after) {
			return false
		}
	}
	e.depth--
	return true
}

// value writes what follows "key:", then the line break.
func (e *encoder) value(k, v *yaml.Node, indent, after int) bool {
	switch {
	case isEmptyNull(v):
		if v.LineComment != "" || !e.lineComment(k.LineComment) {
			return false
		}
		e.buf = append(e.buf, '\n')
		e.last = endEmpty
		return true
	case isBlock(v):
		if v.LineComment != "" || !e.lineComment(k.LineComment) {
			return false
		}
		e.buf = append(e.buf, '\n')
		if v.Kind == yaml.MappingNode {
			return e.mapping(v, indent+2, false, after)
		}
		return e.sequence(v, indent+2, false, after)
	}
	// A comment on the key ("key: # c" when the value was empty) goes
	// after an inline value: yaml.v3's encoder would put the value on the
	// next line, where it no longer belongs to the key.
	comment := v.LineComment
	if k.LineComment != "" {
		if comment != "" {
			return false
		}
		comment = k.LineComment
	}
	e.buf = append(e.buf, ' ')
	if !e.inline(v, ctxValue) || !e.lineComment(comment) {
		return false
	}
	e.buf = append(e.buf, '\n')
	return true
}

// sequence writes the items of a block sequence at indent. With inline set
// the first dash continues the current line (after "- "). next is the
// indent of the content line that follows the sequence, -1 at the end.
func (e *encoder) sequence(s *yaml.Node, indent int, inline bool, next int) bool {
	if !e.enter() || !plainCollection(s, seqTag) {
		return false
	}
	for i, item := range s.Content {
		if item == nil {
			return false
		}
		if item.HeadComment != "" {
			if i == 0 && inline || item.Kind == yaml.SequenceNode && isBlock(item) ||
				!e.comment(item.HeadComment, indent, false) {
				return false
			}
		}
		if i > 0 || !inline {
			e.newLine(indent)
		}
		e.contentLine()
		after := next
		if i+1 < len(s.Content) {
			after = indent
		}
		switch {
		case isEmptyNull(item):
			if item.LineComment != "" || item.FootComment != "" {
				return false
			}
			e.buf = append(e.buf, "-\n"...)
			e.last = endEmpty
			continue
		case isBlock(item):
			if item.LineComment != "" || item.FootComment != "" {
				return false
			}
			e.buf = append(e.buf, "- "...)
			ok := false
			if item.Kind == yaml.MappingNode {
				ok = e.mapping(item, indent+2, true, after)
			} else {
				ok = e.sequence(item, indent+2, true, after)
			}
			if !ok {
				return false
			}
			continue
		}
		e.buf = append(e.buf, "- "...)
		if !e.inline(item, ctxValue) || !e.lineComment(item.LineComment) {
			return false
		}
		e.buf = append(e.buf, '\n')
		if item.FootComment != "" {
			if item.Kind != yaml.ScalarNode || !e.foot(item.FootComment, indent, after) {
				return false
			}
		}
	}
	e.depth--
	return true
}

// plainCollection reports whether a collection carries nothing but its
// content: no anchor, alias, explicit tag or tagged style.
func plainCollection(n *yaml.Node, tag string) bool {
	return n.Anchor == "" && n.Alias == nil && (n.Tag == "" || n.Tag == tag) &&
		n.Style&^yaml.FlowStyle == 0
}

// inline writes n where it must fit on the current line: a scalar, a flow
// collection, or an empty collection.
func (e *encoder) inline(n *yaml.Node, ctx scalarCtx) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return e.scalar(n, ctx)
	case yaml.MappingNode, yaml.SequenceNode:
		return e.flow(n)
	}
	return false
}

// flow writes a collection in flow style. Nothing inside may carry a
// comment, and nulls inside must be spelled out, because "[a, ]" or
// "{a: }" would not read back the same.
func (e *encoder) flow(n *yaml.Node) bool {
	tag, open, closer := seqTag, byte('['), byte(']')
	if n.Kind == yaml.MappingNode {
		tag, open, closer = mapTag, '{', '}'
		if len(n.Content)%2 != 0 {
			return false
		}
	}
	if !e.enter() || !plainCollection(n, tag) {
		return false
	}
	e.buf = append(e.buf, open)
	for i, c := range n.Content {
		if c == nil || c.HeadComment != "" || c.LineComment != "" || c.FootComment != "" ||
			c.Kind == yaml.ScalarNode && isEmptyNull(c) {
			return false
		}
		if i > 0 {
			if n.Kind == yaml.MappingNode && i%2 == 1 {
				e.buf = append(e.buf, ": "...)
			} else {
				e.buf = append(e.buf, ", "...)
			}
		}
		start := len(e.buf)
		switch {
		case c.Kind == yaml.ScalarNode:
			ctx := ctxFlow
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				ctx = ctxFlowKey
			}
			if !e.scalar(c, ctx) {
				return false
			}
		case n.Kind == yaml.MappingNode && i%2 == 0:
			return false
		case c.Kind == yaml.MappingNode || c.Kind == yaml.SequenceNode:
			if !e.flow(c) {
				return false
			}
		default:
			return false
		}
		if n.Kind == yaml.MappingNode && i%2 == 0 && len(e.buf)-start > maxKeyLen {
			return false
		}
	}
	e.buf = append(e.buf, closer)
	e.last = endNonPlain
	e.depth--
	return true
}

func (e *encoder) indent(n int) {
	for n > len(spaces) {
		e.buf = append(e.buf, spaces...)
		n -= len(spaces)
	}
	e.buf = append(e.buf, spaces[:n]...)
}

// lineComment appends " # ..." when c is set; it must be a single comment
// line.
func (e *encoder) lineComment(c string) bool {
	if c == "" {
		return true
	}
	if !validComment(c) {
		return false
	}
	e.buf = append(e.buf, ' ')
	e.buf = append(e.buf, c...)
	e.last = endNonPlain
	return true
}

// comment writes a block of comment lines at indent. Blank lines inside are
// only meaningful in the document's head and foot comments.
func (e *encoder) comment(c string, indent int, blanks bool) bool {
	if strings.HasPrefix(c, "\n") || strings.HasSuffix(c, "\n") {
		return false
	}
	for len(c) > 0 {
		line := c
		if i := strings.IndexByte(c, '\n'); i >= 0 {
			line, c = c[:i], c[i+1:]
		} else {
			c = ""
		}
		if line == "" {
			// One blank line separates two groups; more would collapse.
			if !blanks || strings.HasPrefix(c, "\n") {
				return false
			}
			e.buf = append(e.buf, '\n')
			continue
		}
		if !validComment(line) {
			return false
		}
		e.newLine(indent)
		e.buf = append(e.buf, line...)
		e.buf = append(e.buf, '\n')
	}
	return true
}

// foot writes a foot comment below an entry at indent; after is the
// indent of the next content line (-1 at the end). yaml.v3 reads a comment
// below an empty value never as a foot, and below a quoted or flow value or
// a line comment only when it is indented deeper than what follows.
func (e *encoder) foot(c string, indent, after int) bool {
	switch e.last {
	case endEmpty:
		return false
	case endNonPlain:
		if after < 0 || indent <= after {
			return false
		}
	}
	// Feet of nested entries follow each other without a blank line.
	// yaml.v3 then gives each foot but the last of such a run to the
	// innermost collection, then the next one out, and so on, so every
	// foot that another one follows must sit exactly there.
	if e.run > 0 && !e.runInnermost {
		return false
	}
	e.runInnermost = e.depth == e.lineDepth-e.run
	e.run++
	e.blank = false
	if !e.comment(c, indent, false) {
		return false
	}
	// A blank line before whatever comes next keeps the comment a foot
	// chosen by its column; touching the next line, yaml.v3 would give it
	// to the innermost collection or make it the next entry's head.
	e.blank = true
	return true
}

// contentLine records that an entry of the collection at the current depth
// starts a line, which ends any run of foot comments.
func (e *encoder) contentLine() {
	e.lineDepth = e.depth
	e.run = 0
}

// newLine starts a content or head comment line at indent, first writing
// the blank line a preceding foot comment asked for.
func (e *encoder) newLine(indent int) {
	// Doubling here, ahead of the appends for the line, copies the output
	// far less often than append's own growth does for large slices.
	if cap(e.buf)-len(e.buf) < 512 {
		b := make([]byte, len(e.buf), 2*cap(e.buf)+512)
		copy(b, e.buf)
		e.buf = b
	}
	if e.blank {
		e.buf = append(e.buf, '\n')
		e.blank = false
	}
	e.indent(indent)
}

// validComment reports whether c is one comment line that reads back
// unchanged: a '#' and printable characters (tabs are fine in comments).
func validComment(c string) bool {
	if len(c) == 0 || c[0] != '#' {
		return false
	}
	ok, _ := validate(strings.ReplaceAll(c, "\t", " "))
	return ok && strings.IndexByte(c, '\n') < 0 && strings.IndexByte(c, '\r') < 0
}
