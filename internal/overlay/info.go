package overlay

import (
	"reflect"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/wwboot/wwboot/internal/inventory"
)

// FuncNames returns the template functions, for checking a template's
// syntax without rendering it.
func FuncNames() template.FuncMap { return funcMap(env{}, new(*execState)) }

// Var is a piece of template data a template uses.
type Var struct {
	Name string // as written: .NetDevs, .Tags.rack, $.Ipaddr
	Type string // its type as Warewulf names it (IP, node.NetDev), "" when unknown
	// Option is the wwctl node/profile flag that sets it ("--ipaddr"),
	// Help what the template's own comment ({{/* .Name: help */}}) or
	// else the flag says of it.
	Option, Help string
}

// commentDoc is Warewulf's documentation comment, {{/* KEY: text */}}:
// keys holding "wwdoc" document the template, others a variable.
var commentDoc = regexp.MustCompile(`{{-?\s*/\*\s*(.*?):\s*(.*?)\s*\*/\s*-?}}`)

// Variables lists the top-level template data a template reads, with
// their types, flags and help, and the lines of its "wwdoc" comments
// ({{/* wwdoc: ... */}}, {{/* wwdoc2: ... */}}, in the order of their
// keys, the last of a key winning), for "wwctl overlay info" as Warewulf
// shows it. Variables of unknown type are left out, except tags and
// those a comment documents.
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
	comments := map[string]string{}
	for _, m := range commentDoc.FindAllStringSubmatch(string(src), -1) {
		comments[m[1]] = m[2]
	}
	keys := make([]string, 0, len(comments))
	for k := range comments {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if strings.Contains(k, "wwdoc") {
			docs = append(docs, comments[k])
		}
	}
	var vars []Var
	for name := range seen {
		v := Var{Name: name}
		var parent, field string
		v.Type, parent, field = typeOf(name)
		if d, ok := fieldDocs()[parent][strings.ToLower(strings.TrimSuffix(field, "P"))]; ok && !strings.Contains(name, "Tags.") {
			v.Option, v.Help = d[0], d[1]
		}
		if h, ok := comments[name]; ok {
			v.Help = h
		}
		if v.Type == "" && v.Help == "" && !strings.Contains(name, "Tags") {
			continue
		}
		vars = append(vars, v)
	}
	sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
	return vars, docs, nil
}

// builtinFuncs names text/template's own functions for the parser.
func builtinFuncs() map[string]any {
	m := map[string]any{}
	for _, n := range []string{"and", "call", "html", "index", "slice", "js", "len", "not", "or", "print", "printf", "println", "urlquery", "eq", "ge", "gt", "le", "lt", "ne"} {
		// Not nil: the parser takes a nil entry for an unknown function.
		m[n] = true
	}
	return m
}

// typeOf follows a field path through Data's type, and names the
// struct type and field it ends at ("" for a map key).
func typeOf(name string) (typ, parent, field string) {
	t := reflect.TypeOf(Data{})
	for _, part := range strings.Split(strings.TrimPrefix(name, "."), ".") {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Struct:
			if f, ok := t.FieldByName(part); ok {
				parent, field = fieldOwner(t, f), part
				t = f.Type
				continue
			}
			if m, ok := reflect.PointerTo(t).MethodByName(part); ok && m.Type.NumOut() > 0 {
				parent, field = t.Name(), part
				t = m.Type.Out(0)
				continue
			}
			return "", "", ""
		case reflect.Map:
			parent, field = "", ""
			t = t.Elem()
		default:
			return "", "", ""
		}
	}
	r := strings.NewReplacer("net.IP", "IP", "overlay.", "node.")
	return r.Replace(t.String()), parent, field
}

// fieldOwner names the struct that declares f (a promoted field's own
// struct, not t).
func fieldOwner(t reflect.Type, f reflect.StructField) string {
	for _, i := range f.Index[:len(f.Index)-1] {
		t = t.Field(i).Type
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	return t.Name()
}

// fieldDocs maps a template struct's name and a field's lower-case name
// to the wwctl flag that sets the field and its help.
func fieldDocs() map[string]map[string][2]string {
	m := map[string]map[string][2]string{}
	addDocs(m, []string{"Node", "Profile"}, inventory.NodeFields())
	addDocs(m, []string{"Node", "Profile"}, inventory.ProfileFields())
	addDocs(m, []string{"KernelConf"}, inventory.KernelFields())
	addDocs(m, []string{"IpmiConf"}, inventory.IPMIFields())
	addDocs(m, []string{"NetDev"}, inventory.NetDevFields())
	addDocs(m, []string{"Disk"}, inventory.DiskFields())
	addDocs(m, []string{"Partition"}, inventory.PartitionFields())
	addDocs(m, []string{"FileSystem"}, inventory.FileSystemFields())
	return m
}

func addDocs[T any](m map[string]map[string][2]string, owners []string, fields []inventory.Field[T]) {
	for _, o := range owners {
		if m[o] == nil {
			m[o] = map[string][2]string{}
		}
		for _, f := range fields {
			opt := ""
			if f.Flag != "" {
				opt = "--" + f.Flag
			}
			m[o][strings.ToLower(f.Name)] = [2]string{opt, f.Help}
		}
	}
}
