package overlay

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// A program is a parsed template compiled to Go closures, so that it runs
// without text/template's per-action costs: a field is found by name
// once per type at each place it is named (text/template searches the
// method set and the fields at every evaluation), a function's
// parameters are known when the template is compiled, and plain strings,
// booleans and integers are printed without fmt.
//
// It gives the same output as text/template's Execute for what it runs
// to the end, by following exec.go's rules step by step (truth, variables
// and their scopes, the conversion of arguments, the order of a map's
// keys, what and/or return, how a value prints). Wherever text/template
// would fail, and wherever this one is not sure to do as it does (a nil
// pointer on the way, a range over an integer, a channel or a function,
// html/js/urlquery/call and the built-in slice, which Sprig's slice hides
// in every template the renderer compiles, a panic in a function, a depth
// of templates it does not expect), run gives up and says so; the caller
// then executes the template with text/template from the start, so
// output and error messages are text/template's own. The one failure it
// reports itself is errAbort, which the renderer turns into "no output"
// either way.
//
// A program belongs to one Renderer and is not safe for concurrent use:
// its look-up caches are written as it runs.
type program struct {
	root  step
	named map[string]*step // the templates {{template}} calls, compiled once
	tmpl  *template.Template
	funcs template.FuncMap
	print map[reflect.Type]printKind
	// bails counts the runs that gave up (tests read it).
	bails int
	// spare is the runner of the last run, for the next.
	spare *runner
}

// bail is the panic value that ends a run that text/template must redo.
type bail struct{ why string }

// abortSignal ends a run on a function's errAbort.
type abortSignal struct{ err error }

// ctl is what a step tells the list around it: go on, or leave a range
// iteration (continue) or the range (break).
type ctl uint8

const (
	ctlNext ctl = iota
	ctlBreak
	ctlContinue
)

type step func(r *runner, dot reflect.Value) ctl

// expr evaluates a command; final is the previous command's value in the
// pipeline (the compiler knows whether there is one).
type expr func(r *runner, dot, final reflect.Value) reflect.Value

// argFn evaluates an argument for a parameter of type typ, as
// text/template's evalArg (typ nil: as it is).
type argFn func(r *runner, dot reflect.Value, typ reflect.Type) reflect.Value

type tvar struct {
	name  string
	value reflect.Value
}

type runner struct {
	p     *program
	w     *execState
	vars  []tvar
	base  int // the first variable the current template sees
	depth int
	num   []byte
	// stack holds the arguments of the calls under way (args).
	stack []reflect.Value
}

// args evaluates a call's arguments onto the runner's stack, each for
// its parameter's type (final last when hasFinal), and returns them and
// where they start: drop(start) once the call has returned.
func (r *runner) args(c *callee, args []argFn, dot reflect.Value, hasFinal bool, final reflect.Value) ([]reflect.Value, int) {
	start := len(r.stack)
	for i, a := range args {
		// Evaluating an argument can call functions too, which use the
		// stack above start and leave it as they found it.
		v := a(r, dot, c.paramType(i))
		r.stack = append(r.stack, v)
	}
	if hasFinal {
		r.stack = append(r.stack, validateType(final, c.paramType(len(args))))
	}
	return r.stack[start:], start
}

func (r *runner) drop(start int) {
	clear(r.stack[start:])
	r.stack = r.stack[:start]
}

// maxDepth is how deep {{template}} calls go before run gives up
// (text/template's own limit is much higher, and it reports it).
const maxDepth = 1000

var (
	reflectValueType = reflect.TypeFor[reflect.Value]()
	errorType        = reflect.TypeFor[error]()
	stringerType     = reflect.TypeFor[fmt.Stringer]()
	stringType       = reflect.TypeFor[string]()
	boolType         = reflect.TypeFor[bool]()
)

func giveUp(format string, args ...any) { panic(bail{fmt.Sprintf(format, args...)}) }

// compileTemplate compiles t, or says why it cannot. t must have been
// made with the option missingkey=default.
func compileTemplate(t *template.Template, funcs template.FuncMap) (p *program, err error) {
	if t.Tree == nil || t.Tree.Root == nil {
		return nil, errors.New("no template body")
	}
	p = &program{named: map[string]*step{}, tmpl: t, funcs: funcs, print: map[reflect.Type]printKind{}}
	defer func() {
		if x := recover(); x != nil {
			b, ok := x.(bail)
			if !ok {
				panic(x)
			}
			p, err = nil, errors.New(b.why)
		}
	}()
	p.root = p.list(t.Tree.Root)
	return p, nil
}

// run executes the program with data, writing to st. ok is false when it
// gave up: what it wrote and did must then be thrown away and the
// template executed with text/template.
func (p *program) run(st *execState, data any) (err error, ok bool) {
	defer func() {
		if x := recover(); x != nil {
			if a, isAbort := x.(abortSignal); isAbort {
				err, ok = a.err, true
				return
			}
			p.bails++
			err, ok = nil, false
		}
	}()
	dot := reflect.ValueOf(data)
	// One runner a program, reused from one run to the next (a run
	// does not start another of the same program).
	r := p.spare
	if r == nil {
		r = &runner{p: p, vars: make([]tvar, 0, 16)}
	}
	p.spare = nil
	defer func() {
		clear(r.vars)
		clear(r.stack)
		r.w, r.vars, r.stack, r.base, r.depth = nil, r.vars[:0], r.stack[:0], 0, 0
		p.spare = r
	}()
	r.w = st
	r.vars = append(r.vars, tvar{"$", dot})
	p.root(r, dot)
	return nil, true
}

// Steps.

func (p *program) list(l *parse.ListNode) step {
	if l == nil {
		return nil
	}
	steps := make([]step, 0, len(l.Nodes))
	for _, n := range l.Nodes {
		if s := p.node(n); s != nil {
			steps = append(steps, s)
		}
	}
	switch len(steps) {
	case 0:
		return func(*runner, reflect.Value) ctl { return ctlNext }
	case 1:
		return steps[0]
	}
	return func(r *runner, dot reflect.Value) ctl {
		for _, s := range steps {
			if c := s(r, dot); c != ctlNext {
				return c
			}
		}
		return ctlNext
	}
}

