package inventory

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// maxDecodeErrors bounds how many problems one malformed file reports, so
// that a file of 10,000 broken nodes still gives a readable message.
const maxDecodeErrors = 20

// decoder turns a nodes.conf tree into the model. It is written per field
// table rather than with reflection so that every error can name the file,
// line, entity and key, and so that 10,000 nodes decode in milliseconds.
//
// Malformed values are errors. Keys the format does not have are warnings:
// they are kept (see Profile.Unknown) and the rest of the file applies, as
// Warewulf goes on past a key it does not know. Keys of Warewulf 4.2-4.5
// are read into the current model where their meaning is clear (see
// legacy.go), with a warning naming "wwctl upgrade nodes".
type decoder struct {
	file  string
	t     *tables
	errs  []error
	warns []Warning
	// dropped counts the warnings beyond maxDecodeErrors.
	dropped int
	// oldKeys are the keys of older Warewulf versions kept unread, all of
	// them: "wwctl upgrade nodes" removes them.
	oldKeys []Warning
	// converted are the older forms read into the current model, all of
	// them: "wwctl upgrade nodes" lists them.
	converted []Warning
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	if len(d.errs) >= maxDecodeErrors {
		return
	}
	msg := fmt.Sprintf(format, args...)
	d.errs = append(d.errs, fmt.Errorf("%s:%d: %s", d.file, n.Line, msg))
}

// warn records a warning about key k of the entity ctx, which was read.
func (d *decoder) warn(k *yaml.Node, ctx string, legacy bool, format string, args ...any) {
	w := Warning{File: d.file, Line: k.Line, Entity: ctx, Key: k.Value,
		Text: fmt.Sprintf(format, args...), Legacy: legacy}
	if legacy {
		d.converted = append(d.converted, w)
	}
	d.addWarning(w)
}

// kept records a warning about key k of the entity ctx, which was kept
// unread.
func (d *decoder) kept(k *yaml.Node, ctx string, legacy bool, format string, args ...any) {
	d.addWarning(Warning{File: d.file, Line: k.Line, Entity: ctx, Key: k.Value,
		Text: fmt.Sprintf(format, args...), Kept: true, Legacy: legacy, node: k})
}

func (d *decoder) addWarning(w Warning) {
	if w.Kept && w.Legacy {
		d.oldKeys = append(d.oldKeys, w)
	}
	if len(d.warns) >= maxDecodeErrors {
		d.dropped++
		return
	}
	d.warns = append(d.warns, w)
}

// unknown records a key the format does not have.
func (d *decoder) unknown(k *yaml.Node, ctx string) {
	d.kept(k, ctx, false, "unknown key %q", k.Value)
}

// warnings returns the warnings in line order, with a last one counting
// those left out.
func (d *decoder) warnings() []Warning {
	byLine(d.warns)
	if d.dropped == 0 {
		return d.warns
	}
	return append(d.warns, Warning{File: d.file, Text: fmt.Sprintf("(%d further warnings not shown)", d.dropped)})
}

// byLine sorts warnings by line: older forms are looked at after the
// keys of their entity.
func byLine(ws []Warning) {
	slices.SortStableFunc(ws, func(a, b Warning) int { return a.Line - b.Line })
}

func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	if len(d.errs) == maxDecodeErrors {
		d.errs = append(d.errs, errors.New("(further errors not shown)"))
	}
	return errors.Join(d.errs...)
}

// decodeDocument reads a parsed nodes.conf.
func decodeDocument(doc *yaml.Node, file string) (*Inventory, error) {
	return decodeDocumentFrom(doc, file, parallelNodes)
}

// parallelNodes is how many nodes a file has before they are decoded on
// all CPUs.
const parallelNodes = 512

// decodeDocumentFrom is decodeDocument, the nodes decoded on all CPUs
// when there are at least parallelFrom.
func decodeDocumentFrom(doc *yaml.Node, file string, parallelFrom int) (*Inventory, error) {
	inv := newInventory()
	inv.doc = doc
	d := &decoder{file: file, t: newTables()}
	root := doc
	if doc.Kind == 0 { // empty input
		return inv, nil
	}
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return inv, nil
		}
		root = doc.Content[0]
	}
	if isNull(root) {
		return inv, nil
	}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "expected a mapping with \"nodeprofiles\" and \"nodes\"")
		return nil, d.err()
	}
	d.duplicates(root, "key")
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "nodeprofiles":
			d.entities(v, "profile", func(name string, m *yaml.Node) {
				p := &Profile{}
				d.profile(m, p, "profile "+quote(name))
				inv.Profiles[name] = p
			})
		case "nodes":
			d.nodes(v, inv.Nodes, parallelFrom)
		case "WW_INTERNAL":
			// Warewulf before 4.6 wrote its format version here.
			d.kept(k, "", true, "%q is no longer used", k.Value)
			inv.extra = append(inv.extra, k, v)
		default:
			d.kept(k, "", false, "unknown top-level key %q (expected \"nodeprofiles\" or \"nodes\")", k.Value)
			inv.extra = append(inv.extra, k, v)
		}
	}
	if err := d.err(); err != nil {
		return nil, err
	}
	inv.warnings = d.warnings()
	byLine(d.converted)
	inv.oldKeys, inv.converted = d.oldKeys, d.converted
	return inv, nil
}

