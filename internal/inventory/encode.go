package inventory

import (
	"maps"
	"slices"

	"gopkg.in/yaml.v3"
)

// encoder turns the model into a YAML tree in Warewulf's key order, with
// values written the way Warewulf writes them, so that Warewulf can read
// our file back.
type encoder struct{ t *tables }

func (e *encoder) document(inv *Inventory) *yaml.Node {
	root := mapping()
	profiles := mapping()
	for _, name := range sortedKeys(inv.Profiles) {
		addPair(profiles, name, e.profile(inv.Profiles[name]))
	}
	nodes := mapping()
	for _, name := range SortedNames(inv.Nodes) {
		addPair(nodes, name, e.node(inv.Nodes[name]))
	}
	root.Content = append(root.Content, inv.extra...)
	addPair(root, "nodeprofiles", profiles)
	addPair(root, "nodes", nodes)
	return &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}
}

func (e *encoder) node(n *Node) *yaml.Node {
	m := mapping()
	encodeFields(m, n, e.t.node)
	e.profileInto(m, &n.Profile)
	return m
}

func (e *encoder) profile(p *Profile) *yaml.Node {
	m := mapping()
	e.profileInto(m, p)
	return m
}

// profileInto writes the inheritable fields, placing the sub-entities
// where Warewulf's struct order puts them.
func (e *encoder) profileInto(m *yaml.Node, p *Profile) {
	for _, f := range e.t.profile {
		encodeFields(m, p, []Field[Profile]{f})
		switch f.Key {
		case "system overlay":
			if p.Kernel != nil {
				addNonEmpty(m, "kernel", encodeEntity(p.Kernel, e.t.kernel, p.Kernel.Unknown))
			}
			if p.Ipmi != nil {
				addNonEmpty(m, "ipmi", encodeEntity(p.Ipmi, e.t.ipmi, p.Ipmi.Unknown))
			}
		case "root":
			if len(p.NetDevs) > 0 {
				devs := mapping()
				for _, name := range sortedKeys(p.NetDevs) {
					addPair(devs, name, encodeEntity(p.NetDevs[name], e.t.netdev, p.NetDevs[name].Unknown))
				}
				addPair(m, "network devices", devs)
			}
		}
	}
	if len(p.Disks) > 0 {
		disks := mapping()
		for _, name := range sortedKeys(p.Disks) {
			d := p.Disks[name]
			dm := encodeEntity(d, e.t.disk, nil)
			if len(d.Partitions) > 0 {
				parts := mapping()
				for _, pn := range sortedKeys(d.Partitions) {
					part := d.Partitions[pn]
					addPair(parts, pn, encodeEntity(part, e.t.part, part.Unknown))
				}
				addPair(dm, "partitions", parts)
			}
			dm.Content = append(dm.Content, d.Unknown...)
			addPair(disks, name, dm)
		}
		addPair(m, "disks", disks)
	}
	if len(p.FileSystems) > 0 {
		fss := mapping()
		for _, name := range sortedKeys(p.FileSystems) {
			addPair(fss, name, encodeEntity(p.FileSystems[name], e.t.fs, p.FileSystems[name].Unknown))
		}
		addPair(m, "filesystems", fss)
	}
	if len(p.Resources) > 0 {
		res := mapping()
		for _, k := range sortedKeys(p.Resources) {
			addPair(res, k, p.Resources[k])
		}
		addPair(m, "resources", res)
	}
	m.Content = append(m.Content, p.Unknown...)
}

// encodeEntity writes an entity's fields and then the keys it kept
// without knowing them.
func encodeEntity[T any](t *T, fields []Field[T], unknown []*yaml.Node) *yaml.Node {
	m := mapping()
	encodeFields(m, t, fields)
	m.Content = append(m.Content, unknown...)
	return m
}

func encodeFields[T any](m *yaml.Node, t *T, fields []Field[T]) {
	for _, f := range fields {
		switch {
		case f.Str != nil:
			if v := *f.Str(t); v != nil {
				addPair(m, f.Key, scalarNode(*v, f.Kind))
			}
		case f.List != nil:
			if l := *f.List(t); len(l) > 0 {
				seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
				for _, s := range l {
					seq.Content = append(seq.Content, scalarNode(s, KindString))
				}
				addPair(m, f.Key, seq)
			}
		case f.Map != nil:
			if mm := *f.Map(t); len(mm) > 0 {
				tm := mapping()
				for _, k := range sortedKeys(mm) {
					addPair(tm, k, scalarNode(mm[k], KindString))
				}
				addPair(m, f.Key, tm)
			}
		}
	}
}