func (p *program) node(n parse.Node) step {
	switch n := n.(type) {
	case *parse.TextNode:
		text := n.Text
		return func(r *runner, _ reflect.Value) ctl {
			_, _ = r.w.Write(text)
			return ctlNext
		}
	case *parse.CommentNode:
		return nil
	case *parse.ActionNode:
		pipe := p.pipeline(n.Pipe)
		if len(n.Pipe.Decl) > 0 {
			return func(r *runner, dot reflect.Value) ctl {
				pipe(r, dot)
				return ctlNext
			}
		}
		return func(r *runner, dot reflect.Value) ctl {
			r.printValue(pipe(r, dot))
			return ctlNext
		}
	case *parse.IfNode:
		return p.ifOrWith(n.Pipe, n.List, n.ElseList, false)
	case *parse.WithNode:
		return p.ifOrWith(n.Pipe, n.List, n.ElseList, true)
	case *parse.RangeNode:
		return p.rangeStep(n)
	case *parse.ListNode:
		return p.list(n)
	case *parse.BreakNode:
		return func(*runner, reflect.Value) ctl { return ctlBreak }
	case *parse.ContinueNode:
		return func(*runner, reflect.Value) ctl { return ctlContinue }
	case *parse.TemplateNode:
		return p.templateStep(n)
	}
	giveUp("cannot compile %s", n)
	return nil
}

func (p *program) ifOrWith(pipeNode *parse.PipeNode, list, elseList *parse.ListNode, with bool) step {
	pipe := p.pipeline(pipeNode)
	body, other := p.list(list), p.list(elseList)
	return func(r *runner, dot reflect.Value) ctl {
		mark := len(r.vars)
		val := pipe(r, dot)
		truth, ok := isTrue(indirectInterface(val))
		if !ok {
			giveUp("if/with can't use %v", val)
		}
		c := ctlNext
		switch {
		case truth && with:
			c = body(r, val)
		case truth:
			c = body(r, dot)
		case other != nil:
			c = other(r, dot)
		}
		r.vars = r.vars[:mark]
		return c
	}
}

func (p *program) rangeStep(n *parse.RangeNode) step {
	pipe := p.pipeline(n.Pipe)
	body, other := p.list(n.List), p.list(n.ElseList)
	decl, assign := declNames(n.Pipe), n.Pipe.IsAssign
	return func(r *runner, dot reflect.Value) ctl {
		mark := len(r.vars)
		val, _ := indirect(pipe(r, dot))
		inner := len(r.vars)
		// one runs the body for one element; false: break.
		one := func(index, elem reflect.Value) bool {
			if len(decl) > 0 {
				switch {
				case assign && len(decl) > 1:
					r.setVar(decl[0], index)
				case assign:
					r.setVar(decl[0], elem)
				default:
					r.vars[len(r.vars)-1].value = elem
				}
			}
			if len(decl) > 1 {
				if assign {
					r.setVar(decl[1], elem)
				} else {
					r.vars[len(r.vars)-2].value = index
				}
			}
			c := body(r, elem)
			r.vars = r.vars[:inner]
			return c != ctlBreak
		}
		ran := false
		switch val.Kind() {
		case reflect.Array, reflect.Slice:
			for i := 0; i < val.Len(); i++ {
				ran = true
				if !one(reflect.ValueOf(i), val.Index(i)) {
					break
				}
			}
		case reflect.Map:
			if val.Len() > 0 {
				ran = true
				for _, kv := range sortedMap(val) {
					if !one(kv[0], kv[1]) {
						break
					}
				}
			}
		case reflect.Invalid:
		default:
			giveUp("range over %s", val.Kind())
		}
		c := ctlNext
		if !ran && other != nil {
			// A break in the else part ends this range, as text/template's
			// recover in walkRange takes it; a continue goes on out.
			if c = other(r, dot); c == ctlBreak {
				c = ctlNext
			}
		}
		r.vars = r.vars[:mark]
		return c
	}
}

// sortedMap is m's keys and values in fmtsort's order, for the key kinds
// it orders simply (strings, integers); any other gives up.
func sortedMap(m reflect.Value) [][2]reflect.Value {
	kvs := make([][2]reflect.Value, 0, m.Len())
	it := m.MapRange()
	for it.Next() {
		kvs = append(kvs, [2]reflect.Value{it.Key(), it.Value()})
	}
	switch m.Type().Key().Kind() {
	case reflect.String:
		slices.SortFunc(kvs, func(a, b [2]reflect.Value) int { return strings.Compare(a[0].String(), b[0].String()) })
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		slices.SortFunc(kvs, func(a, b [2]reflect.Value) int { return cmp.Compare(a[0].Int(), b[0].Int()) })
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		slices.SortFunc(kvs, func(a, b [2]reflect.Value) int { return cmp.Compare(a[0].Uint(), b[0].Uint()) })
	default:
		giveUp("range over a map keyed by %s", m.Type().Key())
	}
	return kvs
}

func (p *program) templateStep(n *parse.TemplateNode) step {
	var pipe func(r *runner, dot reflect.Value) reflect.Value
	if n.Pipe != nil {
		pipe = p.pipeline(n.Pipe)
	}
	target := p.named[n.Name]
	if target == nil {
		t := p.tmpl.Lookup(n.Name)
		if t == nil || t.Tree == nil || t.Tree.Root == nil {
			giveUp("template %q not defined", n.Name)
		}
		// Registered before its body is compiled, so a template that
		// calls itself finds itself.
		target = new(step)
		p.named[n.Name] = target
		*target = p.list(t.Tree.Root)
	}
	return func(r *runner, dot reflect.Value) ctl {
		if r.depth >= maxDepth {
			giveUp("template depth")
		}
		if pipe != nil {
			dot = pipe(r, dot)
		} else {
			dot = reflect.Value{}
		}
		// No variable of the caller is seen: the callee starts with $.
		base := r.base
		r.base = len(r.vars)
		r.vars = append(r.vars, tvar{"$", dot})
		r.depth++
		(*target)(r, dot)
		r.depth--
		r.vars = r.vars[:r.base]
		r.base = base
		return ctlNext
	}
}

