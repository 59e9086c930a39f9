package overlay

import (
	"text/template"
	"text/template/parse"
)

// nodeFree lists the top-level fields of Data that are the same for
// every node of a build.
var nodeFree = map[string]bool{
	"AllNodes": true, "BuildHost": true, "BuildTime": true, "BuildTimeUnix": true, "BuildSource": true,
	"Overlay": true, "Ipaddr": true, "IpCIDR": true, "Netmask": true, "Network": true, "NetworkCIDR": true,
	"Ipaddr6": true, "PrefixLen6": true, "IpCIDR6": true, "Network6": true, "NetworkCIDR6": true, "Ipv6": true,
	"Dhcp": true, "Nfs": true, "Ssh": true, "Warewulf": true, "Tftp": true, "Paths": true,
}

// nodeFuncs are functions that read the current node without being
// given it.
var nodeFuncs = map[string]bool{"IgnitionJson": true, "SshHostKeys": true}

// sameForEveryNode reports whether a template's output cannot depend on
// the node it is rendered for: it reads only node-free top-level fields
// (a range over .AllNodes reads other nodes, not this one) and calls no
// function that reads the node. Such a template is rendered once per
// build, which is what keeps a hosts file listing 10,000 nodes from being
// rendered 10,000 times. The check is conservative: anything it cannot
// follow counts as node-specific.
func sameForEveryNode(t *template.Template) bool {
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		if !nodeFreeList(tt.Tree.Root, true) {
			return false
		}
	}
	return true
}

// nodeFreeList checks a list of nodes; top says whether dot is still the
// top-level data there.
func nodeFreeList(l *parse.ListNode, top bool) bool {
	if l == nil {
		return true
	}
	for _, n := range l.Nodes {
		if !nodeFreeNode(n, top) {
			return false
		}
	}
	return true
}

func nodeFreeNode(n parse.Node, top bool) bool {
	switch n := n.(type) {
	case *parse.TextNode, *parse.CommentNode, *parse.BreakNode, *parse.ContinueNode:
		return true
	case *parse.ActionNode:
		return nodeFreePipe(n.Pipe, top)
	case *parse.IfNode:
		return nodeFreePipe(n.Pipe, top) && nodeFreeList(n.List, top) && nodeFreeList(n.ElseList, top)
	case *parse.RangeNode:
		// Inside the body dot is an element of what is ranged over.
		return nodeFreePipe(n.Pipe, top) && nodeFreeList(n.List, false) && nodeFreeList(n.ElseList, top)
	case *parse.WithNode:
		return nodeFreePipe(n.Pipe, top) && nodeFreeList(n.List, false) && nodeFreeList(n.ElseList, top)
	case *parse.TemplateNode:
		// The called template is checked on its own, assuming top-level
		// dot, which covers any argument.
		return n.Pipe == nil || nodeFreePipe(n.Pipe, top)
	}
	return false
}

func nodeFreePipe(p *parse.PipeNode, top bool) bool {
	if p == nil {
		return true
	}
	for _, c := range p.Cmds {
		for _, arg := range c.Args {
			if !nodeFreeArg(arg, top) {
				return false
			}
		}
	}
	return true
}

func nodeFreeArg(n parse.Node, top bool) bool {
	switch n := n.(type) {
	case *parse.DotNode:
		// Passing the whole top-level data on could reach anything.
		return !top
	case *parse.FieldNode:
		return !top || nodeFree[n.Ident[0]]
	case *parse.VariableNode:
		// $ is always the top-level data; other variables hold values
		// computed from checked pipelines.
		if n.Ident[0] == "$" {
			return len(n.Ident) > 1 && nodeFree[n.Ident[1]]
		}
		return true
	case *parse.ChainNode:
		return nodeFreeArg(n.Node, top)
	case *parse.PipeNode:
		return nodeFreePipe(n, top)
	case *parse.IdentifierNode:
		return !nodeFuncs[n.Ident]
	case *parse.StringNode, *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
		return true
	}
	return false
}
