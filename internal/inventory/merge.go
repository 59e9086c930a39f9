package inventory

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Superseded is the source shown for a node's own value that overrides a
// value inherited from a profile, as Warewulf shows it.
const Superseded = "SUPERSEDED"

// Merged is a node with its profiles applied, and where each value came
// from.
type Merged struct {
	Name string
	Node
	// Chain is the profiles applied, in order (nested ones first).
	Chain []string
	// Sources maps a field path ("NetDevs[default].Ipaddr", "Tags[rack]")
	// to where its value came from: a profile name, several for lists
	// ("default,gpu", "default,n01" when the node appends to them), "" for
	// the node itself, or Superseded. It is nil
	// when the merge was made without provenance.
	Sources map[string]string

	isProfile bool // node-only fields do not apply
}

// A Merged node shares its strings with the inventory it came from:
// treat it as read-only.

// Merge applies a node's profiles the way Warewulf does: profiles in list
// order with nested profiles before the profile that includes them, each
// profile at most once; a set scalar overrides (so the last wins, and the
// node wins over every profile), lists append, maps merge key by key.
// Unlike Warewulf, a value set to "" overrides too, and "~x" in any list
// removes x from the merged list. The comment is never inherited.
func (inv *Inventory) Merge(name string) (*Merged, error) {
	n, ok := inv.Nodes[name]
	if !ok {
		return nil, fmt.Errorf("node %q does not exist", name)
	}
	return inv.merge(name, n, newTables(), true), nil
}

// MergeAll merges every node, in name order, without provenance (Sources
// is nil): the fast path for checks over the whole inventory.
func (inv *Inventory) MergeAll() []*Merged {
	out, _ := inv.MergeNodes(inv.NodeNames(), false)
	return out
}

// MergeNodes merges the named nodes, with provenance or without (faster).
func (inv *Inventory) MergeNodes(names []string, provenance bool) ([]*Merged, error) {
	t := newTables()
	out := make([]*Merged, 0, len(names))
	for _, name := range names {
		n, ok := inv.Nodes[name]
		if !ok {
			return nil, fmt.Errorf("node %q does not exist", name)
		}
		out = append(out, inv.merge(name, n, t, provenance))
	}
	return out, nil
}

// MergeProfile merges a profile with the profiles it includes, for
// "profile list --all".
func (inv *Inventory) MergeProfile(name string) (*Merged, error) {
	p, ok := inv.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("profile %q does not exist", name)
	}
	t := newTables()
	m := &Merged{Name: name, Sources: map[string]string{}, isProfile: true}
	m.Chain = inv.chain(p.Profiles)
	for _, pn := range m.Chain {
		if pn == name {
			continue
		}
		mergeProfile(&m.Profile, inv.Profiles[pn], pn, m.Sources, t)
	}
	mergeProfile(&m.Profile, p, "", m.Sources, t)
	m.Profiles = append([]string(nil), p.Profiles...)
	ownSource(m.Sources, "Profiles", len(p.Profiles) > 0)
	m.Comment = p.Comment
	ownSource(m.Sources, "Comment", p.Comment != nil)
	nameSelf(m.Sources, name)
	cleanLists(&m.Node, t)
	return m, nil
}

// OwnProfile is a profile's own fields alone, without those of the
// profiles it includes, for Warewulf's "profile list --all". Its Chain
// and Sources are empty.
func (inv *Inventory) OwnProfile(name string) (*Merged, error) {
	p, ok := inv.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("profile %q does not exist", name)
	}
	return &Merged{Name: name, Node: Node{Profile: *p}, isProfile: true}, nil
}

func (inv *Inventory) merge(name string, n *Node, t *tables, provenance bool) *Merged {
	m := &Merged{Name: name}
	if provenance {
		m.Sources = map[string]string{}
	}
	m.Chain = inv.chain(n.Profiles)
	for _, pn := range m.Chain {
		mergeProfile(&m.Profile, inv.Profiles[pn], pn, m.Sources, t)
	}
	mergeFields(&m.Node, n, t.node, "", "", m.Sources)
	mergeProfile(&m.Profile, &n.Profile, "", m.Sources, t)
	m.Profiles = append([]string(nil), n.Profiles...)
	ownSource(m.Sources, "Profiles", len(n.Profiles) > 0)
	m.Comment = n.Comment
	ownSource(m.Sources, "Comment", n.Comment != nil)
	nameSelf(m.Sources, name)
	cleanLists(&m.Node, t)
	return m
}

