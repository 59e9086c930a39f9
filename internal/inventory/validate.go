package inventory

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/naming"
)

// Problem is one thing wrong with an inventory. Its text names the entity,
// the field and the value.
type Problem struct {
	Entity string // "node" or "profile"
	Name   string
	Field  string // field path such as NetDevs[default].Ipaddr; "" for the entity itself
	Value  string
	Msg    string
}

func (p Problem) String() string {
	s := fmt.Sprintf("%s %q", p.Entity, p.Name)
	if p.Field != "" {
		s += ": " + p.Field
	}
	if p.Value != "" {
		return s + fmt.Sprintf(": %q %s", p.Value, p.Msg)
	}
	return s + ": " + p.Msg
}

// Validate checks every value's syntax, names, profile references and
// cycles, and the uniqueness of hardware and IP addresses across the
// merged nodes. Problems come sorted, so two runs compare equal.
func (inv *Inventory) Validate() []Problem {
	t := newTables()
	var ps []Problem
	for _, name := range inv.ProfileNames() {
		p := inv.Profiles[name]
		add := func(field, value, msg string) {
			ps = append(ps, Problem{Entity: "profile", Name: name, Field: field, Value: value, Msg: msg})
		}
		if !naming.Profile.Valid(name) {
			add("", "", "name may only contain letters, digits, '.', '_' and '-', starting with a letter or digit")
		}
		checkProfile(p, t, add)
		inv.checkRefs(p.Profiles, add)
	}
	for _, cycle := range inv.profileCycles() {
		ps = append(ps, Problem{Entity: "profile", Name: cycle[0], Field: "Profiles",
			Msg: "includes itself: " + strings.Join(cycle, " -> ")})
	}
	nodeNames := inv.NodeNames()
	for _, name := range nodeNames {
		n := inv.Nodes[name]
		add := func(field, value, msg string) {
			ps = append(ps, Problem{Entity: "node", Name: name, Field: field, Value: value, Msg: msg})
		}
		if !naming.Node.Valid(name) {
			add("", "", "name may only contain letters, digits, '.', '_' and '-', starting with a letter or digit")
		}
		checkFields(n, t.node, "", add)
		checkProfile(&n.Profile, t, add)
		inv.checkRefs(n.Profiles, add)
	}
	ps = append(ps, inv.checkUnique(nodeNames)...)
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Entity != ps[j].Entity {
			return ps[i].Entity > ps[j].Entity // profiles first
		}
		if ps[i].Name != ps[j].Name {
			return NaturalLess(ps[i].Name, ps[j].Name)
		}
		return ps[i].Field < ps[j].Field
	})
	return ps
}

func checkProfile(p *Profile, t *tables, add func(field, value, msg string)) {
	checkFields(p, t.profile, "", add)
	if p.Kernel != nil {
		checkFields(p.Kernel, t.kernel, "Kernel.", add)
	}
	if p.Ipmi != nil {
		checkFields(p.Ipmi, t.ipmi, "Ipmi.", add)
	}
	for _, name := range sortedKeys(p.NetDevs) {
		prefix := "NetDevs[" + name + "]."
		if !naming.Network.Valid(name) {
			add("NetDevs["+name+"]", "", "network name may only contain letters, digits, '.', '_', ':' and '-'")
		}
		if d := p.NetDevs[name]; d != nil {
			checkFields(d, t.netdev, prefix, add)
		}
	}
	for _, name := range sortedKeys(p.Disks) {
		d := p.Disks[name]
		if d == nil {
			continue
		}
		checkFields(d, t.disk, "Disks["+name+"].", add)
		for _, pn := range sortedKeys(d.Partitions) {
			if part := d.Partitions[pn]; part != nil {
				checkFields(part, t.part, "Disks["+name+"].Partitions["+pn+"].", add)
			}
		}
	}
	for _, name := range sortedKeys(p.FileSystems) {
		if msg := fileSystemKeyProblem(name); msg != "" || !strings.HasPrefix(name, "/") {
			if msg == "" {
				msg = "a filesystem's device must be a path under /dev (such as /dev/vda1)"
			}
			add("FileSystems["+name+"]", "", msg)
		}
		if fs := p.FileSystems[name]; fs != nil {
			checkFields(fs, t.fs, "FileSystems["+name+"].", add)
		}
	}
}