// Variables.

func declNames(pipe *parse.PipeNode) []string {
	if pipe == nil {
		return nil
	}
	names := make([]string, len(pipe.Decl))
	for i, v := range pipe.Decl {
		names[i] = v.Ident[0]
	}
	return names
}

func (r *runner) setVar(name string, v reflect.Value) {
	for i := len(r.vars) - 1; i >= r.base; i-- {
		if r.vars[i].name == name {
			r.vars[i].value = v
			return
		}
	}
	giveUp("undefined variable: %s", name)
}

func (r *runner) varValue(name string) reflect.Value {
	for i := len(r.vars) - 1; i >= r.base; i-- {
		if r.vars[i].name == name {
			return r.vars[i].value
		}
	}
	giveUp("undefined variable: %s", name)
	return reflect.Value{}
}

// Pipelines and commands.

func (p *program) pipeline(pipe *parse.PipeNode) func(r *runner, dot reflect.Value) reflect.Value {
	if pipe == nil {
		return func(*runner, reflect.Value) reflect.Value { return reflect.Value{} }
	}
	cmds := make([]expr, len(pipe.Cmds))
	for i, c := range pipe.Cmds {
		cmds[i] = p.command(c, i > 0)
	}
	decl, assign := declNames(pipe), pipe.IsAssign
	return func(r *runner, dot reflect.Value) reflect.Value {
		var v reflect.Value
		for _, c := range cmds {
			v = c(r, dot, v)
			if v.Kind() == reflect.Interface && v.Type().NumMethod() == 0 {
				v = v.Elem()
			}
		}
		for _, name := range decl {
			if assign {
				r.setVar(name, v)
			} else {
				r.vars = append(r.vars, tvar{name, v})
			}
		}
		return v
	}
}

// command compiles one command; hasFinal: a previous command's value is
// passed as its last argument.
func (p *program) command(cmd *parse.CommandNode, hasFinal bool) expr {
	args := cmd.Args[1:]
	notAFunction := func() {
		if len(args) > 0 || hasFinal {
			giveUp("can't give argument to non-function %s", cmd.Args[0])
		}
	}
	switch n := cmd.Args[0].(type) {
	case *parse.FieldNode:
		chain := p.fieldChain(n.Ident, args, hasFinal)
		return func(r *runner, dot, final reflect.Value) reflect.Value { return chain(r, dot, dot, final) }
	case *parse.ChainNode:
		base := p.chainBase(n)
		chain := p.fieldChain(n.Field, args, hasFinal)
		return func(r *runner, dot, final reflect.Value) reflect.Value {
			return chain(r, dot, base(r, dot, nil), final)
		}
	case *parse.IdentifierNode:
		return p.function(n.Ident, args, hasFinal, true)
	case *parse.PipeNode:
		notAFunction()
		pipe := p.pipeline(n)
		return func(r *runner, dot, _ reflect.Value) reflect.Value { return pipe(r, dot) }
	case *parse.VariableNode:
		name := n.Ident[0]
		if len(n.Ident) == 1 {
			notAFunction()
			return func(r *runner, _, _ reflect.Value) reflect.Value { return r.varValue(name) }
		}
		chain := p.fieldChain(n.Ident[1:], args, hasFinal)
		return func(r *runner, dot, final reflect.Value) reflect.Value {
			return chain(r, dot, r.varValue(name), final)
		}
	case *parse.DotNode:
		notAFunction()
		return func(_ *runner, dot, _ reflect.Value) reflect.Value { return dot }
	case *parse.BoolNode, *parse.NumberNode, *parse.StringNode:
		notAFunction()
		v := literal(n)
		return func(*runner, reflect.Value, reflect.Value) reflect.Value { return v }
	}
	giveUp("can't evaluate command %q", cmd.Args[0])
	return nil
}

// literal is the value of a constant where no type is asked for
// (text/template's idealConstant for numbers).
func literal(n parse.Node) reflect.Value {
	switch n := n.(type) {
	case *parse.BoolNode:
		return reflect.ValueOf(n.True)
	case *parse.StringNode:
		return reflect.ValueOf(n.Text)
	case *parse.NumberNode:
		switch {
		case n.IsComplex:
			return reflect.ValueOf(n.Complex128)
		case n.IsFloat && !isHexInt(n.Text) && !isRuneInt(n.Text) && strings.ContainsAny(n.Text, ".eEpP"):
			return reflect.ValueOf(n.Float64)
		case n.IsInt:
			i := int(n.Int64)
			if int64(i) != n.Int64 {
				giveUp("%s overflows int", n.Text)
			}
			return reflect.ValueOf(i)
		}
		giveUp("%s overflows int", n.Text)
	}
	giveUp("not a constant: %s", n)
	return reflect.Value{}
}

func isRuneInt(s string) bool { return len(s) > 0 && s[0] == '\'' }

func isHexInt(s string) bool {
	return len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && !strings.ContainsAny(s, "pP")
}

// chainBase compiles the (pipeline) of a chain such as (pipeline).Field.
func (p *program) chainBase(n *parse.ChainNode) argFn {
	switch n.Node.(type) {
	case *parse.FieldNode, *parse.VariableNode, *parse.PipeNode, *parse.IdentifierNode, *parse.ChainNode, *parse.DotNode:
		return p.arg(n.Node)
	}
	giveUp("cannot compile the chain %s", n)
	return nil
}

// Fields and methods.

// fieldChain compiles .A.B.C: every name but the last is evaluated
// without arguments; the last may be a method given args and final.
func (p *program) fieldChain(idents []string, args []parse.Node, hasFinal bool) func(r *runner, dot, receiver, final reflect.Value) reflect.Value {
	sites := make([]*fieldSite, len(idents))
	for i, name := range idents {
		sites[i] = &fieldSite{name: name, nameVal: reflect.ValueOf(name)}
	}
	last := sites[len(sites)-1]
	last.args = make([]argFn, len(args))
	for i, a := range args {
		last.args[i] = p.arg(a)
	}
	last.hasFinal = hasFinal
	return func(r *runner, dot, receiver, final reflect.Value) reflect.Value {
		for _, s := range sites[:len(sites)-1] {
			receiver = s.eval(r, dot, receiver, reflect.Value{})
		}
		return last.eval(r, dot, receiver, final)
	}
}