// chain expands a profile list depth first, nested profiles before their
// includer, skipping repeats, unknown names (validation reports them) and
// every profile negated with "~" anywhere in the expansion.
func (inv *Inventory) chain(ids []string) []string {
	var out []string
	seen := map[string]bool{}
	negated := map[string]bool{}
	var walk func(ids []string)
	walk = func(ids []string) {
		for _, id := range ids {
			if strings.HasPrefix(id, "~") {
				negated[id[1:]] = true
				continue
			}
			p, ok := inv.Profiles[id]
			if !ok || seen[id] {
				continue
			}
			seen[id] = true
			walk(p.Profiles)
			out = append(out, id)
		}
	}
	walk(ids)
	kept := out[:0]
	for _, id := range out {
		if !negated[id] {
			kept = append(kept, id)
		}
	}
	return kept
}

func mergeProfile(dst, src *Profile, from string, sources map[string]string, t *tables) {
	mergeFields(dst, src, t.profile, "", from, sources)
	if src.Kernel != nil {
		if dst.Kernel == nil {
			dst.Kernel = &Kernel{}
		}
		mergeFields(dst.Kernel, src.Kernel, t.kernel, "Kernel.", from, sources)
	}
	if src.Ipmi != nil {
		if dst.Ipmi == nil {
			dst.Ipmi = &IPMI{}
		}
		mergeFields(dst.Ipmi, src.Ipmi, t.ipmi, "Ipmi.", from, sources)
	}
	mergeEntities(&dst.NetDevs, src.NetDevs, "NetDevs", from, sources, func(d, s *NetDev, prefix string) {
		mergeFields(d, s, t.netdev, prefix, from, sources)
	})
	mergeEntities(&dst.Disks, src.Disks, "Disks", from, sources, func(d, s *Disk, prefix string) {
		mergeFields(d, s, t.disk, prefix, from, sources)
		mergeEntities(&d.Partitions, s.Partitions, prefix+"Partitions", from, sources, func(d, s *Partition, prefix string) {
			mergeFields(d, s, t.part, prefix, from, sources)
		})
	})
	mergeEntities(&dst.FileSystems, src.FileSystems, "FileSystems", from, sources, func(d, s *FileSystem, prefix string) {
		mergeFields(d, s, t.fs, prefix, from, sources)
	})
	for k, v := range src.Resources {
		if dst.Resources == nil {
			dst.Resources = map[string]*yaml.Node{}
		}
		prev := dst.Resources[k]
		dst.Resources[k] = mergeResource(prev, v)
		if sources != nil {
			name := "Resources[" + k + "]"
			if old, ok := sources[name]; ok && isSeq(prev) && isSeq(v) {
				// Appended, as a list field: every contributor is named.
				sources[name] = joinSource(old, from)
			} else {
				setSource(sources, name, from)
			}
		}
	}
}

func mergeEntities[T any](dst *map[string]*T, src map[string]*T, name, from string, sources map[string]string, each func(d, s *T, prefix string)) {
	for key, s := range src {
		if s == nil {
			continue
		}
		if *dst == nil {
			*dst = map[string]*T{}
		}
		d, ok := (*dst)[key]
		if !ok {
			d = new(T)
			(*dst)[key] = d
		}
		prefix := ""
		if sources != nil {
			prefix = name + "[" + key + "]."
		}
		each(d, s, prefix)
	}
}

