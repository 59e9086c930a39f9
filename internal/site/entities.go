package site

import (
	"errors"
	"fmt"
	"slices"
	"sort"

	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
)

// Kind is what nodes and profiles share: the wwctl commands and the REST
// routes that work on either go through it, so that which map of the
// inventory, "exists", the selection by hostlist patterns and the rules
// of deletion are written once. Its value is the noun ("node",
// "profile").
type Kind string

// The two kinds of inventory entity.
const (
	NodeKind    Kind = "node"
	ProfileKind Kind = "profile"
)

// Plural is the noun's plural, "nodes" or "profiles".
func (k Kind) Plural() string { return string(k) + "s" }

// Names returns the entities' names in natural order.
func (k Kind) Names(inv *inventory.Inventory) []string {
	if k == NodeKind {
		return inv.NodeNames()
	}
	return inv.ProfileNames()
}

// Has reports whether the entity exists.
func (k Kind) Has(inv *inventory.Inventory, name string) bool {
	if k == NodeKind {
		_, ok := inv.Nodes[name]
		return ok
	}
	_, ok := inv.Profiles[name]
	return ok
}

// Own returns an entity's own fields (not merged with its profiles), nil
// when it does not exist. A profile is returned as a node without
// node-only fields, so that both flatten the same way.
func (k Kind) Own(inv *inventory.Inventory, name string) *inventory.Node {
	if k == NodeKind {
		return inv.Nodes[name]
	}
	if p := inv.Profiles[name]; p != nil {
		return &inventory.Node{Profile: *p}
	}
	return nil
}

// Overlays are the entity's own system and runtime overlay lists (empty
// when it does not exist).
func (k Kind) Overlays(inv *inventory.Inventory, name string) [2][]string {
	own := k.Own(inv, name)
	if own == nil {
		return [2][]string{}
	}
	return [2][]string{own.SystemOverlay, own.RuntimeOverlay}
}

// Remove deletes an entity from inv, with no check (see Delete).
func (k Kind) Remove(inv *inventory.Inventory, name string) {
	if k == NodeKind {
		delete(inv.Nodes, name)
	} else {
		delete(inv.Profiles, name)
	}
}

// Encode returns the named entities' own fields as a mapping of name to
// entity, in nodes.conf's shape.
func (k Kind) Encode(inv *inventory.Inventory, names []string) *yaml.Node {
	if k == NodeKind {
		return inventory.EncodeNodes(names, inv.Nodes)
	}
	return inventory.EncodeProfiles(names, inv.Profiles)
}

// Merge applies the named entities' profiles. Merged profiles always
// carry their sources; nodes only with provenance.
func (k Kind) Merge(inv *inventory.Inventory, names []string, provenance bool) ([]*inventory.Merged, error) {
	if k == NodeKind {
		return inv.MergeNodes(names, provenance)
	}
	ms := make([]*inventory.Merged, 0, len(names))
	for _, name := range names {
		m, err := inv.MergeProfile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	return ms, nil
}

// EncodeMerged is Encode of merged entities (as Merge returns them).
func (k Kind) EncodeMerged(names []string, ms []*inventory.Merged) *yaml.Node {
	if k == NodeKind {
		nodes := make(map[string]*inventory.Node, len(ms))
		for _, m := range ms {
			nodes[m.Name] = &m.Node
		}
		return inventory.EncodeNodes(names, nodes)
	}
	profiles := make(map[string]*inventory.Profile, len(ms))
	for _, m := range ms {
		profiles[m.Name] = &m.Profile
	}
	return inventory.EncodeProfiles(names, profiles)
}

// Set is a parsed mapping of name to entity, in the order of its text.
type Set struct {
	Kind     Kind
	Nodes    map[string]*inventory.Node
	Profiles map[string]*inventory.Profile
	Names    []string
	// Warnings name keys the format does not have: kept, not used.
	Warnings []inventory.Warning
}

// Parse reads a mapping of name to entity in nodes.conf's shape, naming
// file in its errors.
func (k Kind) Parse(data []byte, file string) (*Set, error) {
	s := &Set{Kind: k}
	var err error
	if k == NodeKind {
		s.Nodes, s.Names, s.Warnings, err = inventory.ParseNodes(data, file)
	} else {
		s.Profiles, s.Names, s.Warnings, err = inventory.ParseProfiles(data, file)
	}
	return s, err
}

// Put puts the set's entities into inv, each replacing a whole entity of
// its name.
func (s *Set) Put(inv *inventory.Inventory) {
	for _, name := range s.Names {
		if s.Kind == NodeKind {
			n := s.Nodes[name]
			if n != nil {
				var old *inventory.Profile
				if o := inv.Nodes[name]; o != nil {
					old = &o.Profile
				}
				inventory.KeepMaskedSecrets(&n.Profile, old)
			}
			inv.Nodes[name] = n
		} else {
			inventory.KeepMaskedSecrets(s.Profiles[name], inv.Profiles[name])
			inv.Profiles[name] = s.Profiles[name]
		}
	}
}

// Select expands hostlist patterns (n[001-100],gpu1) into existing
// names, in natural order; every name must exist. With all, every entity
// is selected.
func (k Kind) Select(inv *inventory.Inventory, patterns []string, all bool) ([]string, error) {
	if all {
		return k.Names(inv), nil
	}
	names, missing, err := k.Match(inv, patterns)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no such %s: %s", k, hostlist.Compress(missing))
	}
	return names, nil
}