// fieldSite is one name in a chain, with what it was last found to be.
type fieldSite struct {
	name     string
	nameVal  reflect.Value
	args     []argFn
	hasFinal bool

	typ    reflect.Type // the type looked up last (of ptr below)
	method int          // index in typ's method set, or -1
	call   *callee      // the method's call, for typ
	field  []int        // the struct field's index, nil if none
	mapKey bool         // typ is a map the name can index
	// result calls the bound method, of no arguments, without reflect's
	// Call: set for the kinds the data's methods are (nil: Call).
	result func(bound any) reflect.Value
	// direct calls the method on the receiver without making a bound
	// method value: set for the template data's own methods
	// (directMethod).
	direct func(ptr reflect.Value) reflect.Value
}

func (s *fieldSite) eval(r *runner, dot, receiver, final reflect.Value) reflect.Value {
	if !receiver.IsValid() {
		return reflect.Value{} // missingkey=default
	}
	receiver, isNil := indirect(receiver)
	if isNil {
		giveUp("nil pointer evaluating %s", s.name)
	}
	ptr := receiver
	if ptr.CanAddr() {
		ptr = ptr.Addr()
	}
	if ptr.Type() != s.typ {
		s.lookup(ptr, receiver.Type())
	}
	hasArgs := len(s.args) > 0 || s.hasFinal
	switch {
	case s.direct != nil:
		return s.direct(ptr)
	case s.method >= 0 && s.result != nil:
		return s.result(ptr.Method(s.method).Interface())
	case s.method >= 0:
		return s.call.invoke(r, ptr.Method(s.method), dot, s.args, s.hasFinal, final)
	case s.field != nil:
		if hasArgs {
			giveUp("%s has arguments but cannot be invoked as function", s.name)
		}
		v, err := receiver.FieldByIndexErr(s.field)
		if err != nil {
			giveUp("%v", err)
		}
		return v
	case s.mapKey:
		if hasArgs {
			giveUp("%s is not a method but has arguments", s.name)
		}
		return receiver.MapIndex(s.nameVal)
	}
	giveUp("can't evaluate field %s", s.name)
	return reflect.Value{}
}

func (s *fieldSite) lookup(ptr reflect.Value, recvType reflect.Type) {
	s.typ, s.method, s.call, s.field, s.mapKey, s.result, s.direct = ptr.Type(), -1, nil, nil, false, nil, nil
	if m, ok := s.typ.MethodByName(s.name); ok {
		s.method = m.Index
		bound := ptr.Method(m.Index).Type() // the method's type without its receiver
		s.call = newCallee(s.name, bound, len(s.args), s.hasFinal)
		if len(s.args) == 0 && !s.hasFinal {
			s.direct = directMethod(s.typ, s.name)
		}
		if bound.NumIn() == 0 && len(s.args) == 0 && !s.hasFinal && bound.NumOut() == 1 {
			switch bound.Out(0) {
			case stringType:
				s.result = func(bound any) reflect.Value { return reflect.ValueOf(bound.(func() string)()) }
			case boolType:
				s.result = func(bound any) reflect.Value { return reflect.ValueOf(bound.(func() bool)()) }
			}
		}
		return
	}
	switch recvType.Kind() {
	case reflect.Struct:
		if f, ok := recvType.FieldByName(s.name); ok && f.IsExported() {
			s.field = f.Index
		}
	case reflect.Map:
		s.mapKey = stringType.AssignableTo(recvType.Key())
	}
}

// directMethod returns a call of the method name of the template data's
// type t (a receiver as fieldSite.eval has it) that makes no bound method
// value, nil for any other: the data's methods are called for every
// node, a network device's several times.
func directMethod(t reflect.Type, name string) func(reflect.Value) reflect.Value {
	switch t {
	case reflect.TypeFor[*NetDev]():
		switch name {
		case "Primary":
			return direct((*NetDev).Primary)
		case "IpCIDR":
			return direct((*NetDev).IpCIDR)
		case "IpCIDR6":
			return direct((*NetDev).IpCIDR6)
		}
	case reflect.TypeFor[*WWbool]():
		switch name {
		case "Bool":
			return direct((*WWbool).Bool)
		case "BoolDefaultTrue":
			return direct((*WWbool).BoolDefaultTrue)
		case "String":
			return direct((*WWbool).String)
		}
	case reflect.TypeFor[*Node]():
		switch name {
		case "Id":
			return direct((*Node).Id)
		case "ContainerName":
			return direct((*Node).ContainerName)
		case "Valid":
			return direct((*Node).Valid)
		}
	}
	return nil
}

// direct is method expression f called on a receiver of type T.
func direct[T any, R string | bool](f func(T) R) func(reflect.Value) reflect.Value {
	return func(v reflect.Value) reflect.Value { return reflect.ValueOf(f(v.Interface().(T))) }
}

// Functions.

// callee is what a call needs of a function's type, worked out once.
type callee struct {
	name     string
	typ      reflect.Type
	numIn    int // arguments given, final included
	numFixed int
	bad      string // why a call cannot be made ("" if it can)
}

func newCallee(name string, typ reflect.Type, nargs int, hasFinal bool) *callee {
	c := &callee{name: name, typ: typ, numIn: nargs, numFixed: nargs}
	if hasFinal {
		c.numIn++
	}
	if typ.IsVariadic() {
		c.numFixed = typ.NumIn() - 1
		if c.numIn < c.numFixed {
			c.bad = "wrong number of args"
		}
	} else if c.numIn != typ.NumIn() {
		c.bad = "wrong number of args"
	}
	switch {
	case typ.NumOut() == 1:
	case typ.NumOut() == 2 && typ.Out(1) == errorType:
	default:
		c.bad = "bad function"
	}
	return c
}

// paramType is the type the i'th argument (final included) is checked
// against.
func (c *callee) paramType(i int) reflect.Type {
	if c.typ.IsVariadic() && i >= c.numFixed {
		return c.typ.In(c.typ.NumIn() - 1).Elem()
	}
	return c.typ.In(i)
}