func checkFields[T any](v *T, fields []Field[T], prefix string, add func(field, value, msg string)) {
	for _, f := range fields {
		switch {
		case f.Str != nil:
			if s := *f.Str(v); s != nil && *s != "" {
				if msg := CheckValue(f.Kind, *s); msg != "" {
					add(prefix+f.Name, *s, msg)
				}
			}
		case f.Map != nil:
			for k := range *f.Map(v) {
				if strings.TrimSpace(k) == "" {
					add(prefix+f.Name, k, "is not a valid tag name")
				}
			}
		case f.List != nil:
			for _, s := range *f.List(v) {
				if strings.TrimSpace(s) == "" || strings.TrimPrefix(s, "~") == "" {
					add(prefix+f.Name, s, "is not a valid list entry")
				}
			}
		}
	}
}

// CheckValue returns what is wrong with s as a value of kind k, or "".
func CheckValue(k Kind, s string) string {
	switch k {
	case KindIPv4:
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			return "is not an IPv4 address"
		}
	case KindIPv6:
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() || a.Is4In6() {
			return "is not an IPv6 address"
		}
	case KindNetmask:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return "is not an IPv4 netmask"
		}
		b := a.As4()
		if ones, bits := net.IPMask(b[:]).Size(); ones == 0 && bits == 0 {
			return "is not a valid netmask (the one bits must be contiguous)"
		}
	case KindMAC:
		if _, err := naming.ParseMAC(s); err != nil {
			return "is not a hardware address (expected aa:bb:cc:dd:ee:ff)"
		}
	case KindBool:
		if _, ok := ParseBool(s); !ok {
			return "is not a boolean (true, false, yes, no)"
		}
	case KindYAMLBool:
		if s != "true" && s != "false" {
			return "is not a boolean (true or false)"
		}
	case KindUint:
		if _, err := strconv.ParseUint(s, 10, 64); err != nil {
			return "is not a non-negative whole number"
		}
	case KindPrefix6:
		if n, err := strconv.Atoi(s); err != nil || n < 0 || n > 128 {
			return "is not an IPv6 prefix length (0-128)"
		}
	case KindPort:
		if n, err := strconv.Atoi(s); err != nil || n < 1 || n > 65535 {
			return "is not a port number (1-65535)"
		}
	case KindMTU:
		if n, err := strconv.Atoi(s); err != nil || n < 68 || n > 65536 {
			return "is not an MTU (68-65536)"
		}
	}
	return ""
}

// ParseBool reads Warewulf's boolean strings.
func ParseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "1", "on":
		return true, true
	case "false", "no", "0", "off":
		return false, true
	}
	return false, false
}

func (inv *Inventory) checkRefs(ids []string, add func(field, value, msg string)) {
	for _, id := range ids {
		name := strings.TrimPrefix(id, "~")
		if _, ok := inv.Profiles[name]; !ok {
			add("Profiles", name, "is not an existing profile")
		}
	}
}

// profileCycles returns each cycle of profile includes once, starting at
// its smallest name.
func (inv *Inventory) profileCycles() [][]string {
	var cycles [][]string
	seen := map[string]bool{}
	const (
		visiting = 1
		done     = 2
	)
	state := map[string]int{}
	var stack []string
	var visit func(name string)
	visit = func(name string) {
		state[name] = visiting
		stack = append(stack, name)
		for _, id := range inv.Profiles[name].Profiles {
			if strings.HasPrefix(id, "~") {
				continue
			}
			if _, ok := inv.Profiles[id]; !ok {
				continue
			}
			switch state[id] {
			case visiting:
				i := len(stack) - 1
				for stack[i] != id {
					i--
				}
				cycle := append(append([]string(nil), stack[i:]...), id)
				key := canonicalCycle(cycle)
				if !seen[key] {
					seen[key] = true
					cycles = append(cycles, cycle)
				}
			case 0:
				visit(id)
			}
		}
		stack = stack[:len(stack)-1]
		state[name] = done
	}
	for _, name := range inv.ProfileNames() {
		if state[name] == 0 {
			visit(name)
		}
	}
	return cycles
}

