package overlay

import (
	"strings"
	"text/template"
	"text/template/parse"
)

// folder replaces, in one parsed template, the actions and conditions
// whose value is the same for every node of a build by what they give:
// an action {{...}} by its text, an {{if}} by the branch it takes. A
// template is parsed once per Renderer, that is once per build's base
// data, and executed once per node: the dump of the server's settings
// in debug/tstruct.md.ww, {{if .Ipv6}} and {{.Warewulf.Port}} in the
// network templates are then evaluated once rather than once a node.
//
// Only a pipeline that declares no variable, calls no function and reads
// only node-free data (fields in nodeFree of the top-level data, $.X
// with X node-free, literals) is folded, and only where its value is
// known: where dot is the top-level data (not inside a range or with
// body) for .X, anywhere for $.X. It is evaluated with the data the
// template executes with (flatData or Data, with the template's own
// .Overlay and .Build* fields); one whose evaluation fails is left as it
// is, so the node's rendering still reports the error. Trim markers act
// when the template is parsed, on the text nodes: what they trimmed is
// already gone.
type folder struct {
	arg    any // the template's data, as execute passes it
	action *template.Template
	cond   *template.Template
	buf    strings.Builder
}

func newFolder(arg any) (*folder, error) {
	action, err := template.New("fold").Option("missingkey=default").Parse("{{0}}")
	if err != nil {
		return nil, err
	}
	cond, err := template.New("fold").Option("missingkey=default").Parse("{{if 0}}1{{else}}0{{end}}")
	if err != nil {
		return nil, err
	}
	return &folder{arg: arg, action: action, cond: cond}, nil
}

// tree folds the template's own tree; templates it defines are left
// alone, as their dot and $ are whatever they are given.
func (f *folder) tree(t *template.Template) {
	if t.Tree != nil && t.Tree.Root != nil {
		f.list(t.Tree.Root, true)
	}
}

// list folds the nodes of l; top says whether dot is the top-level data.
func (f *folder) list(l *parse.ListNode, top bool) {
	if l == nil {
		return
	}
	out := l.Nodes[:0:0]
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			if text, ok := f.print(n.Pipe, top); ok {
				out = append(out, &parse.TextNode{NodeType: parse.NodeText, Pos: n.Pos, Text: []byte(text)})
				continue
			}
		case *parse.IfNode:
			if branch, ok := f.branch(n, top); ok {
				if branch != nil {
					f.list(branch, top)
					out = append(out, branch.Nodes...)
				}
				continue
			}
			f.list(n.List, top)
			f.list(n.ElseList, top)
		case *parse.RangeNode:
			f.list(n.List, false)
			f.list(n.ElseList, top)
		case *parse.WithNode:
			f.list(n.List, false)
			f.list(n.ElseList, top)
		}
		out = append(out, n)
	}
	l.Nodes = out
}

// print returns what an action with pipeline p prints, when it is the
// same for every node.
func (f *folder) print(p *parse.PipeNode, top bool) (string, bool) {
	if !foldablePipe(p, top) {
		return "", false
	}
	f.action.Tree.Root.Nodes[0].(*parse.ActionNode).Pipe = p
	return f.run(f.action)
}

// branch returns the list an {{if}} takes (nil: none), when the
// condition is the same for every node. A branch that declares a
// variable of its own is not taken out of the if, whose end would no
// longer end the variable's scope.
func (f *folder) branch(n *parse.IfNode, top bool) (*parse.ListNode, bool) {
	if !foldablePipe(n.Pipe, top) {
		return nil, false
	}
	f.cond.Tree.Root.Nodes[0].(*parse.IfNode).Pipe = n.Pipe
	truth, ok := f.run(f.cond)
	if !ok {
		return nil, false
	}
	branch := n.ElseList
	if truth == "1" {
		branch = n.List
	}
	if branch != nil {
		for _, c := range branch.Nodes {
			if a, ok := c.(*parse.ActionNode); ok && len(a.Pipe.Decl) > 0 && !a.Pipe.IsAssign {
				return nil, false
			}
		}
	}
	return branch, true
}

func (f *folder) run(t *template.Template) (string, bool) {
	f.buf.Reset()
	if err := t.Execute(&f.buf, f.arg); err != nil {
		return "", false
	}
	return f.buf.String(), true
}

// foldablePipe reports whether p's value is the same for every node:
// see folder.
func foldablePipe(p *parse.PipeNode, top bool) bool {
	if p == nil || len(p.Decl) > 0 {
		return false
	}
	for _, c := range p.Cmds {
		for _, arg := range c.Args {
			if !foldableArg(arg, top) {
				return false
			}
		}
	}
	return true
}

func foldableArg(n parse.Node, top bool) bool {
	switch n := n.(type) {
	case *parse.FieldNode:
		return top && nodeFree[n.Ident[0]]
	case *parse.VariableNode:
		return n.Ident[0] == "$" && len(n.Ident) > 1 && nodeFree[n.Ident[1]]
	case *parse.ChainNode:
		return foldableArg(n.Node, top)
	case *parse.PipeNode:
		return foldablePipe(n, top)
	case *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
		return true
	}
	return false
}