func (c *callee) invoke(r *runner, fn, dot reflect.Value, args []argFn, hasFinal bool, final reflect.Value) reflect.Value {
	if c.bad != "" {
		giveUp("%s: %s", c.name, c.bad)
	}
	argv, start := r.args(c, args, dot, hasFinal, final)
	ret := fn.Call(argv)
	r.drop(start)
	return r.result(ret)
}

// result is a call's value; an error ends the run.
func (r *runner) result(ret []reflect.Value) reflect.Value {
	if len(ret) == 2 && !ret[1].IsNil() {
		err := ret[1].Interface().(error)
		if errors.Is(err, errAbort) && r.w.abort {
			panic(abortSignal{err})
		}
		giveUp("error calling: %v", err)
	}
	v := ret[0]
	if v.Type() == reflectValueType {
		v = v.Interface().(reflect.Value)
	}
	return v
}

// function compiles a call of a function of the template's set, or of a
// built-in one, which the set's functions hide as in text/template.
func (p *program) function(name string, args []parse.Node, hasFinal, inPipeline bool) expr {
	if f, ok := p.funcs[name]; ok {
		fn := reflect.ValueOf(f)
		if fn.Kind() != reflect.Func {
			giveUp("%s is not a function", name)
		}
		c := newCallee(name, fn.Type(), len(args), hasFinal)
		if c.bad != "" {
			giveUp("%s: %s", name, c.bad)
		}
		fns := make([]argFn, len(args))
		for i, a := range args {
			fns[i] = p.typedArg(a, c.paramType(i))
		}
		if fast := fastCall(f, c, fns, hasFinal, inPipeline); fast != nil {
			return fast
		}
		return func(r *runner, dot, final reflect.Value) reflect.Value {
			return c.invoke(r, fn, dot, fns, hasFinal, final)
		}
	}
	return p.builtin(name, args, hasFinal)
}

// fastCall calls the kinds of function the stock templates call most
// (of strings and of any values) without reflect's Call. Arguments are
// evaluated and checked as for any function. A function that returns an
// interface value is called so only in a pipeline (inPipeline), which
// takes the value out of its interface anyway. nil for any other kind.
func fastCall(f any, c *callee, args []argFn, hasFinal, inPipeline bool) expr {
	var call func(vs []reflect.Value) reflect.Value
	switch f := f.(type) {
	case func(string) string:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(vs[0].String())) }
	case func(string, string) string:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(vs[0].String(), vs[1].String())) }
	case func(string) bool:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(vs[0].String())) }
	case func(string, string) bool:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(vs[0].String(), vs[1].String())) }
	case func(string, any) string:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(vs[0].String(), vs[1].Interface())) }
	case func(any) string:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(vs[0].Interface())) }
	case func(any) []any:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(vs[0].Interface())) }
	case func(any, any) []any:
		call = func(vs []reflect.Value) reflect.Value {
			return reflect.ValueOf(f(vs[0].Interface(), vs[1].Interface()))
		}
	case func(any, any) int64:
		call = func(vs []reflect.Value) reflect.Value {
			return reflect.ValueOf(f(vs[0].Interface(), vs[1].Interface()))
		}
	case func(...any) []any:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(interfaces(vs)...)) }
	case func(...any) string:
		call = func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(f(interfaces(vs)...)) }
	case func(any, ...any) any:
		if !inPipeline {
			return nil
		}
		call = func(vs []reflect.Value) reflect.Value {
			if v := f(vs[0].Interface(), interfaces(vs[1:])...); v != nil {
				return reflect.ValueOf(v)
			}
			return reflect.Value{}
		}
	default:
		return nil
	}
	return func(r *runner, dot, final reflect.Value) reflect.Value {
		vs, start := r.args(c, args, dot, hasFinal, final)
		v := call(vs)
		r.drop(start)
		return v
	}
}

// interfaces is vs as the values a function of ...any parameters gets.
func interfaces(vs []reflect.Value) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v.Interface()
	}
	return out
}

// typedArg compiles an argument whose parameter type is known: a
// constant is converted once.
func (p *program) typedArg(n parse.Node, typ reflect.Type) argFn {
	switch n.(type) {
	case *parse.BoolNode, *parse.NumberNode, *parse.StringNode, *parse.NilNode:
		v := constArg(n, typ)
		return func(*runner, reflect.Value, reflect.Type) reflect.Value { return v }
	}
	return p.arg(n)
}

// arg compiles an argument, as text/template's evalArg.
func (p *program) arg(n parse.Node) argFn {
	switch n := n.(type) {
	case *parse.DotNode:
		return func(_ *runner, dot reflect.Value, typ reflect.Type) reflect.Value { return validateType(dot, typ) }
	case *parse.FieldNode:
		chain := p.fieldChain(n.Ident, nil, false)
		return func(r *runner, dot reflect.Value, typ reflect.Type) reflect.Value {
			return validateType(chain(r, dot, dot, reflect.Value{}), typ)
		}
	case *parse.VariableNode:
		name := n.Ident[0]
		if len(n.Ident) == 1 {
			return func(r *runner, _ reflect.Value, typ reflect.Type) reflect.Value {
				return validateType(r.varValue(name), typ)
			}
		}
		chain := p.fieldChain(n.Ident[1:], nil, false)
		return func(r *runner, dot reflect.Value, typ reflect.Type) reflect.Value {
			return validateType(chain(r, dot, r.varValue(name), reflect.Value{}), typ)
		}
	case *parse.PipeNode:
		pipe := p.pipeline(n)
		return func(r *runner, dot reflect.Value, typ reflect.Type) reflect.Value {
			return validateType(pipe(r, dot), typ)
		}
	case *parse.IdentifierNode:
		f := p.function(n.Ident, nil, false, false)
		return func(r *runner, dot reflect.Value, typ reflect.Type) reflect.Value {
			return validateType(f(r, dot, reflect.Value{}), typ)
		}
	case *parse.ChainNode:
		base := p.chainBase(n)
		chain := p.fieldChain(n.Field, nil, false)
		return func(r *runner, dot reflect.Value, typ reflect.Type) reflect.Value {
			return validateType(chain(r, dot, base(r, dot, nil), reflect.Value{}), typ)
		}
	case *parse.BoolNode, *parse.NumberNode, *parse.StringNode, *parse.NilNode:
		return func(_ *runner, _ reflect.Value, typ reflect.Type) reflect.Value { return constArg(n, typ) }
	}
	giveUp("cannot compile the argument %s", n)
	return nil
}

