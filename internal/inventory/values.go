package inventory

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Value is one field of a merged node or profile, flattened for display.
type Value struct {
	Field  string // path such as NetDevs[default].Ipaddr
	Value  string // list entries joined by ",", or "" when Set is false
	Set    bool   // false: the field has no value anywhere in the chain
	Source string // "" for the entity's own value, a profile name, or Superseded
}

// Values flattens a merged entity in nodes.conf order. With all, fields
// without a value are listed too (as Warewulf's "list --all" does), for
// the node itself and for each network device, disk and filesystem it
// has.
func (m *Merged) Values(all bool) []Value {
	t := newTables()
	var out []Value
	emit := func(field string, set bool, value string) {
		if !set && !all {
			return
		}
		out = append(out, Value{Field: field, Value: value, Set: set, Source: m.Sources[field]})
	}
	out = append(out, Value{Field: "Id", Value: m.Name, Set: true})
	if !m.isProfile {
		valuesOf(&m.Node, t.node, "", emit)
	}
	for _, f := range t.profile {
		valuesOf(&m.Profile, []Field[Profile]{f}, "", emit)
		switch f.Key {
		case "system overlay":
			k := m.Kernel
			if k == nil {
				k = &Kernel{}
			}
			valuesOf(k, t.kernel, "Kernel.", emit)
			i := m.Ipmi
			if i == nil {
				i = &IPMI{}
			}
			valuesOf(i, t.ipmi, "Ipmi.", emit)
		case "root":
			for _, name := range SortedNames(m.NetDevs) {
				valuesOf(m.NetDevs[name], t.netdev, "NetDevs["+name+"].", emit)
			}
		}
	}
	for _, name := range sortedKeys(m.Disks) {
		d := m.Disks[name]
		valuesOf(d, t.disk, "Disks["+name+"].", emit)
		for _, pn := range sortedKeys(d.Partitions) {
			valuesOf(d.Partitions[pn], t.part, "Disks["+name+"].Partitions["+pn+"].", emit)
		}
	}
	for _, name := range sortedKeys(m.FileSystems) {
		valuesOf(m.FileSystems[name], t.fs, "FileSystems["+name+"].", emit)
	}
	for _, k := range sortedKeys(m.Resources) {
		emit("Resources["+k+"]", true, flowYAML(m.Resources[k]))
	}
	return out
}

func valuesOf[T any](v *T, fields []Field[T], prefix string, emit func(field string, set bool, value string)) {
	for _, f := range fields {
		name := prefix + f.Name
		switch {
		case f.Str != nil:
			s := *f.Str(v)
			if s == nil {
				emit(name, false, "")
			} else {
				emit(name, true, *s)
			}
		case f.List != nil:
			l := *f.List(v)
			emit(name, len(l) > 0, strings.Join(l, ","))
		case f.Map != nil:
			mm := *f.Map(v)
			if len(mm) == 0 {
				emit(name, false, "")
			}
			for _, k := range sortedKeys(mm) {
				emit(name+"["+k+"]", true, mm[k])
			}
		}
	}
}

// flowYAML renders a resource on one line for tables.
func flowYAML(n *yaml.Node) string {
	c := *n
	setFlow(&c)
	out, err := yaml.Marshal(&c)
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

func setFlow(n *yaml.Node) {
	if n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		n.Style |= yaml.FlowStyle
		kids := make([]*yaml.Node, len(n.Content))
		for i, k := range n.Content {
			c := *k
			c.HeadComment, c.LineComment, c.FootComment = "", "", ""
			setFlow(&c)
			kids[i] = &c
		}
		n.Content = kids
	}
}