func canonicalCycle(c []string) string {
	members := append([]string(nil), c[:len(c)-1]...)
	sort.Strings(members)
	return strings.Join(members, "\x00")
}

// DefaultIPMIPort is the BMC's port when "ipmi port" is unset (RMCP).
const DefaultIPMIPort = 623

// checkUnique reports hardware and IP addresses that merged nodes share,
// once for every node involved, so that the node an administrator just
// changed is named whichever way the names sort. BMCs may share an
// address on different ports (a chassis BMC, simulators on one host); a
// BMC on an address a network device has is still a duplicate.
func (inv *Inventory) checkUnique(nodeNames []string) []Problem {
	type owner struct{ node, field, value, note string }
	// An address is a parsed IP or a canonical MAC, with a BMC's port;
	// comparable keys keep 30,000 claims free of string building.
	type key struct {
		ip   netip.Addr
		mac  string
		port int // a BMC's; 0 for a network device's address
	}
	first := make(map[key]owner, 3*len(nodeNames))
	dups := map[key][]owner{}
	var order []key
	claim := func(k key, o owner) {
		prev, ok := first[k]
		if !ok {
			first[k] = o
			return
		}
		if _, seen := dups[k]; !seen {
			dups[k] = []owner{prev}
			order = append(order, k)
		}
		dups[k] = append(dups[k], o)
	}
	claimIP := func(s *string, node, field string) {
		if s == nil || *s == "" {
			return
		}
		a, err := netip.ParseAddr(*s)
		if err != nil {
			return // reported by the syntax check
		}
		claim(key{ip: a.Unmap()}, owner{node: node, field: field, value: *s})
	}
	type bmc struct {
		k key
		o owner
	}
	var bmcs []bmc
	merged, _ := inv.MergeNodes(nodeNames, false)
	for _, m := range merged {
		names := make([]string, 0, len(m.NetDevs))
		for name := range m.NetDevs {
			names = append(names, name)
		}
		if len(names) > 1 {
			sort.Strings(names)
		}
		for _, netname := range names {
			d := m.NetDevs[netname]
			prefix := "NetDevs[" + netname + "]."
			if d.Hwaddr != nil && *d.Hwaddr != "" {
				mac := naming.NormalizeMAC(*d.Hwaddr)
				claim(key{mac: mac}, owner{node: m.Name, field: prefix + "Hwaddr", value: mac})
			}
			claimIP(d.Ipaddr, m.Name, prefix+"Ipaddr")
			claimIP(d.Ipaddr6, m.Name, prefix+"Ipaddr6")
		}
		if m.Ipmi != nil && m.Ipmi.Ipaddr != nil && *m.Ipmi.Ipaddr != "" {
			a, aerr := netip.ParseAddr(*m.Ipmi.Ipaddr)
			port := DefaultIPMIPort
			var perr error
			if m.Ipmi.Port != nil && *m.Ipmi.Port != "" {
				port, perr = strconv.Atoi(*m.Ipmi.Port)
			}
			if aerr == nil && perr == nil { // else reported by the syntax check
				bmcs = append(bmcs, bmc{key{ip: a.Unmap(), port: port},
					owner{m.Name, "Ipmi.Ipaddr", *m.Ipmi.Ipaddr, fmt.Sprintf(", port %d", port)}})
			}
		}
	}
	// After every network device, so that a device of a later node is
	// seen too.
	for _, b := range bmcs {
		claim(b.k, b.o)
		if _, ok := first[key{ip: b.k.ip}]; ok {
			claim(key{ip: b.k.ip}, b.o)
		}
	}
	var ps []Problem
	for _, k := range order {
		os := dups[k]
		for i, o := range os {
			var others []string
			for j, other := range os {
				if j == i {
					continue
				}
				if len(others) == 3 {
					others = append(others, fmt.Sprintf("and %d more", len(os)-4))
					break
				}
				note := ""
				if k.port != 0 {
					note = other.note
				}
				if other.node == o.node {
					others = append(others, other.field+note)
				} else {
					others = append(others, fmt.Sprintf("node %q (%s%s)", other.node, other.field, note))
				}
			}
			ps = append(ps, Problem{Entity: "node", Name: o.node, Field: o.field, Value: o.value,
				Msg: "is also used by " + strings.Join(others, ", ")})
		}
	}
	return ps
}
