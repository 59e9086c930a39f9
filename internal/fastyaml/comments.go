package fastyaml

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Comments between two content lines are gathered into groups (runs of
// comment lines at one column) and placed the way yaml.v3 places them:
//
//   - a group right above a key or dash, at its column, is its head comment;
//   - a group right below an entry (and each group below that one, further
//     left and with no blank line between) is the foot comment of the last
//     key, or scalar item, of the open collection at its column;
//   - groups at the very top, set off by a blank line, are the document's
//     head comment, and groups at the very end set off by a blank line its
//     foot comment.
//
// yaml.v3 deviates from these rules in corners: below an empty value, a
// quoted or flow value or a line comment, with CR LF line ends, without a
// final line break, and for a foot comment touching a less indented line.
// The fast path leaves those, and any other arrangement, to yaml.v3; the
// differential fuzz tests hold it to yaml.v3's placement.

// group is a run of comment lines with no blank line inside.
type group struct {
	start, end  int // offsets of the first '#' and of the end of the last line
	col         int
	lines       int
	blankBefore bool // a blank line separates it from what precedes it
}

// scanGap moves from the start of a line past blank and comment lines to
// the first content character of the next content line, recording comment
// groups, and sets p.indent (-1 at the end of the input).
func (p *parser) scanGap() bool {
	p.groups = p.groups[:0]
	s := p.src
	blank := false
	for {
		i := p.pos
		for i < len(s) && s[i] == ' ' {
			i++
		}
		if i == len(s) {
			p.pos, p.indent, p.trailingBlank = i, -1, blank
			return true
		}
		switch s[i] {
		case '\n', '\r':
			blank = true
			p.pos = i
			p.endLine()
			continue
		case '#':
			col := i - p.lineStart
			p.pos = i
			for !p.atEOL() {
				p.pos++
			}
			// yaml.v3 sees CR LF after a comment line as two line breaks,
			// which moves comments around; leave those files to it.
			if p.pos < len(s) && s[p.pos] == '\r' {
				return false
			}
			if n := len(p.groups); n > 0 && !blank && p.groups[n-1].col == col {
				g := &p.groups[n-1]
				g.end = p.pos
				g.lines++
			} else {
				p.groups = append(p.groups, group{start: i, end: p.pos, col: col, lines: 1, blankBefore: blank})
			}
			blank = false
			p.endLine()
			continue
		}
		p.pos, p.indent, p.trailingBlank = i, i-p.lineStart, blank
		// A document marker mid-stream ends the document or starts another.
		if p.started && p.indent == 0 && (p.hasPrefix("---") || p.hasPrefix("...")) && p.blankOrEnd(i+3) {
			return false
		}
		return true
	}
}

// nextContent scans to the next content line and places the comments in
// between.
func (p *parser) nextContent() bool {
	if !p.scanGap() {
		return false
	}
	if len(p.groups) == 0 {
		return true
	}
	if p.indent < 0 {
		return p.distributeEnd()
	}
	// Groups hanging below the previous entry, each further left than the
	// one before, are foot comments of the collections they line up with.
	chain := true
	for i := range p.groups {
		g := &p.groups[i]
		if g.blankBefore {
			chain = false
		}
		switch {
		case i == len(p.groups)-1 && !p.trailingBlank && g.col == p.indent:
			p.head = p.groupText(g)
		case chain && (i == 0 || g.col < p.groups[i-1].col) && g.col >= p.indent:
			if !p.footAt(g, i, p.runsOn(i)) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// nextContentNoFoot is nextContent after a line that ends in an empty
// value ("key:" or "-"): yaml.v3 hangs a comment below it on that empty
// value whatever its column, so such comments are left to yaml.v3.
func (p *parser) nextContentNoFoot() bool {
	p.noFoot = true
	ok := p.nextContent()
	p.noFoot = false
	return ok
}

// distributeStart places the comments before the first content line.
func (p *parser) distributeStart(doc *yaml.Node) bool {
	var parts []string
	for i := range p.groups {
		g := &p.groups[i]
		if i > 0 && !g.blankBefore {
			return false // yaml.v3 merges such groups in ways not modelled here
		}
		if i == len(p.groups)-1 && !p.trailingBlank {
			if g.col != p.indent {
				return false
			}
			p.head = p.groupText(g)
			continue
		}
		if g.col != 0 {
			return false
		}
		parts = append(parts, p.groupText(g))
	}
	if len(parts) > 0 {
		doc.HeadComment = joinBlank(parts)
	}
	return true
}

// distributeEnd places the comments after the last content line.
func (p *parser) distributeEnd() bool {
	// Without a final line break yaml.v3 places the last comment
	// differently.
	if !strings.HasSuffix(p.src, "\n") {
		return false
	}
	chain := true
	for i := range p.groups {
		g := &p.groups[i]
		if g.blankBefore {
			chain = false
		}
		if chain && (i == 0 || g.col < p.groups[i-1].col) {
			if !p.footAt(g, i, p.runsOn(i)) {
				return false
			}
			continue
		}
		if chain || g.col != 0 {
			return false
		}
		p.foot = append(p.foot, p.groupText(g))
	}
	return len(p.foot) == 0 || !p.trailingBlank
}

// runsOn reports whether group i is followed by another comment line or
// by the next content line with no blank line in between.
func (p *parser) runsOn(i int) bool {
	if i+1 < len(p.groups) {
		return !p.groups[i+1].blankBefore
	}
	return p.indent >= 0 && !p.trailingBlank
}

// footAt makes g the foot comment of the last entry of an open
// collection. yaml.v3 picks the collection by column, except for a group
// that runs on into more comments or the next (less indented) content line
// without a blank line: that one goes to the innermost collection, or the
// next one out for the depth-th group of a run. Here the column must agree
// with that choice, or the group is left to yaml.v3.
func (p *parser) footAt(g *group, depth int, runsOn bool) bool {
	if p.noFoot || p.strictFoot && (p.indent < 0 || g.col <= p.indent) {
		return false
	}
	j := len(p.levels) - 1
	if runsOn {
		j -= depth
	} else {
		for j >= 0 && p.levels[j].col != g.col {
			j--
		}
	}
	if j < 0 {
		return false
	}
	l := &p.levels[j]
	if l.col != g.col || l.indentless || l.last == nil || l.last.FootComment != "" {
		return false
	}
	l.last.FootComment = p.groupText(g)
	return true
}

// groupText joins the group's comment lines as yaml.v3 does: each line from
// its '#' to its end, separated by newlines.
func (p *parser) groupText(g *group) string {
	raw := p.src[g.start:g.end]
	if g.col == 0 && (g.lines == 1 || strings.IndexByte(raw, '\r') < 0) {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw))
	for i := g.start; i < g.end; {
		for p.src[i] == ' ' {
			i++
		}
		j := i
		for j < g.end && p.src[j] != '\n' && p.src[j] != '\r' {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(p.src[i:j])
		if j < g.end && p.src[j] == '\r' {
			j++
		}
		i = j + 1
	}
	return b.String()
}

// joinBlank joins comment groups separated by blank lines.
func joinBlank(parts []string) string {
	return strings.Join(parts, "\n\n")
}
