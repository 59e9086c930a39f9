package inventory

import (
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"
)

// Inventory is the content of one nodes.conf: raw (unmerged) profiles and
// nodes, keyed by name.
type Inventory struct {
	Profiles map[string]*Profile
	Nodes    map[string]*Node

	// doc is the tree the inventory was read from; writes carry its
	// comments and key order over.
	doc *yaml.Node
	// extra holds top-level keys other than nodeprofiles and nodes, kept
	// as they are.
	extra []*yaml.Node
	// warnings are the decoder's warnings about the file.
	warnings []Warning
	// oldKeys and converted are every older form the decoder kept unread
	// or read into the model (see Upgrade).
	oldKeys, converted []Warning
}

func newInventory() *Inventory {
	return &Inventory{Profiles: map[string]*Profile{}, Nodes: map[string]*Node{}}
}

// Parse reads nodes.conf content. name is used in error messages, which
// have the form "name:line: problem".
func Parse(data []byte, name string) (*Inventory, error) {
	doc, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return decodeDocument(doc, name)
}

// Marshal writes the inventory as nodes.conf, keeping the comments and
// key order of the content it was parsed from.
func (inv *Inventory) Marshal() ([]byte, error) {
	e := &encoder{t: newTables()}
	doc := e.document(inv)
	if inv.doc != nil {
		doc = carryOver(inv.doc, doc)
	}
	out, err := encodeYAML(doc)
	if err != nil {
		return nil, fmt.Errorf("encode nodes.conf: %w", err)
	}
	return out, nil
}

// NodeNames returns the node names in natural order (n2 before n10).
func (inv *Inventory) NodeNames() []string { return SortedNames(inv.Nodes) }

// ProfileNames returns the profile names in natural order.
func (inv *Inventory) ProfileNames() []string { return SortedNames(inv.Profiles) }

// SortedNames returns a map's keys in natural order: runs of digits
// compare by value, so n2 sorts before n10 whatever the padding.
func SortedNames[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return NaturalLess(keys[i], keys[j]) })
	return keys
}

// NaturalLess orders strings with embedded numbers by the numbers' value.
func NaturalLess(a, b string) bool {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ca, cb := a[i], b[j]
		if isDigit(ca) && isDigit(cb) {
			si, sj := i, j
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
			na, nb := trimZeros(a[si:i]), trimZeros(b[sj:j])
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			if na != nb {
				return na < nb
			}
			continue
		}
		if ca != cb {
			return ca < cb
		}
		i++
		j++
	}
	if len(a)-i != len(b)-j {
		return len(a)-i < len(b)-j
	}
	return a < b
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func trimZeros(s string) string {
	for len(s) > 1 && s[0] == '0' {
		s = s[1:]
	}
	return s
}