// constArg is a constant given for a parameter of type typ.
func constArg(n parse.Node, typ reflect.Type) reflect.Value {
	if typ == nil {
		giveUp("a constant where no type is known")
	}
	if _, ok := n.(*parse.NilNode); ok {
		if canBeNil(typ) {
			return reflect.Zero(typ)
		}
		giveUp("cannot assign nil to %s", typ)
	}
	set := func(f func(v reflect.Value)) reflect.Value {
		v := reflect.New(typ).Elem()
		f(v)
		return v
	}
	num, _ := n.(*parse.NumberNode)
	switch typ.Kind() {
	case reflect.Bool:
		if b, ok := n.(*parse.BoolNode); ok {
			return set(func(v reflect.Value) { v.SetBool(b.True) })
		}
	case reflect.String:
		if s, ok := n.(*parse.StringNode); ok {
			return set(func(v reflect.Value) { v.SetString(s.Text) })
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if num != nil && num.IsInt {
			return set(func(v reflect.Value) { v.SetInt(num.Int64) })
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if num != nil && num.IsUint {
			return set(func(v reflect.Value) { v.SetUint(num.Uint64) })
		}
	case reflect.Float32, reflect.Float64:
		if num != nil && num.IsFloat {
			return set(func(v reflect.Value) { v.SetFloat(num.Float64) })
		}
	case reflect.Complex64, reflect.Complex128:
		if num != nil && num.IsComplex {
			return set(func(v reflect.Value) { v.SetComplex(num.Complex128) })
		}
	case reflect.Interface:
		if typ.NumMethod() == 0 {
			return literal(n)
		}
	case reflect.Struct:
		if typ == reflectValueType {
			return reflect.ValueOf(literal(n))
		}
	}
	giveUp("can't handle %s for arg of type %s", n, typ)
	return reflect.Value{}
}

// validateType is text/template's check that v can be passed as typ
// (nil: anything), with its conversions.
func validateType(v reflect.Value, typ reflect.Type) reflect.Value {
	if !v.IsValid() {
		if typ == nil {
			return reflect.Value{}
		}
		if canBeNil(typ) {
			return reflect.Zero(typ)
		}
		giveUp("invalid value; expected %s", typ)
	}
	if typ == reflectValueType && v.Type() != typ {
		return reflect.ValueOf(v)
	}
	if typ != nil && !v.Type().AssignableTo(typ) {
		if v.Kind() == reflect.Interface && !v.IsNil() {
			v = v.Elem()
			if v.Type().AssignableTo(typ) {
				return v
			}
		}
		switch {
		case v.Kind() == reflect.Pointer && v.Type().Elem().AssignableTo(typ):
			v = v.Elem()
			if !v.IsValid() {
				giveUp("dereference of nil pointer of type %s", typ)
			}
		case reflect.PointerTo(v.Type()).AssignableTo(typ) && v.CanAddr():
			v = v.Addr()
		default:
			giveUp("wrong type for value; expected %s; got %s", typ, v.Type())
		}
	}
	return v
}

func canBeNil(typ reflect.Type) bool {
	switch typ.Kind() {
	case reflect.Chan, reflect.Func, reflect.Interface, reflect.Map, reflect.Pointer, reflect.Slice:
		return true
	case reflect.Struct:
		return typ == reflectValueType
	}
	return false
}

func indirect(v reflect.Value) (reflect.Value, bool) {
	for ; v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface; v = v.Elem() {
		if v.IsNil() {
			return v, true
		}
	}
	return v, false
}

func indirectInterface(v reflect.Value) reflect.Value {
	if v.Kind() != reflect.Interface {
		return v
	}
	if v.IsNil() {
		return reflect.Value{}
	}
	return v.Elem()
}

// isTrue is text/template's truth; ok is false for a value without one.
func isTrue(v reflect.Value) (truth, ok bool) {
	if !v.IsValid() {
		return false, true
	}
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() > 0, true
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Complex64, reflect.Complex128:
		return v.Complex() != 0, true
	case reflect.Chan, reflect.Func, reflect.Pointer, reflect.UnsafePointer, reflect.Interface:
		return !v.IsNil(), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int() != 0, true
	case reflect.Float32, reflect.Float64:
		return v.Float() != 0, true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint() != 0, true
	case reflect.Struct:
		return true, true
	}
	return false, false
}

// Printing.

type printKind uint8

const (
	printFmt  printKind = iota // through fmt, as the value is
	printAddr                  // through fmt, by address when it can be taken
	printPlain
	printStringer // its String method, as fmt calls it
	printNone     // cannot be printed
)

func (r *runner) printValue(v reflect.Value) {
	if v.Kind() == reflect.Pointer {
		v, _ = indirect(v)
	}
	if !v.IsValid() {
		_, _ = r.w.Write([]byte("<no value>"))
		return
	}
	t := v.Type()
	k, ok := r.p.print[t]
	if !ok {
		k = kindOfPrint(t)
		r.p.print[t] = k
	}
	switch k {
	case printPlain:
		r.num = r.num[:0]
		switch v.Kind() {
		case reflect.String:
			_, _ = r.w.WriteString(v.String())
			return
		case reflect.Bool:
			r.num = strconv.AppendBool(r.num, v.Bool())
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			r.num = strconv.AppendInt(r.num, v.Int(), 10)
		default:
			r.num = strconv.AppendUint(r.num, v.Uint(), 10)
		}
		_, _ = r.w.Write(r.num)
		return
	case printStringer:
		if str, ok := callString(v); ok {
			_, _ = r.w.WriteString(str)
			return
		}
	case printNone:
		giveUp("can't print a value of type %s", t)
	case printAddr:
		if v.CanAddr() {
			v = v.Addr()
		} else if t.Kind() == reflect.Chan || t.Kind() == reflect.Func {
			giveUp("can't print a value of type %s", t)
		}
	}
	_, _ = fmt.Fprint(r.w, v.Interface())
}

func kindOfPrint(t reflect.Type) printKind {
	if t.Implements(errorType) || t.Implements(stringerType) {
		// fmt asks a Formatter, then Error, then String.
		if t.Kind() != reflect.Interface && !t.Implements(errorType) && !t.Implements(formatterType) {
			return printStringer
		}
		return printFmt
	}
	pt := reflect.PointerTo(t)
	if pt.Implements(errorType) || pt.Implements(stringerType) {
		return printAddr
	}
	switch t.Kind() {
	case reflect.Chan, reflect.Func:
		return printNone
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		// With no String, Error or Format method, fmt prints a value
		// of these kinds as strconv writes it; one with Format still
		// goes through fmt.
		if t.Implements(formatterType) || pt.Implements(formatterType) {
			return printFmt
		}
		return printPlain
	}
	return printFmt
}

var formatterType = reflect.TypeFor[fmt.Formatter]()

// callString is v's String(); ok is false when it panics, which fmt
// then reports its own way.
func callString(v reflect.Value) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return v.Interface().(fmt.Stringer).String(), true
}

