// Package fastyaml reads and writes the block-style YAML of Warewulf's
// nodes.conf an order of magnitude faster than gopkg.in/yaml.v3, while
// producing and consuming yaml.v3's own *yaml.Node trees.
//
// Parse recognises a subset of YAML with a hand-written single-pass parser:
// block mappings and sequences, plain and single-line quoted scalars,
// single-line flow collections, and comments in the places people put them.
// Any input outside that subset, and any input with a syntax error, is handed
// to yaml.v3 unchanged, so the result (or the error) is always the one
// yaml.v3 would give. Encode writes the canonical block style with two-space
// indentation and falls back to yaml.v3's encoder for trees it cannot write
// exactly (anchors, aliases, explicit tags, collections as keys, comments in
// places yaml.v3 would not read back).
package fastyaml

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"
)

// Parse decodes data into a document node equal to what yaml.Unmarshal(data,
// &node) produces: the same kinds, tags, values, styles, lines, columns and,
// for the comment placements the fast path accepts, the same comments. Like
// yaml.Unmarshal it reads only the first document, and returns a zero node
// for input without one. On a syntax error it returns yaml.v3's error. The
// tree does not share memory with data.
func Parse(data []byte) (*yaml.Node, error) {
	if doc := parseFast(data); doc != nil {
		return doc, nil
	}
	return parseSlow(data)
}

// parseSlow is the reference behaviour: yaml.v3 itself.
func parseSlow(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return &doc, nil
}

// Encode writes n (a document node, or any node to be written as a
// document) as block-style YAML with two-space indentation, sequences
// indented under their key. Strings are quoted only when a plain scalar
// would not read back as the same string, and then double-quoted; nodes
// with a quoted or flow style keep it, except that block scalars and
// multi-line strings are written double-quoted with escapes, and a flow
// collection that cannot be written on one line is written as a block.
// Comments are written back where Parse found them; a key's line comment
// follows its value when the value is written on the key's line. Trees the
// fast emitter cannot write faithfully are encoded by yaml.v3 with an
// indent of two. A nil or cyclic tree is an error.
func Encode(n *yaml.Node) ([]byte, error) {
	if n == nil {
		return nil, fmt.Errorf("encode yaml: nil node")
	}
	if out, ok := encodeFast(n); ok {
		return out, nil
	}
	// yaml.v3 would recurse until the stack overflows, which no recover
	// can catch. Only a tree deeper than any sensible document can hold a
	// cycle, so the map of the full check is rarely paid for.
	if deeperThan(n, maxDepth) && hasCycle(n, make(map[*yaml.Node]bool)) {
		return nil, fmt.Errorf("encode yaml: node tree contains a cycle")
	}
	return encodeSlow(n)
}

// deeperThan reports whether the tree nests more than limit levels.
func deeperThan(n *yaml.Node, limit int) bool {
	if n == nil {
		return false
	}
	if limit < 0 {
		return true
	}
	for _, c := range n.Content {
		if deeperThan(c, limit-1) {
			return true
		}
	}
	return false
}

// hasCycle reports whether a node is its own descendant through Content
// (aliases are references, not content, and are not followed).
func hasCycle(n *yaml.Node, onPath map[*yaml.Node]bool) bool {
	if n == nil {
		return false
	}
	if onPath[n] {
		return true
	}
	onPath[n] = true
	for _, c := range n.Content {
		if hasCycle(c, onPath) {
			return true
		}
	}
	delete(onPath, n)
	return false
}

// encodeSlow is the fallback emitter: yaml.v3 with the same indentation.
func encodeSlow(n *yaml.Node) (out []byte, err error) {
	// yaml.v3 panics on some malformed trees it is handed directly; a caller
	// of Encode gets an error instead.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("encode yaml: %v", r)
		}
	}()
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode yaml: %w", err)
	}
	return buf.Bytes(), nil
}
