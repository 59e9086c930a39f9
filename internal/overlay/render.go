package overlay

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/template"
	"time"
)

// Entry is one file, directory or link of a rendered overlay tree.
type Entry struct {
	Path     string // slash separated, relative to the node's root
	Kind     Kind
	Mode     fs.FileMode
	UID, GID int
	Data     []byte
	Target   string
	// NoBackup: the template called nobackup, so that "wwctl configure"
	// writing the file on the server keeps no .wwbackup of the file it
	// replaces (as Warewulf).
	NoBackup bool
	// Rendered: a template made the entry (WriteTree keeps a .wwbackup
	// of a file it replaces, as Warewulf's build into a directory).
	Rendered bool

	// sum caches the entry's hash when many nodes share the entry (the
	// output of a template that is the same for every node).
	sum string
}

// Secret reports whether the entry is a file others may not read (mode
// without o+r, such as a private ssh host key): such files go into a
// node's secret archive, served only to a request that proves it is
// the node.
func (e *Entry) Secret() bool { return e.Kind == KindFile && e.Mode&0o004 == 0 }

// Tree is what a list of overlays renders to for one node, by path.
type Tree map[string]*Entry

// Sorted returns the entries in path order, so every directory comes
// before what it holds.
func (t Tree) Sorted() []*Entry {
	out := make([]*Entry, 0, len(t))
	for _, e := range t {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// mkdirAll adds the missing parent directories of p (root:root 0755).
func (t Tree) mkdirAll(p string) {
	for dir := path.Dir(p); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if _, ok := t[dir]; ok {
			return
		}
		t[dir] = &Entry{Path: dir, Kind: KindDir, Mode: 0o755}
	}
}

// RenderOptions are what a rendering needs besides the overlays and nodes.
type RenderOptions struct {
	// Sysconfdir and Chrootdir locate files that Include and IncludeFrom read.
	Sysconfdir, Chrootdir string
	// HostRoot is where absolute server paths that templates read
	// (/root/.ssh/authorized_keys, /etc/localtime) are looked up; "" is
	// the real root. Tests point it at a directory of their own.
	HostRoot string
	// Distdir is shown as the source directory of built-in overlays in
	// .BuildSource.
	Distdir string
	// BuildHost is the server's host name.
	BuildHost string
	// Epoch, when set (SOURCE_DATE_EPOCH), is .BuildTime for every
	// template. Otherwise .BuildTime is the template's modification time
	// (Builtin for built-in templates): it changes when the template
	// does, not at every build, so unchanged nodes stay unchanged.
	Epoch   *time.Time
	Builtin time.Time
	// Location is the time zone .BuildTime is written in.
	Location *time.Location
	// Rand gives the ssh host certificates that SshHostKeys signs their
	// nonce and serial; nil is crypto/rand. Tests set it to make the
	// certificates reproducible.
	Rand io.Reader
	// ImageArch returns the architecture (x86_64, aarch64) of the image
	// called image, "" when not known; nodes whose image is of another
	// architecture than the server's get the wwclient overlay's copy for
	// theirs (Snapshot.overlayList). nil leaves every node the wwclient
	// overlay as it is.
	ImageArch func(image string) string
}

// Renderer renders overlays for nodes. It parses each template once and
// reuses it; it is not safe for concurrent use (give each worker one).
type Renderer struct {
	overlays map[string]*Overlay
	base     Data
	nodes    *nodeSet
	opts     RenderOptions
	state    *execState
	funcs    template.FuncMap
	parsed   map[*SourceFile]*parsedTemplate
	// statics are the entries of the files and symlinks that are not
	// templates, made and hashed once (static).
	statics map[*SourceFile]*Entry
	memo    *sync.Map // *SourceFile -> *memoEntry, shared by a snapshot's renderers
	// files, when set, is the build's cache of the files templates read.
	files *fileCache
	// dataOnly makes every template execute with Data, as before
	// flatData: the differential test's reference.
	dataOnly bool
	// noFold leaves templates as parsed (fold.go): the reference of
	// the folding's differential test.
	noFold bool
	// noCompile executes every template with text/template, not as a
	// program (compile.go): the reference of its differential test.
	noCompile bool
}

type parsedTemplate struct {
	t *template.Template
	// source, buildTime and buildTimeUnix are the template's
	// .BuildSource, .BuildTime and .BuildTimeUnix, the same for every
	// node.
	source, buildTime, buildTimeUnix string
	// sameForAll: the output does not depend on the node, so it is
	// rendered once and shared.
	sameForAll bool
	// flat: the template executes with flatData (flat.go).
	flat bool
	// prog is the template compiled (compile.go); nil: it executes
	// with text/template.
	prog *program
	// sizes are the lengths of the template's outputs last time (its
	// own, then those file() opened), so the next node's are allocated
	// once.
	sizes []int
}

// memoEntry is the one rendering of a template that is the same for
// every node.
type memoEntry struct {
	once    sync.Once
	entries []*Entry // the pieces as entries, hashed once, shared by every node
	reads   map[string]string
	abort   bool
	err     error
}

func newRenderer(overlays map[string]*Overlay, base Data, nodes *nodeSet, opts RenderOptions, memo *sync.Map) *Renderer {
	r := &Renderer{overlays: overlays, base: base, nodes: nodes, opts: opts, state: &execState{},
		parsed: map[*SourceFile]*parsedTemplate{}, memo: memo}
	if r.opts.Location == nil {
		r.opts.Location = time.Local
	}
	r.funcs = funcMap(env{sysconfdir: opts.Sysconfdir, chrootdir: opts.Chrootdir, hostRoot: opts.HostRoot, rand: opts.Rand}, &r.state)
	return r
}

// Rendered is a node's rendered overlays and what the rendering read.
type Rendered struct {
	Tree Tree
	// Reads maps each server or image file the templates read to its
	// content hash ("" when missing).
	Reads map[string]string
}

// Render renders the named overlays, in order, for node (nil: the server
// itself, called host). Later overlays replace earlier files.
func (r *Renderer) Render(node *Node, host string, names []string) (*Rendered, error) {
	out := &Rendered{Tree: Tree{}, Reads: map[string]string{}}
	data := r.newData(node, host)
	for _, name := range names {
		o, ok := r.overlays[name]
		if !ok {
			return nil, fmt.Errorf("overlay %q does not exist", name)
		}
		for _, f := range o.Files {
			if err := r.apply(out, o, f, data); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// RenderFile renders one file of one overlay for node (nil: the server,
// called host) and returns what it makes: a template can make several
// files or a link, or nothing when it aborts.
func (r *Renderer) RenderFile(node *Node, host, name, file string) ([]*Entry, error) {
	o, ok := r.overlays[name]
	if !ok {
		return nil, fmt.Errorf("overlay %q does not exist", name)
	}
	rel, err := cleanRel(file)
	if err != nil {
		return nil, err
	}
	for _, f := range o.Files {
		if f.Path != rel {
			continue
		}
		out := &Rendered{Tree: Tree{}, Reads: map[string]string{}}
		if err := r.apply(out, o, f, r.newData(node, host)); err != nil {
			return nil, err
		}
		var entries []*Entry
		for _, e := range out.Tree.Sorted() {
			if e.Kind != KindDir || f.Kind == KindDir {
				entries = append(entries, e)
			}
		}
		return entries, nil
	}
	return nil, fmt.Errorf("overlay %q has no file %s", name, file)
}

// execData is a node's template data in both forms, made once for all
// the templates rendered for it.
type execData struct {
	data *Data
	flat *flatData
}

func (r *Renderer) newData(node *Node, host string) execData {
	d := r.nodes.data(r.base, node, host)
	return execData{data: &d, flat: flatten(&d)}
}

func (r *Renderer) apply(out *Rendered, o *Overlay, f *SourceFile, data execData) error {
	t := out.Tree
	switch {
	case f.Kind == KindDir:
		// Like Warewulf: the first overlay to make a directory sets its
		// mode, the last sets its owner.
		if e, ok := t[f.Path]; ok && e.Kind == KindDir {
			e.UID, e.GID = f.UID, f.GID
			return nil
		}
		t.mkdirAll(f.Path)
		t[f.Path] = &Entry{Path: f.Path, Kind: KindDir, Mode: f.Mode, UID: f.UID, GID: f.GID}
	case f.Template():
		return r.renderTemplate(out, o, f, data)
	default:
		t.mkdirAll(f.Path)
		t[f.Path] = r.static(f)
	}
	return nil
}

// static is the entry of f, a file or symlink that is not a template:
// the same for every node, so made and hashed once and shared by the
// nodes' trees. Nothing changes a file's or a symlink's entry once made
// (a later overlay replaces it; only directories' owners are set again).
func (r *Renderer) static(f *SourceFile) *Entry {
	if e, ok := r.statics[f]; ok {
		return e
	}
	e := &Entry{Path: f.Path, Kind: KindFile, Mode: f.Mode, UID: f.UID, GID: f.GID, Data: f.Data}
	if f.Kind == KindSymlink {
		e = &Entry{Path: f.Path, Kind: KindSymlink, Mode: 0o777, UID: f.UID, GID: f.GID, Target: f.Target}
	}
	e.sum = entryHash(e)
	if r.statics == nil {
		r.statics = map[*SourceFile]*Entry{}
	}
	r.statics[f] = e
	return e
}

func (r *Renderer) template(o *Overlay, f *SourceFile) (*parsedTemplate, error) {
	if t, ok := r.parsed[f]; ok {
		return t, nil
	}
	t, err := template.New(o.Name + "/" + f.Path).Option("missingkey=default").Funcs(r.funcs).Parse(string(f.Data))
	if err != nil {
		return nil, fmt.Errorf("overlay %q: %w", o.Name, err)
	}
	p := &parsedTemplate{t: t, flat: !r.dataOnly && flatOK(t), source: r.sourcePath(o, f)}
	when := f.ModTime
	if r.opts.Epoch != nil {
		when = *r.opts.Epoch
	} else if when.IsZero() {
		when = r.opts.Builtin
	}
	p.buildTime = when.In(r.opts.Location).Format("01-02-2006 15:04:05 MST")
	p.buildTimeUnix = strconv.FormatInt(when.Unix(), 10)
	if !r.noFold {
		fo, err := newFolder(r.foldArg(p, o))
		if err != nil {
			return nil, fmt.Errorf("overlay %q: %w", o.Name, err)
		}
		fo.tree(t)
	}
	// After folding: a template whose node-specific parts were all in
	// branches not taken is the same for every node.
	p.sameForAll = r.memo != nil && sameForEveryNode(t)
	if !r.noCompile {
		// A template the compiler does not take runs as it is.
		p.prog, _ = compileTemplate(t, r.funcs)
	}
	r.parsed[f] = p
	return p, nil
}

// foldArg is the data template p of overlay o executes with, less the
// node: what folding evaluates node-free pipelines with.
func (r *Renderer) foldArg(p *parsedTemplate, o *Overlay) any {
	d := r.nodes.data(r.base, nil, r.opts.BuildHost)
	d.Overlay = o.Name
	d.BuildSource, d.BuildTime, d.BuildTimeUnix = p.source, p.buildTime, p.buildTimeUnix
	if p.flat {
		return flatten(&d)
	}
	return d
}

func (r *Renderer) renderTemplate(out *Rendered, o *Overlay, f *SourceFile, data execData) error {
	t, err := r.template(o, f)
	if err != nil {
		return err
	}
	if t.sameForAll {
		v, _ := r.memo.LoadOrStore(f, &memoEntry{})
		m := v.(*memoEntry)
		m.once.Do(func() {
			var pieces []piece
			pieces, m.reads, m.abort, m.err = r.execute(t, o, f, data, nil)
			for _, p := range pieces {
				e := pieceEntry(p, f)
				e.sum = entryHash(e)
				m.entries = append(m.entries, e)
			}
		})
		for k, v := range m.reads {
			out.Reads[k] = v
		}
		if m.err != nil || m.abort {
			return m.err
		}
		for _, e := range m.entries {
			out.Tree.mkdirAll(e.Path)
			out.Tree[e.Path] = e
		}
		return nil
	}
	// The template's reads go straight into the node's.
	pieces, _, abort, err := r.execute(t, o, f, data, out.Reads)
	if err != nil || abort {
		return err
	}
	for _, p := range pieces {
		out.Tree.mkdirAll(p.path)
		out.Tree[p.path] = pieceEntry(p, f)
	}
	return nil
}

// pieceEntry is the tree entry for one output of template f.
func pieceEntry(p piece, f *SourceFile) *Entry {
	if p.link {
		return &Entry{Path: p.path, Kind: KindSymlink, Mode: 0o777, UID: f.UID, GID: f.GID, Target: p.target, NoBackup: p.noBackup, Rendered: true}
	}
	return &Entry{Path: p.path, Kind: KindFile, Mode: f.Mode, UID: f.UID, GID: f.GID, Data: p.data, NoBackup: p.noBackup, Rendered: true}
}

// execute runs one template for data and splits its output. The files
// the template read are recorded in into (a new map when nil), which is
// returned.
func (r *Renderer) execute(pt *parsedTemplate, o *Overlay, f *SourceFile, data execData, into map[string]string) (pieces []piece, reads map[string]string, abort bool, err error) {
	t := pt.t
	var arg any
	if pt.flat {
		d := data.flat
		d.Overlay = o.Name
		d.BuildSource, d.BuildTime, d.BuildTimeUnix = pt.source, pt.buildTime, pt.buildTimeUnix
		arg = d
	} else {
		// By value, as Warewulf: pointer methods of the top-level node
		// stay out of reach.
		d := *data.data
		d.Overlay = o.Name
		d.BuildSource, d.BuildTime, d.BuildTimeUnix = pt.source, pt.buildTime, pt.buildTimeUnix
		arg = d
	}

	r.state = r.newState(data, into, pt.sizes)
	ran := false
	if pt.prog != nil {
		err, ran = pt.prog.run(r.state, arg)
	}
	if !ran {
		// Not compiled, or the program gave up where text/template
		// would fail or it is not sure to do the same: text/template
		// runs it from the start, for its output and its message.
		r.state = r.newState(data, into, pt.sizes)
		err = t.Execute(r.state, arg)
	}
	pt.sizes = pt.sizes[:0]
	for _, o := range r.state.outs {
		pt.sizes = append(pt.sizes, o.data.Len())
	}
	if err != nil && r.state.abort && errors.Is(err, errAbort) {
		err = nil
	}
	if err != nil {
		return nil, r.state.reads, false, fmt.Errorf("overlay %q: %w", o.Name, err)
	}
	if r.state.abort {
		return nil, r.state.reads, true, nil
	}
	pieces, err = outputPieces(r.state.outs, strings.TrimSuffix(f.Path, ".ww"))
	if err != nil {
		return nil, r.state.reads, false, fmt.Errorf("overlay %q: template %s: %w", o.Name, f.Path, err)
	}
	for i := range pieces {
		pieces[i].noBackup = r.state.noBackup
	}
	return pieces, r.state.reads, false, nil
}

// newState is the state of one execution of a template for data.
func (r *Renderer) newState(data execData, reads map[string]string, sizes []int) *execState {
	st := &execState{node: data.data.ThisNode, outs: make([]*output, 1, max(1, len(sizes))), files: r.files, reads: reads, sizes: sizes}
	st.outs[0] = &output{}
	if len(sizes) > 0 {
		st.outs[0].data.Grow(sizes[0])
	}
	return st
}

func (r *Renderer) sourcePath(o *Overlay, f *SourceFile) string {
	if o.Dir != "" {
		return path.Join(RootDir(o.Dir), f.Path)
	}
	return path.Join(r.opts.Distdir, o.Name, "rootfs", f.Path)
}

// piece is one output of a template: a file or a symlink.
type piece struct {
	path     string
	data     []byte
	link     bool
	target   string
	noBackup bool
}

// pieces turns a template's outputs into files and symlinks, as
// Warewulf 4.7 writes them:
//   - with no file() call, the output is the template's own file (its
//     name without .ww), or a symlink when softlink was called;
//   - with file() calls, each names a file relative to the template's
//     directory, and what was written before the first one is not
//     written (it is mostly the whitespace of the template's set-up),
//     unless softlink made it a symlink;
//   - a later output of the same name replaces an earlier one.
//
// An absolute name is under the overlay root, and a name that would
// leave it is an error, as in Warewulf 4.7.
func outputPieces(outs []*output, defaultPath string) ([]piece, error) {
	ps := make([]piece, 0, len(outs))
	for i, o := range outs {
		p := defaultPath
		if i > 0 {
			// As Warewulf joins it to the output directory: a name
			// may pass through ".." as long as it ends inside.
			base := "r/"
			if !strings.HasPrefix(o.name, "/") {
				base += path.Dir(defaultPath) + "/"
			}
			p = path.Clean(base + o.name)
			if p != "r" && !strings.HasPrefix(p, "r/") {
				return nil, fmt.Errorf("file %q: path leaves the overlay", o.name)
			}
			clean, err := cleanRel(strings.TrimPrefix(p, "r"))
			if err != nil {
				return nil, fmt.Errorf("file %q: %w", o.name, err)
			}
			p = clean
		} else if len(outs) > 1 && !o.link {
			continue
		}
		if o.link {
			ps = append(ps, piece{path: p, link: true, target: o.target})
			continue
		}
		// The buffer is this execution's own (execute makes a new
		// execState each time): no copy.
		ps = append(ps, piece{path: p, data: o.data.Bytes()})
	}
	return ps, nil
}