// Match expands hostlist patterns into the names that exist, in natural
// order, and those that do not (missing), for the commands that skip
// unknown names as Warewulf does (list, unset --force).
func (k Kind) Match(inv *inventory.Inventory, patterns []string) (names, missing []string, err error) {
	expanded, err := hostlist.Expand(patterns...)
	if err != nil {
		return nil, nil, err
	}
	for _, name := range expanded {
		if k.Has(inv, name) {
			names = append(names, name)
		} else {
			missing = append(missing, name)
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return inventory.NaturalLess(names[i], names[j]) })
	return names, missing, nil
}

// CheckDeletable applies the rules of deletion to the named entities,
// deleted together: any node may go; profiles as CheckProfilesDeletable
// says.
func (k Kind) CheckDeletable(inv *inventory.Inventory, names []string) error {
	if k == ProfileKind {
		return CheckProfilesDeletable(inv, names)
	}
	return nil
}

// Delete removes the named entities when CheckDeletable allows it, and
// nothing otherwise.
func (k Kind) Delete(inv *inventory.Inventory, names []string) error {
	if err := k.CheckDeletable(inv, names); err != nil {
		return err
	}
	for _, name := range names {
		k.Remove(inv, name)
	}
	return nil
}

// OverlayFieldError is an overlay list of an entity that names an
// overlay that does not exist.
type OverlayFieldError struct {
	Kind  Kind
	Field string // "system overlay" or "runtime overlay"
	Err   *MissingOverlayError
}

func (e *OverlayFieldError) Error() string { return fmt.Sprintf("%s %s: %v", e.Kind, e.Field, e.Err) }

func (e *OverlayFieldError) Unwrap() error { return e.Err }

// CheckNewOverlays refuses overlay names that a change brought into an
// entity's own overlay lists (before: the lists before the change, as
// Kind.Overlays gave them) and that name no overlay (an
// *OverlayFieldError). Names already there are left alone, so that an
// unrelated change is not refused for an overlay deleted meanwhile.
// "~NAME" is checked as NAME.
func (s *Site) CheckNewOverlays(k Kind, inv *inventory.Inventory, name string, before [2][]string) error {
	after := k.Overlays(inv, name)
	for i, field := range []string{"system overlay", "runtime overlay"} {
		for _, o := range after[i] {
			if slices.Contains(before[i], o) {
				continue
			}
			var missing *MissingOverlayError
			if err := s.CheckOverlaysExist(o); errors.As(err, &missing) {
				return &OverlayFieldError{Kind: k, Field: field, Err: missing}
			} else if err != nil {
				return err
			}
		}
	}
	return nil
}