func (d *decoder) entities(m *yaml.Node, what string, each func(name string, v *yaml.Node)) {
	if !d.entityMap(m, what) {
		return
	}
	d.entityRange(m.Content, what, each)
}

// entityMap reports whether m is a mapping of entities to decode, after
// checking its names are not defined twice.
func (d *decoder) entityMap(m *yaml.Node, what string) bool {
	if isNull(m) {
		return false
	}
	if m.Kind != yaml.MappingNode {
		d.errorf(m, "expected a mapping of %s names", what)
		return false
	}
	d.duplicates(m, what)
	return true
}

// entityRange calls each for the entities of pairs (keys and values, one
// after the other).
func (d *decoder) entityRange(pairs []*yaml.Node, what string, each func(name string, v *yaml.Node)) {
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.errorf(k, "%s name must be a non-empty string", what)
			continue
		}
		each(k.Value, v)
	}
}

// nodes decodes the nodes of m into out. With parallelFrom nodes or
// more, a part of them on each CPU, each part with a decoder of its own
// whose findings are then taken in the order of the file: the result,
// errors and warnings included, is the same.
func (d *decoder) nodes(m *yaml.Node, out map[string]*Node, parallelFrom int) {
	if !d.entityMap(m, "node") {
		return
	}
	type named struct {
		name string
		node *Node
	}
	decode := func(d *decoder, pairs []*yaml.Node) []named {
		var got []named
		d.entityRange(pairs, "node", func(name string, v *yaml.Node) {
			n := &Node{}
			d.node(v, n, "node "+quote(name))
			got = append(got, named{name, n})
		})
		return got
	}
	count := len(m.Content) / 2
	workers := min(runtime.GOMAXPROCS(0), count/max(parallelFrom/2, 1))
	if count < parallelFrom || workers < 2 {
		for _, n := range decode(d, m.Content) {
			out[n.name] = n.node
		}
		return
	}
	parts := make([]struct {
		d     *decoder
		nodes []named
	}, workers)
	var wg sync.WaitGroup
	for w := range parts {
		lo, hi := 2*(count*w/workers), 2*(count*(w+1)/workers)
		parts[w].d = &decoder{file: d.file, t: d.t}
		wg.Go(func() { parts[w].nodes = decode(parts[w].d, m.Content[lo:hi]) })
	}
	wg.Wait()
	for _, p := range parts {
		for _, n := range p.nodes {
			out[n.name] = n.node // a name defined twice: the last, as above
		}
		d.absorb(p.d)
	}
}

// absorb takes what sub found after what d found, as if d had decoded
// what sub did.
func (d *decoder) absorb(sub *decoder) {
	for _, err := range sub.errs {
		if len(d.errs) < maxDecodeErrors {
			d.errs = append(d.errs, err)
		}
	}
	for _, w := range sub.warns {
		if len(d.warns) < maxDecodeErrors {
			d.warns = append(d.warns, w)
		} else {
			d.dropped++
		}
	}
	d.dropped += sub.dropped
	d.oldKeys = append(d.oldKeys, sub.oldKeys...)
	d.converted = append(d.converted, sub.converted...)
}

func (d *decoder) node(m *yaml.Node, n *Node, ctx string) {
	var old []*yaml.Node
	d.fields(m, ctx, &n.Unknown, func(k, v *yaml.Node) bool {
		if f, ok := findField(d.t.node, k.Value); ok {
			d.scalar(k, v, ctx, f.Str(n))
			return true
		}
		if legacyEntityKey(k.Value) {
			old = append(old, k, v)
			return true
		}
		return d.profileKey(k, v, &n.Profile, ctx)
	})
	d.legacyEntity(old, &n.Profile, ctx)
}

func (d *decoder) profile(m *yaml.Node, p *Profile, ctx string) {
	var old []*yaml.Node
	d.fields(m, ctx, &p.Unknown, func(k, v *yaml.Node) bool {
		switch k.Value {
		case "discoverable", "asset key":
			// Warewulf before 4.6 accepted them on a profile, where
			// they never applied to a node.
			d.kept(k, ctx, true, "%q can only be set on a node", k.Value)
			p.Unknown = append(p.Unknown, k, v)
			return true
		}
		if legacyEntityKey(k.Value) {
			old = append(old, k, v)
			return true
		}
		return d.profileKey(k, v, p, ctx)
	})
	d.legacyEntity(old, p, ctx)
}