// scalarNode writes booleans of YAML-bool fields plain and everything else
// as a string; the emitter quotes strings that would otherwise read back
// as another type ("true", "9000").
func scalarNode(v string, kind Kind) *yaml.Node {
	if kind == KindYAMLBool && (v == "true" || v == "false") {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: v}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v}
}

func mapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

func addPair(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func addNonEmpty(m *yaml.Node, key string, v *yaml.Node) {
	if len(v.Content) > 0 {
		addPair(m, key, v)
	}
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// carryOver returns the new tree with the old tree's comments, key order
// and scalar styles: keys present in both keep their old position, keys
// only in the new tree are added after them in the new order, keys only in
// the old tree are dropped. A scalar whose value did not change keeps its
// old node, so quoting and tags the administrator chose survive.
func carryOver(old, new *yaml.Node) *yaml.Node {
	if old == nil {
		return new
	}
	if old.Kind != new.Kind {
		new.HeadComment, new.LineComment, new.FootComment = old.HeadComment, old.LineComment, old.FootComment
		return new
	}
	switch new.Kind {
	case yaml.ScalarNode:
		if old.Value == new.Value && sameScalarType(old, new) {
			return old
		}
		new.HeadComment, new.LineComment, new.FootComment = old.HeadComment, old.LineComment, old.FootComment
		return new
	case yaml.MappingNode:
		if len(old.Content) == 0 {
			// "nodes: {}" should not turn a whole cluster into flow style.
			old.Style &^= yaml.FlowStyle
		}
		oldIdx := make(map[string]int, len(old.Content)/2)
		for i := 0; i+1 < len(old.Content); i += 2 {
			oldIdx[old.Content[i].Value] = i
		}
		newIdx := make(map[string]int, len(new.Content)/2)
		for i := 0; i+1 < len(new.Content); i += 2 {
			newIdx[new.Content[i].Value] = i
		}
		// Old keys keep their order; a key only the new tree has goes
		// right after the key that precedes it in the new tree, so a new
		// node lands in its sorted place and a new field beside its
		// neighbours.
		out := make([]*yaml.Node, 0, len(new.Content))
		pos := map[string]int{} // key -> index in out
		for i := 0; i+1 < len(old.Content); i += 2 {
			j, ok := newIdx[old.Content[i].Value]
			if !ok {
				continue
			}
			pos[old.Content[i].Value] = len(out)
			out = append(out, old.Content[i], carryOver(old.Content[i+1], new.Content[j+1]))
		}
		if len(out) == len(new.Content) {
			old.Content = out
			old.Tag = "!!map"
			return old
		}
		var inserts map[int][]*yaml.Node // after out index -> pairs
		at := -2                         // before everything
		for i := 0; i+1 < len(new.Content); i += 2 {
			k := new.Content[i].Value
			if _, ok := oldIdx[k]; ok {
				at = pos[k]
				continue
			}
			if inserts == nil {
				inserts = map[int][]*yaml.Node{}
			}
			inserts[at] = append(inserts[at], new.Content[i], new.Content[i+1])
		}
		merged := make([]*yaml.Node, 0, len(new.Content))
		merged = append(merged, inserts[-2]...)
		for i := 0; i < len(out); i += 2 {
			merged = append(merged, out[i], out[i+1])
			merged = append(merged, inserts[i]...)
		}
		out = merged
		old.Content = out
		old.Tag = "!!map"
		return old
	case yaml.SequenceNode:
		if len(old.Content) == 0 {
			old.Style &^= yaml.FlowStyle
		}
		for i, n := range new.Content {
			if i < len(old.Content) {
				new.Content[i] = carryOver(old.Content[i], n)
			}
		}
		old.Content = new.Content
		return old
	case yaml.DocumentNode:
		if len(old.Content) > 0 && len(new.Content) > 0 {
			old.Content = []*yaml.Node{carryOver(old.Content[0], new.Content[0])}
			return old
		}
	}
	return new
}

// sameScalarType reports whether two scalars with equal text mean the same
// thing: a plain "true" and a quoted "true" are both fine for a Warewulf
// boolean field, but the encoder decides the tag for YAML-bool fields.
func sameScalarType(old, new *yaml.Node) bool {
	if new.Tag == "!!bool" {
		return old.Tag == "!!bool"
	}
	return old.Tag != "!!null"
}
