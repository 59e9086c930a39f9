package inventory

import (
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/naming"
)

// Discover gives the hardware address hw to the first discoverable node,
// ordered by cluster name then node name (numbers by value; Warewulf
// compares names as bytes): the address goes on the node's primary
// network device (else its first by name; a node without devices gets
// the one its primary names, else "default", where Warewulf skips it),
// and the node stops being discoverable. It returns the node's name, that
// of a node already holding hw, or "" when no node is discoverable. hw is
// in naming's canonical form.
func (inv *Inventory) Discover(hw string) string {
	var cands []*Merged
	for _, m := range inv.MergeAll() {
		for _, d := range m.NetDevs {
			if d.Hwaddr != nil && naming.NormalizeMAC(*d.Hwaddr) == hw {
				return m.Name
			}
		}
		if discoverable(m) {
			cands = append(cands, m)
		}
	}
	if len(cands) == 0 {
		return ""
	}
	m := slices.MinFunc(cands, func(a, b *Merged) int {
		if ca, cb := Deref(a.ClusterName), Deref(b.ClusterName); ca != cb {
			return strings.Compare(ca, cb)
		}
		if NaturalLess(a.Name, b.Name) {
			return -1
		}
		if NaturalLess(b.Name, a.Name) {
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	n := inv.Nodes[m.Name]
	// A primary naming no device the node has is not used, as Warewulf
	// then takes its first device.
	dev := Deref(m.PrimaryNetDev)
	if m.NetDevs[dev] == nil && len(m.NetDevs) > 0 || dev == "" {
		if names := SortedNames(m.NetDevs); len(names) > 0 {
			dev = names[0]
		} else {
			dev = "default"
		}
	}
	if n.NetDevs == nil {
		n.NetDevs = map[string]*NetDev{}
	}
	if n.NetDevs[dev] == nil {
		n.NetDevs[dev] = &NetDev{}
	}
	n.NetDevs[dev].Hwaddr = &hw
	// Only a node says discoverable (a profile cannot), so clearing its
	// own setting is enough.
	n.Discoverable = nil
	return m.Name
}

func discoverable(m *Merged) bool {
	if m.Discoverable == nil {
		return false
	}
	v, ok := ParseBool(*m.Discoverable)
	return ok && v
}
