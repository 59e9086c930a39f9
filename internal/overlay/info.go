package overlay

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"
)

// FuncNames returns the template functions, for checking a template's
// syntax without rendering it.
func FuncNames() template.FuncMap { return funcMap(env{}, new(*execState)) }

// Var is a piece of template data a template uses.
type Var struct {
	Name string // as written: .NetDevs, .Tags.rack, $.Ipaddr
	Type string // its Go type, "" when unknown
}

var wwdoc = regexp.MustCompile(`^\s*wwdoc:\s*(.*?)\s*$`)

// Variables lists the top-level template data a template reads, with
// their types, and the "wwdoc:" comments it carries ({{/* wwdoc: ... */}}),
// for "wwctl overlay info".
func Variables(src []byte) ([]Var, []string, error) {
	trees := map[string]*parse.Tree{}
	tr := parse.New("t")
	tr.Mode = parse.ParseComments
	if _, err := tr.Parse(string(src), "", "", trees, FuncNames(), builtinFuncs()); err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	var docs []string
	var walk func(n parse.Node, top bool)
	add := func(ident []string) { seen["."+strings.Join(ident, ".")] = true }
	walkArgs := func(p *parse.PipeNode, top bool) {
		if p == nil {
			return
		}
		for _, c := range p.Cmds {
			for _, a := range c.Args {
				switch a := a.(type) {
				case *parse.FieldNode:
					if top {
						add(a.Ident)
					}
				case *parse.VariableNode:
					if a.Ident[0] == "$" && len(a.Ident) > 1 {
						add(a.Ident[1:])
					}
				}
			}
		}
	}
	walk = func(n parse.Node, top bool) {
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c, top)
			}
		case *parse.ActionNode:
			walkArgs(n.Pipe, top)
		case *parse.IfNode:
			walkArgs(n.Pipe, top)
			walk(n.List, top)
			walk(n.ElseList, top)
		case *parse.RangeNode:
			walkArgs(n.Pipe, top)
			walk(n.List, false)
			walk(n.ElseList, top)
		case *parse.WithNode:
			walkArgs(n.Pipe, top)
			walk(n.List, false)
			walk(n.ElseList, top)
		case *parse.CommentNode:
			text := strings.TrimSuffix(strings.TrimPrefix(n.Text, "/*"), "*/")
			if m := wwdoc.FindStringSubmatch(text); m != nil {
				docs = append(docs, m[1])
			}
		}
	}
	names := make([]string, 0, len(trees))
	for name := range trees {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		walk(trees[name].Root, true)
	}
	var vars []Var
	for name := range seen {
		vars = append(vars, Var{Name: name, Type: typeOf(name)})
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
	return vars, docs, nil
}

// builtinFuncs names text/template's own functions for the parser.
func builtinFuncs() map[string]any {
	m := map[string]any{}
	for _, n := range []string{"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne"} {
		m[n] = nil
	}
	return m
}

// typeOf follows a field path through Data's type.
func typeOf(name string) string {
	t := reflect.TypeOf(Data{})
	for _, part := range strings.Split(strings.TrimPrefix(name, "."), ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			if f, ok := t.FieldByName(part); ok {
				t = f.Type
				continue
			}
			if m, ok := reflect.PointerTo(t).MethodByName(part); ok && m.Type.NumOut() > 0 {
				t = m.Type.Out(0)
				continue
			}
			return ""
		case reflect.Map:
			t = t.Elem()
		default:
			return ""
		}
	}
	return strings.ReplaceAll(t.String(), "overlay.", "")
}
