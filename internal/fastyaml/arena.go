package fastyaml

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// arena hands out nodes and child slices from large blocks, because one
// allocation per node is most of what makes yaml.v3 slow on big files.
type arena struct {
	nodes []yaml.Node
	ptr   []*yaml.Node
	chunk int
}

// init sizes the first block from the input: block-style YAML has about
// two nodes per line (a key and its value), and a block that is too small
// just means a second allocation.
func (a *arena) init(src string) {
	lines := strings.Count(src, "\n") + 1
	a.nodes = make([]yaml.Node, 0, 2*lines+8)
	a.ptr = make([]*yaml.Node, 0, 2*lines+8)
	a.chunk = min(lines+64, 1<<14)
}

func (a *arena) node() *yaml.Node {
	if len(a.nodes) == cap(a.nodes) {
		a.nodes = make([]yaml.Node, 0, a.chunk)
	}
	a.nodes = a.nodes[:len(a.nodes)+1]
	return &a.nodes[len(a.nodes)-1]
}

// ptrs copies children into a slice of their own; its capacity is its
// length so that a caller appending to Content never overwrites a sibling.
func (a *arena) ptrs(children []*yaml.Node) []*yaml.Node {
	n := len(children)
	if n == 0 {
		return nil
	}
	if cap(a.ptr)-len(a.ptr) < n {
		a.ptr = make([]*yaml.Node, 0, max(a.chunk, n))
	}
	start := len(a.ptr)
	a.ptr = append(a.ptr, children...)
	return a.ptr[start : start+n : start+n]
}

func (a *arena) ptrs1(n *yaml.Node) []*yaml.Node {
	return a.ptrs([]*yaml.Node{n})
}