// Built-in functions.

// rawArg compiles an argument of a built-in function whose parameter is a
// reflect.Value: the function gets the value as evaluated (an invalid
// one for nil or a missing key), a constant as where no type is known.
func (p *program) rawArg(n parse.Node) argFn {
	switch n.(type) {
	case *parse.BoolNode, *parse.NumberNode, *parse.StringNode:
		v := literal(n)
		return func(*runner, reflect.Value, reflect.Type) reflect.Value { return v }
	case *parse.NilNode:
		return func(*runner, reflect.Value, reflect.Type) reflect.Value { return reflect.Value{} }
	}
	a := p.arg(n)
	return func(r *runner, dot reflect.Value, _ reflect.Type) reflect.Value {
		v := a(r, dot, nil)
		if v.IsValid() && v.Type() == reflectValueType {
			giveUp("a reflect.Value as an argument")
		}
		return v
	}
}

func rawFinal(final reflect.Value) reflect.Value {
	if final.IsValid() && final.Type() == reflectValueType {
		giveUp("a reflect.Value as an argument")
	}
	return final
}

func truth(v reflect.Value) bool {
	t, _ := isTrue(indirectInterface(v))
	return t
}

func (p *program) builtin(name string, args []parse.Node, hasFinal bool) expr {
	n := len(args)
	if hasFinal {
		n++
	}
	need := func(min, max int) {
		if n < min || (max >= 0 && n > max) {
			giveUp("wrong number of args for %s", name)
		}
	}
	raw := make([]argFn, len(args))
	// values gives the arguments as a built-in function gets them, on
	// the runner's stack (see runner.args).
	values := func(r *runner, dot, final reflect.Value) ([]reflect.Value, int) {
		start := len(r.stack)
		for _, a := range raw {
			v := a(r, dot, nil)
			r.stack = append(r.stack, v)
		}
		if hasFinal {
			r.stack = append(r.stack, rawFinal(final))
		}
		return r.stack[start:], start
	}
	switch name {
	case "and", "or":
		need(1, -1)
		for i, a := range args {
			raw[i] = p.rawArg(a)
		}
		or := name == "or"
		return func(r *runner, dot, final reflect.Value) reflect.Value {
			var v reflect.Value
			for _, a := range raw {
				v = a(r, dot, nil)
				if truth(v) == or {
					return v
				}
			}
			if hasFinal {
				v = rawFinal(final)
			}
			return v
		}
	case "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge":
		switch name {
		case "not", "len":
			need(1, 1)
		case "index", "eq":
			need(1, -1)
		default:
			need(2, 2)
		}
		for i, a := range args {
			raw[i] = p.rawArg(a)
		}
		op := builtinOp(name)
		return func(r *runner, dot, final reflect.Value) reflect.Value {
			vs, start := values(r, dot, final)
			v := op(vs)
			r.drop(start)
			return v
		}
	case "print", "println", "printf":
		var c *callee
		switch name {
		case "printf":
			c = newCallee(name, reflect.TypeOf(fmt.Sprintf), len(args), hasFinal)
		default:
			c = newCallee(name, reflect.TypeOf(fmt.Sprint), len(args), hasFinal)
		}
		if c.bad != "" {
			giveUp("%s: %s", name, c.bad)
		}
		fns := make([]argFn, len(args))
		for i, a := range args {
			fns[i] = p.typedArg(a, c.paramType(i))
		}
		return func(r *runner, dot, final reflect.Value) reflect.Value {
			vs := make([]any, n)
			for i, a := range fns {
				vs[i] = a(r, dot, c.paramType(i)).Interface()
			}
			if hasFinal {
				vs[len(fns)] = validateType(final, c.paramType(len(fns))).Interface()
			}
			switch name {
			case "print":
				return reflect.ValueOf(fmt.Sprint(vs...))
			case "println":
				return reflect.ValueOf(fmt.Sprintln(vs...))
			}
			return reflect.ValueOf(fmt.Sprintf(vs[0].(string), vs[1:]...))
		}
	}
	giveUp("function %q is not compiled", name)
	return nil
}

// builtinOp is the built-in function of fixed meaning name, on its
// arguments as evaluated; it gives up where text/template's fails.
func builtinOp(name string) func(vs []reflect.Value) reflect.Value {
	switch name {
	case "not":
		return func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(!truth(vs[0])) }
	case "len":
		return builtinLen
	case "index":
		return builtinIndex
	case "eq":
		return func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(equal(vs[0], vs[1:])) }
	case "ne":
		return func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(!equal(vs[0], vs[1:])) }
	case "lt":
		return func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(less(vs[0], vs[1])) }
	case "le":
		return func(vs []reflect.Value) reflect.Value {
			return reflect.ValueOf(less(vs[0], vs[1]) || equal(vs[0], vs[1:]))
		}
	case "gt":
		return func(vs []reflect.Value) reflect.Value {
			return reflect.ValueOf(!(less(vs[0], vs[1]) || equal(vs[0], vs[1:])))
		}
	case "ge":
		return func(vs []reflect.Value) reflect.Value { return reflect.ValueOf(!less(vs[0], vs[1])) }
	}
	giveUp("function %q is not compiled", name)
	return nil
}