// profileKey decodes one key of the inheritable part; it reports false
// for a key it does not know.
func (d *decoder) profileKey(k, v *yaml.Node, p *Profile, ctx string) bool {
	key := k.Value
	if f, ok := findField(d.t.profile, key); ok {
		decodeField(d, k, v, ctx, p, f)
		return true
	}
	switch key {
	case "kernel":
		if isNull(v) {
			return true
		}
		p.Kernel = &Kernel{}
		var old []*yaml.Node
		c := ctx + ": kernel"
		d.fields(v, c, &p.Kernel.Unknown, func(k, v *yaml.Node) bool {
			if k.Value == "override" { // before Warewulf 4.6
				old = append(old, k, v)
				return true
			}
			return decodeKnown(d, k, v, c, p.Kernel, d.t.kernel)
		})
		d.legacyKernel(old, p.Kernel, c)
	case "ipmi":
		if isNull(v) {
			return true
		}
		p.Ipmi = &IPMI{}
		var old []*yaml.Node
		c := ctx + ": ipmi"
		d.fields(v, c, &p.Ipmi.Unknown, func(k, v *yaml.Node) bool {
			if k.Value == "tagsdel" { // before Warewulf 4.6
				old = append(old, k, v)
				return true
			}
			return decodeKnown(d, k, v, c, p.Ipmi, d.t.ipmi)
		})
		d.legacyTagsDel(old, &p.Ipmi.Tags, &p.Ipmi.Unknown, c)
	case "network devices":
		var primary []string // devices that say they are primary the old way
		p.NetDevs = decodeMap(d, v, ctx, "network device", func(name string, m *yaml.Node, c string) *NetDev {
			nd := &NetDev{}
			var old []*yaml.Node
			d.fields(m, c, &nd.Unknown, func(k, v *yaml.Node) bool {
				if legacyNetDevKey(k.Value) {
					old = append(old, k, v)
					return true
				}
				return decodeKnown(d, k, v, c, nd, d.t.netdev)
			})
			if d.legacyNetDev(old, nd, c) {
				primary = append(primary, name)
			}
			return nd
		})
		d.legacyPrimary(primary, p, ctx)
	case "disks":
		p.Disks = decodeMap(d, v, ctx, "disk", func(_ string, m *yaml.Node, c string) *Disk {
			disk := &Disk{}
			d.fields(m, c, &disk.Unknown, func(k, v *yaml.Node) bool {
				if k.Value == "partitions" {
					disk.Partitions = decodeMap(d, v, c, "partition", func(_ string, m *yaml.Node, c string) *Partition {
						part := &Partition{}
						d.fields(m, c, &part.Unknown, func(k, v *yaml.Node) bool {
							return decodeKnown(d, k, v, c, part, d.t.part)
						})
						return part
					})
					return true
				}
				return decodeKnown(d, k, v, c, disk, d.t.disk)
			})
			return disk
		})
	case "filesystems":
		p.FileSystems = decodeMap(d, v, ctx, "filesystem", func(_ string, m *yaml.Node, c string) *FileSystem {
			fs := &FileSystem{}
			d.fields(m, c, &fs.Unknown, func(k, v *yaml.Node) bool {
				if k.Value == "mount_options" && v.Kind == yaml.SequenceNode {
					d.legacyMountOptions(k, v, fs, c)
					return true
				}
				return decodeKnown(d, k, v, c, fs, d.t.fs)
			})
			return fs
		})
	case "resources":
		if isNull(v) {
			return true
		}
		if v.Kind != yaml.MappingNode {
			d.errorf(v, "%s: resources: expected a mapping", ctx)
			return true
		}
		p.Resources = make(map[string]*yaml.Node, len(v.Content)/2)
		for i := 0; i+1 < len(v.Content); i += 2 {
			p.Resources[v.Content[i].Value] = v.Content[i+1]
		}
	default:
		return false
	}
	return true
}

// fields walks a mapping and hands each key to known; keys it does not
// know are warned about with their line and kept in unknown.
func (d *decoder) fields(m *yaml.Node, ctx string, unknown *[]*yaml.Node, known func(k, v *yaml.Node) bool) {
	if isNull(m) {
		return
	}
	if m.Kind != yaml.MappingNode {
		d.errorf(m, "%s: expected a mapping", ctx)
		return
	}
	d.duplicates(m, ctx+": key")
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be strings", ctx)
			continue
		}
		if !known(k, v) {
			d.unknown(k, ctx)
			*unknown = append(*unknown, k, v)
		}
	}
}