func mergeFields[T any](dst, src *T, fields []Field[T], prefix, from string, sources map[string]string) {
	for _, f := range fields {
		switch {
		case f.Str != nil:
			if v := *f.Str(src); v != nil {
				*f.Str(dst) = v
				if sources != nil {
					setSource(sources, prefix+f.Name, from)
				}
			}
		case f.List != nil:
			if l := *f.List(src); len(l) > 0 {
				d := f.List(dst)
				if *d == nil {
					// Share the first contributor's list; the next append
					// copies, because its capacity is exactly full.
					*d = l[:len(l):len(l)]
				} else {
					*d = append(*d, l...)
				}
				if sources != nil {
					name := prefix + f.Name
					if prev, ok := sources[name]; ok && prev != from {
						sources[name] = joinSource(prev, from)
					} else {
						sources[name] = from
					}
				}
			}
		case f.Map != nil:
			if mm := *f.Map(src); len(mm) > 0 {
				d := f.Map(dst)
				if *d == nil {
					*d = make(map[string]string, len(mm))
				}
				for k, v := range mm {
					(*d)[k] = v
					if sources != nil {
						setSource(sources, prefix+f.Name+"["+k+"]", from)
					}
				}
			}
		}
	}
}

// setSource records who set a scalar: a node's own value over a profile's
// is marked Superseded.
func setSource(sources map[string]string, name, from string) {
	if prev, ok := sources[name]; ok && from == "" && prev != "" {
		sources[name] = Superseded
		return
	}
	sources[name] = from
}

// selfSource stands for the entity's own contribution in a joined list
// source until nameSelf replaces it with the entity's name; no profile
// can be named so.
const selfSource = "\x00"

func joinSource(prev, from string) string {
	if from == "" {
		from = selfSource
	}
	if prev == "" {
		prev = selfSource
	}
	return prev + "," + from
}

// nameSelf names the entity in joined list sources, as Warewulf shows a
// node's own list entries after its profiles': "default,n01".
func nameSelf(sources map[string]string, name string) {
	for k, v := range sources {
		if strings.Contains(v, selfSource) {
			sources[k] = strings.ReplaceAll(v, selfSource, name)
		}
	}
}

// cleanLists removes "~x" and every x from each merged list.
func cleanLists(n *Node, t *tables) {
	cleanFields(&n.Profile, t.profile)
	if n.Kernel != nil {
		cleanFields(n.Kernel, t.kernel)
	}
	for _, fs := range n.FileSystems {
		cleanFields(fs, t.fs)
	}
}

func cleanFields[T any](v *T, fields []Field[T]) {
	for _, f := range fields {
		if f.List != nil {
			l := f.List(v)
			*l = Negate(*l)
		}
	}
}

// Negate returns list without the entries "~x" and without every x that
// such an entry names.
func Negate(list []string) []string {
	var neg map[string]bool
	for _, s := range list {
		if strings.HasPrefix(s, "~") {
			if neg == nil {
				neg = map[string]bool{}
			}
			neg[s[1:]] = true
		}
	}
	if neg == nil {
		return list
	}
	out := make([]string, 0, len(list))
	for _, s := range list {
		if !strings.HasPrefix(s, "~") && !neg[s] {
			out = append(out, s)
		}
	}
	return out
}

// ownSource marks a field that is never inherited as the entity's own.
func ownSource(sources map[string]string, name string, set bool) {
	if sources == nil {
		return
	}
	if set {
		sources[name] = ""
	} else {
		delete(sources, name)
	}
}

func isSeq(n *yaml.Node) bool { return n != nil && n.Kind == yaml.SequenceNode }

// mergeResource merges resource mappings key by key and appends lists,
// recursively, as Warewulf 4.7 does; any other value replaces the
// inherited one. Neither input is modified.
func mergeResource(dst, src *yaml.Node) *yaml.Node {
	if isSeq(dst) && isSeq(src) {
		// Lists append, at any depth, as Warewulf 4.7's merge does.
		return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: dst.Style,
			Content: append(append([]*yaml.Node(nil), dst.Content...), src.Content...)}
	}
	if dst == nil || dst.Kind != yaml.MappingNode || src.Kind != yaml.MappingNode {
		return src
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: append([]*yaml.Node(nil), dst.Content...)}
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		found := false
		for j := 0; j+1 < len(out.Content); j += 2 {
			if out.Content[j].Value == k.Value {
				out.Content[j+1] = mergeResource(out.Content[j+1], v)
				found = true
				break
			}
		}
		if !found {
			out.Content = append(out.Content, k, v)
		}
	}
	return out
}