func builtinLen(vs []reflect.Value) reflect.Value {
	item, isNil := indirect(vs[0])
	if isNil {
		giveUp("len of nil pointer")
	}
	switch item.Kind() {
	case reflect.Array, reflect.Chan, reflect.Map, reflect.Slice, reflect.String:
		return reflect.ValueOf(item.Len())
	}
	giveUp("len of %s", item.Kind())
	return reflect.Value{}
}

func intLike(k reflect.Kind) bool {
	switch k {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return true
	}
	return false
}

func indexArg(index reflect.Value, limit int) int {
	var x int64
	switch index.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		x = index.Int()
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		x = int64(index.Uint())
	default:
		giveUp("cannot index with %s", index.Kind())
	}
	if x < 0 || int(x) < 0 || int(x) > limit {
		giveUp("index out of range: %d", x)
	}
	return int(x)
}

func builtinIndex(vs []reflect.Value) reflect.Value {
	item := indirectInterface(vs[0])
	if !item.IsValid() {
		giveUp("index of untyped nil")
	}
	for _, index := range vs[1:] {
		index = indirectInterface(index)
		var isNil bool
		if item, isNil = indirect(item); isNil {
			giveUp("index of nil pointer")
		}
		switch item.Kind() {
		case reflect.Array, reflect.Slice, reflect.String:
			item = item.Index(indexArg(index, item.Len()))
		case reflect.Map:
			key := item.Type().Key()
			switch {
			case !index.IsValid():
				if !canBeNil(key) {
					giveUp("value is nil; should be of type %s", key)
				}
				index = reflect.Zero(key)
			case index.Type().AssignableTo(key):
			case intLike(index.Kind()) && intLike(key.Kind()) && index.Type().ConvertibleTo(key):
				index = index.Convert(key)
			default:
				giveUp("value has type %s; should be %s", index.Type(), key)
			}
			if x := item.MapIndex(index); x.IsValid() {
				item = x
			} else {
				item = reflect.Zero(item.Type().Elem())
			}
		default:
			giveUp("can't index item of type %s", item.Type())
		}
	}
	return item
}

type basic uint8

const (
	invalidKind basic = iota
	boolKind
	complexKind
	intKind
	floatKind
	stringKind
	uintKind
)

func basicKind(v reflect.Value) basic {
	switch v.Kind() {
	case reflect.Bool:
		return boolKind
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intKind
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return uintKind
	case reflect.Float32, reflect.Float64:
		return floatKind
	case reflect.Complex64, reflect.Complex128:
		return complexKind
	case reflect.String:
		return stringKind
	}
	return invalidKind
}

func isNilValue(v reflect.Value) bool {
	if !v.IsValid() {
		return true
	}
	switch v.Kind() {
	case reflect.Chan, reflect.Func, reflect.Interface, reflect.Map, reflect.Pointer, reflect.Slice:
		return v.IsNil()
	}
	return false
}

// equal is the built-in eq: arg1 == any of others.
func equal(arg1 reflect.Value, others []reflect.Value) bool {
	arg1 = indirectInterface(arg1)
	if len(others) == 0 {
		giveUp("missing argument for comparison")
	}
	k1 := basicKind(arg1)
	for _, arg := range others {
		arg = indirectInterface(arg)
		k2 := basicKind(arg)
		truth := false
		if k1 != k2 {
			switch {
			case k1 == intKind && k2 == uintKind:
				truth = arg1.Int() >= 0 && uint64(arg1.Int()) == arg.Uint()
			case k1 == uintKind && k2 == intKind:
				truth = arg.Int() >= 0 && arg1.Uint() == uint64(arg.Int())
			default:
				if arg1.IsValid() && arg.IsValid() {
					giveUp("incompatible types for comparison")
				}
			}
		} else {
			switch k1 {
			case boolKind:
				truth = arg1.Bool() == arg.Bool()
			case complexKind:
				truth = arg1.Complex() == arg.Complex()
			case floatKind:
				truth = arg1.Float() == arg.Float()
			case intKind:
				truth = arg1.Int() == arg.Int()
			case stringKind:
				truth = arg1.String() == arg.String()
			case uintKind:
				truth = arg1.Uint() == arg.Uint()
			default:
				if arg1.Kind() != arg.Kind() && arg1.IsValid() && arg.IsValid() {
					giveUp("non-comparable types")
				}
				if isNilValue(arg1) || isNilValue(arg) {
					truth = isNilValue(arg) == isNilValue(arg1)
				} else {
					if !arg.Type().Comparable() {
						giveUp("non-comparable type %s", arg.Type())
					}
					truth = arg1.Interface() == arg.Interface()
				}
			}
		}
		if truth {
			return true
		}
	}
	return false
}

// less is the built-in lt.
func less(arg1, arg2 reflect.Value) bool {
	arg1, arg2 = indirectInterface(arg1), indirectInterface(arg2)
	k1, k2 := basicKind(arg1), basicKind(arg2)
	if k1 == invalidKind || k2 == invalidKind {
		giveUp("invalid type for comparison")
	}
	if k1 != k2 {
		switch {
		case k1 == intKind && k2 == uintKind:
			return arg1.Int() < 0 || uint64(arg1.Int()) < arg2.Uint()
		case k1 == uintKind && k2 == intKind:
			return arg2.Int() >= 0 && arg1.Uint() < uint64(arg2.Int())
		}
		giveUp("incompatible types for comparison")
	}
	switch k1 {
	case floatKind:
		return arg1.Float() < arg2.Float()
	case intKind:
		return arg1.Int() < arg2.Int()
	case stringKind:
		return arg1.String() < arg2.String()
	case uintKind:
		return arg1.Uint() < arg2.Uint()
	}
	giveUp("invalid type for comparison")
	return false
}