func decodeKnown[T any](d *decoder, k, v *yaml.Node, ctx string, t *T, fields []Field[T]) bool {
	f, ok := findField(fields, k.Value)
	if ok {
		decodeField(d, k, v, ctx, t, f)
	}
	return ok
}

func decodeField[T any](d *decoder, k, v *yaml.Node, ctx string, t *T, f Field[T]) {
	switch {
	case f.Str != nil:
		d.scalar(k, v, ctx, f.Str(t))
	case f.List != nil:
		d.list(k, v, ctx, f.List(t), f.Spaces)
		if v.Kind == yaml.ScalarNode && !isNull(v) {
			// Warewulf before 4.6 wrote some lists as one string.
			d.warn(k, ctx, true, "%q given as one string is the old form of a list; read as %q", k.Value, *f.List(t))
		}
	case f.Map != nil:
		d.stringMap(k, v, ctx, f.Map(t))
	}
}

func decodeMap[T any](d *decoder, m *yaml.Node, ctx, what string, each func(name string, v *yaml.Node, ctx string) *T) map[string]*T {
	if isNull(m) {
		return nil
	}
	if m.Kind != yaml.MappingNode {
		d.errorf(m, "%s: expected a mapping of %ss", ctx, what)
		return nil
	}
	d.duplicates(m, ctx+": "+what)
	out := make(map[string]*T, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Value == "" {
			d.errorf(k, "%s: %s name must be a non-empty string", ctx, what)
			continue
		}
		out[k.Value] = each(k.Value, v, fmt.Sprintf("%s: %s %q", ctx, what, k.Value))
	}
	return out
}

func (d *decoder) scalar(k, v *yaml.Node, ctx string, dst **string) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.ScalarNode {
		d.errorf(v, "%s: %q must be a single value", ctx, k.Value)
		return
	}
	s := v.Value
	*dst = &s
}

// list accepts a sequence, or a single string as older Warewulf versions
// wrote lists: kernel arguments separated by spaces, others by commas.
func (d *decoder) list(k, v *yaml.Node, ctx string, dst *[]string, spaces bool) {
	if isNull(v) {
		return
	}
	switch v.Kind {
	case yaml.ScalarNode:
		*dst = SplitList(v.Value, spaces)
	case yaml.SequenceNode:
		out := make([]string, 0, len(v.Content))
		for _, e := range v.Content {
			if e.Kind != yaml.ScalarNode || isNull(e) {
				d.errorf(e, "%s: %q: list items must be single values", ctx, k.Value)
				continue
			}
			out = append(out, e.Value)
		}
		*dst = out
	default:
		d.errorf(v, "%s: %q must be a list", ctx, k.Value)
	}
}

func (d *decoder) stringMap(k, v *yaml.Node, ctx string, dst *map[string]string) {
	if isNull(v) {
		return
	}
	if v.Kind != yaml.MappingNode {
		d.errorf(v, "%s: %q must be a mapping", ctx, k.Value)
		return
	}
	d.duplicates(v, ctx+": "+k.Value)
	m := make(map[string]string, len(v.Content)/2)
	for i := 0; i+1 < len(v.Content); i += 2 {
		kk, vv := v.Content[i], v.Content[i+1]
		if kk.Kind != yaml.ScalarNode || (vv.Kind != yaml.ScalarNode) {
			d.errorf(kk, "%s: %q: entries must be key: value", ctx, k.Value)
			continue
		}
		if isNull(vv) {
			m[kk.Value] = ""
			continue
		}
		m[kk.Value] = vv.Value
	}
	*dst = m
}

// SplitList splits a list given as one string: on white space for kernel
// and mkfs arguments (commas occur inside them, console=ttyS0,115200), on
// commas for names. Empty items are dropped.
func SplitList(s string, spaces bool) []string {
	var parts []string
	if spaces {
		parts = strings.Fields(s)
	} else {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
	}
	return parts
}

// duplicates reports keys that appear twice in one mapping: YAML forbids
// them, and silently keeping one would lose the other node's settings.
func (d *decoder) duplicates(m *yaml.Node, what string) {
	if len(m.Content) < 4 {
		return
	}
	first := make(map[string]int, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if line, ok := first[k.Value]; ok {
			d.errorf(k, "%s %q is defined twice (first at line %d)", what, k.Value, line)
			continue
		}
		first[k.Value] = k.Line
	}
}

func findField[T any](fields []Field[T], key string) (Field[T], bool) {
	for _, f := range fields {
		if f.Key == key {
			return f, true
		}
	}
	return Field[T]{}, false
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func quote(s string) string { return fmt.Sprintf("%q", s) }
