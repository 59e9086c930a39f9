package fastyaml

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// treeOpts selects what diffTrees compares besides kind, tag and value.
type treeOpts struct {
	comments  bool
	positions bool
	style     bool
}

var (
	// exact is everything the fast parser promises to match.
	exact = treeOpts{comments: true, positions: true, style: true}
	// structural is everything except comments.
	structural = treeOpts{positions: true, style: true}
	// content is what survives a round trip through Encode.
	content = treeOpts{}
)

// diffTrees walks two node trees together and describes the first
// difference, or returns "" when they are equal under opts.
func diffTrees(got, want *yaml.Node, opts treeOpts) string {
	return diffNode(got, want, opts, "$")
}

func diffNode(got, want *yaml.Node, opts treeOpts, path string) string {
	if got == nil || want == nil {
		if got != want {
			return fmt.Sprintf("%s: got %v, want %v", path, got, want)
		}
		return ""
	}
	type field struct {
		name      string
		got, want any
		on        bool
	}
	fields := []field{
		{"Kind", got.Kind, want.Kind, true},
		{"Tag", got.Tag, want.Tag, true},
		{"Value", got.Value, want.Value, true},
		{"Anchor", got.Anchor, want.Anchor, true},
		{"Style", got.Style, want.Style, opts.style},
		{"Line", got.Line, want.Line, opts.positions},
		{"Column", got.Column, want.Column, opts.positions},
		{"HeadComment", got.HeadComment, want.HeadComment, opts.comments},
		{"LineComment", got.LineComment, want.LineComment, opts.comments},
		{"FootComment", got.FootComment, want.FootComment, opts.comments},
		{"len(Content)", len(got.Content), len(want.Content), true},
	}
	for _, f := range fields {
		if f.on && f.got != f.want {
			return fmt.Sprintf("%s: %s: got %#v, want %#v", path, f.name, f.got, f.want)
		}
	}
	if (got.Alias == nil) != (want.Alias == nil) {
		return fmt.Sprintf("%s: Alias: got %v, want %v", path, got.Alias, want.Alias)
	}
	for i := range got.Content {
		if d := diffNode(got.Content[i], want.Content[i], opts, fmt.Sprintf("%s[%d]", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// dumpTree renders a tree one node per line, for failure messages.
func dumpTree(n *yaml.Node) string {
	var b strings.Builder
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		fmt.Fprintf(&b, "%s%d %s %q style=%d @%d:%d", strings.Repeat("  ", depth), n.Kind, n.Tag, n.Value, n.Style, n.Line, n.Column)
		if n.HeadComment != "" {
			fmt.Fprintf(&b, " H=%q", n.HeadComment)
		}
		if n.LineComment != "" {
			fmt.Fprintf(&b, " L=%q", n.LineComment)
		}
		if n.FootComment != "" {
			fmt.Fprintf(&b, " F=%q", n.FootComment)
		}
		b.WriteByte('\n')
		for _, c := range n.Content {
			walk(c, depth+1)
		}
	}
	if n != nil {
		walk(n, 0)
	}
	return b.String()
}

// lineSlots returns a copy of the tree in which a key's line comment is
// moved to its value when the value is written on the key's line: Encode
// writes "key: value # c" for either, and the comment stays on its key's
// line.
func lineSlots(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, child := range n.Content {
		c.Content[i] = lineSlots(child)
	}
	if c.Kind != yaml.MappingNode {
		return &c
	}
	for i := 0; i+1 < len(c.Content); i += 2 {
		k, v := c.Content[i], c.Content[i+1]
		if k.LineComment != "" && v.LineComment == "" && !isEmptyNull(v) && !isBlock(v) {
			v.LineComment, k.LineComment = k.LineComment, ""
		}
	}
	return &c
}
