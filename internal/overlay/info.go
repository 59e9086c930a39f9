package overlay

import (
	"reflect"
	"regexp"
	"slices"
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

// Variables lists the template data a template reads, with their types,
// flags and help, and the lines of its "wwdoc" comments ({{/* wwdoc: ... */}},
// {{/* wwdoc2: ... */}}, in the order of their keys, the last of a key
// winning), for "wwctl overlay info" as Warewulf 4.7 shows them. Names are
// as written: ".Id", "$.Id", and inside a range over .NetDevs ".Device",
// or "$netdev.Device" for its variable. A name whose type is not known is
// left out, as is a plain variable ($netdev) that no comment documents.
func Variables(src []byte) ([]Var, []string, error) {
	trees := map[string]*parse.Tree{}
	tr := parse.New("t")
	tr.Mode = parse.ParseComments
	if _, err := tr.Parse(string(src), "", "", trees, FuncNames(), builtinFuncs()); err != nil {
		return nil, nil, err
	}
	data := reflect.TypeOf(Data{})
	s := &varScan{vars: map[string]reflect.Type{"$": data}, found: map[string]*fieldRef{}}
	// The template first, then those it defines (which Warewulf does not
	// look at), each with the data as dot.
	names := make([]string, 0, len(trees))
	for name := range trees {
		if name != "t" {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range append([]string{"t"}, names...) {
		if t := trees[name]; t != nil {
			s.walk(t.Root, data)
		}
	}
	comments := map[string]string{}
	for _, m := range commentDoc.FindAllStringSubmatch(string(src), -1) {
		comments[m[1]] = m[2]
	}
	var docs []string
	for _, k := range sortedKeys(comments) {
		if strings.Contains(k, "wwdoc") {
			docs = append(docs, comments[k])
		}
	}
	var vars []Var
	flagDocs := fieldDocs()
	for _, name := range sortedKeys(s.found) {
		ref := s.found[name]
		v := Var{Name: name}
		if ref.typ != nil {
			v.Type = ref.tag.Get("type")
			if v.Type == "" {
				v.Type = warewulfTypes.Replace(ref.typ.String())
			}
			if d, ok := flagDocs[ref.owner][strings.ToLower(strings.TrimSuffix(ref.field, "P"))]; ok && ref.field != "" {
				v.Option, v.Help = d[0], d[1]
			}
		}
		h, documented := comments[name]
		if documented {
			v.Help = h
		}
		// As Warewulf: a plain variable only when documented, or (its
		// special case for tags) named like one.
		if ref.typ == nil && !documented && !strings.Contains(name, "Tags") {
			continue
		}
		vars = append(vars, v)
	}
	return vars, docs, nil
}

// warewulfTypes names the template data's types as Warewulf's are named.
var warewulfTypes = strings.NewReplacer(
	"overlay.WWbool", "wwtype.WWbool",
	"overlay.DhcpConf", "config.DHCPConf",
	"overlay.NfsConf", "config.NFSConf",
	"overlay.NfsExport", "config.NFSExportConf",
	"overlay.SshConf", "config.SSHConf",
	"overlay.WarewulfConf", "config.WarewulfConf",
	"overlay.WwclientConf", "config.WWClientConf",
	"overlay.TftpConf", "config.TFTPConf",
	"overlay.PathsConf", "config.BuildConfig",
	"overlay.", "node.",
	"net.IP", "IP",
	// The only interface in the data: a value of .Resources.
	"interface {}", "node.Resource",
)

// varScan walks a template's parse tree as Warewulf's overlay info does,
// typing what each name refers to.
type varScan struct {
	// vars are the template variables of known type: "$" (the data),
	// and those declared from a field, another variable or a range.
	vars map[string]reflect.Type
	// found is each name used, as written.
	found map[string]*fieldRef
}

// fieldRef is what a name refers to: a field, a method's result or a map
// value (owner and field empty), or with a nil typ a plain variable.
type fieldRef struct {
	typ          reflect.Type
	owner, field string // the struct declaring the field, and the field's (or method's) name
	tag          reflect.StructTag
}

// walk records the names n uses, dot being of type dot (nil: unknown).
func (s *varScan) walk(n parse.Node, dot reflect.Type) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			s.walk(c, dot)
		}
	case *parse.ActionNode:
		s.declare(n.Pipe, s.assigned(n.Pipe, dot))
		s.walk(n.Pipe, dot)
	case *parse.IfNode:
		s.walk(n.Pipe, dot)
		s.walk(n.List, dot)
		s.walk(n.ElseList, dot)
	case *parse.WithNode:
		// Dot inside is the value of the pipeline (Warewulf types it as
		// outside, and so lists .Ipaddr in {{with .Ipmi}} as the
		// server's).
		s.walk(n.Pipe, dot)
		inner := s.assigned(n.Pipe, dot)
		s.declare(n.Pipe, inner)
		s.walk(n.List, inner)
		s.walk(n.ElseList, dot)
	case *parse.RangeNode:
		s.walk(n.Pipe, dot)
		// As Warewulf: the body only when the type ranged over is known.
		if t := s.ranged(n.Pipe, dot); t != nil {
			key, elem := reflect.TypeOf(0), t
			if t.Kind() == reflect.Map {
				key = t.Key()
			}
			if elem.Kind() == reflect.Slice || elem.Kind() == reflect.Array {
				elem = elem.Elem()
			}
			if elem.Kind() == reflect.Map {
				elem = elem.Elem()
			}
			for elem.Kind() == reflect.Pointer {
				elem = elem.Elem()
			}
			switch d := n.Pipe.Decl; len(d) {
			case 1:
				s.vars[d[0].Ident[0]] = elem
			case 2:
				s.vars[d[0].Ident[0]], s.vars[d[1].Ident[0]] = key, elem
			}
			s.walk(n.List, elem)
		}
		s.walk(n.ElseList, dot)
	case *parse.TemplateNode:
		s.walk(n.Pipe, dot)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			for _, a := range c.Args {
				s.walk(a, dot)
			}
		}
	case *parse.FieldNode:
		if ref := resolveP(dot, n.Ident); ref != nil {
			s.found[n.String()] = ref
		}
	case *parse.VariableNode:
		t, ok := s.vars[n.Ident[0]]
		if !ok {
			return
		}
		if len(n.Ident) == 1 {
			if s.found[n.String()] == nil {
				s.found[n.String()] = &fieldRef{}
			}
			return
		}
		name, idents := n.String(), n.Ident[1:]
		ref := resolve(t, idents)
		// A method of a field's value ($netdev.OnBoot.BoolDefaultTrue)
		// names the field.
		if ref == nil && len(idents) > 1 {
			if ref = resolve(t, idents[:len(idents)-1]); ref != nil {
				name = strings.Join(n.Ident[:len(n.Ident)-1], ".")
			}
		}
		if ref == nil {
			ref = resolveP(t, idents)
		}
		if ref != nil {
			s.found[name] = ref
		}
	}
}

// assigned is the type of what a pipeline's first command starts with, a
// field or a variable ($nd := .NetDevs), or nil.
func (s *varScan) assigned(p *parse.PipeNode, dot reflect.Type) reflect.Type {
	if p == nil || len(p.Cmds) == 0 || len(p.Cmds[0].Args) == 0 {
		return nil
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.FieldNode:
		if ref := resolve(dot, a.Ident); ref != nil {
			return ref.typ
		}
	case *parse.VariableNode:
		if len(a.Ident) == 1 {
			return s.vars[a.Ident[0]]
		}
	}
	return nil
}

// declare gives the variables a pipeline declares type t, when known.
func (s *varScan) declare(p *parse.PipeNode, t reflect.Type) {
	if p == nil || t == nil {
		return
	}
	for _, d := range p.Decl {
		s.vars[d.Ident[0]] = t
	}
}

// ranged is the type a range's pipeline yields, as Warewulf finds it: its
// first field, else its first variable of known type.
func (s *varScan) ranged(p *parse.PipeNode, dot reflect.Type) reflect.Type {
	if p == nil {
		return nil
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			if f, ok := a.(*parse.FieldNode); ok {
				if ref := resolve(dot, f.Ident); ref != nil {
					return ref.typ
				}
				return nil
			}
		}
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			v, ok := a.(*parse.VariableNode)
			if !ok {
				continue
			}
			if t, ok := s.vars[v.Ident[0]]; ok {
				if len(v.Ident) == 1 {
					return t
				}
				if ref := resolve(t, v.Ident[1:]); ref != nil {
					return ref.typ
				}
				return nil
			}
		}
	}
	return nil
}

// resolveP is resolve, falling back to the field behind a method
// (.Primary: PrimaryP) as Warewulf does.
func resolveP(t reflect.Type, idents []string) *fieldRef {
	if ref := resolve(t, idents); ref != nil {
		return ref
	}
	withP := slices.Clone(idents)
	withP[len(withP)-1] += "P"
	return resolve(t, withP)
}

// resolve follows a chain of fields, methods and map keys from type t.
// A method's result is typed by the method, documented by its backing
// field (ShouldExist: ShouldExistP). Past a map key the value's fields
// follow (.NetDevs.default.Ipaddr is an IP; Warewulf stops at the map and
// types the path *node.NetDev).
func resolve(t reflect.Type, idents []string) *fieldRef {
	if t == nil || len(idents) == 0 {
		return nil
	}
	var ref *fieldRef
	for _, id := range idents {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch t.Kind() {
		case reflect.Map:
			t = t.Elem()
			ref = &fieldRef{typ: t}
		case reflect.Struct:
			if f, ok := t.FieldByName(id); ok {
				ref = &fieldRef{typ: f.Type, owner: fieldOwner(t, f), field: id, tag: f.Tag}
				t = f.Type
				continue
			}
			m, ok := reflect.PointerTo(t).MethodByName(id)
			if !ok || m.Type.NumOut() == 0 {
				return nil
			}
			ref = &fieldRef{typ: m.Type.Out(0), owner: t.Name(), field: id}
			if b, ok := t.FieldByName(id + "P"); ok {
				ref.owner, ref.tag = fieldOwner(t, b), b.Tag
			}
			t = m.Type.Out(0)
		default:
			return nil
		}
	}
	return ref
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
