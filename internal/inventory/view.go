package inventory

import (
	"errors"
	"net/netip"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/naming"
)

// NodeView is a merged node read the way the daemon reads it: each value
// it holds is parsed once, when the view is made, hardware addresses are
// in naming's canonical form and addresses are netip values, so that the
// DHCP server and the HTTP side never parse nodes.conf text themselves.
// It shares maps and lists with the merged node: treat it as read-only.
type NodeView struct {
	Name         string
	Cluster      string
	Image        string // as written; "" when unset (its name is checked where it is used)
	Ipxe         string // the iPXE template: "default" when unset or empty
	Root         string
	AssetKey     string
	Discoverable bool
	// PrimaryNetDev is the network as written, "" when unset.
	PrimaryNetDev  string
	KernelVersion  string // a version (prefix) or a path in the image; "" for the image's default
	KernelArgs     []string
	SystemOverlay  []string
	RuntimeOverlay []string
	Tags           map[string]string
	// NetDevs are the network devices in natural order of their names.
	NetDevs []NetDevView
	// IpmiAddr is the BMC's address; invalid when unset.
	IpmiAddr netip.Addr
	// Merged is the node the view was made from, for what shows nodes.conf
	// as written (the iPXE template's NetDevs).
	Merged *Merged
}

// NetDevView is a network device of a NodeView. Unset values are the
// zero netip.Addr or netip.Prefix (IsValid false) or "".
type NetDevView struct {
	Network string // its key in nodes.conf: default, eth, ...
	Device  string // eth0, ib0, ...
	Hwaddr  string // canonical (naming.ParseMAC)
	Addr    netip.Addr
	// Prefix is Addr with the netmask's length (not masked); invalid
	// when the address or the netmask is unset.
	Prefix   netip.Prefix
	Gateway  netip.Addr
	Addr6    netip.Addr
	Prefix6  netip.Prefix // Addr6 with prefixlen6, when both are set
	Gateway6 netip.Addr
}

// NewView reads m. A value that does not parse as its kind (a problem
// Validate reports, and that wwctl refuses to write, but a hand-edited
// nodes.conf may hold) is an error naming the node, the field and the
// value; no view is made, so no reader guesses at it.
func NewView(m *Merged) (*NodeView, error) {
	var bad []string
	get := func(field string, k Kind, p *string) string {
		if p == nil || *p == "" {
			return ""
		}
		if msg := CheckValue(k, *p); msg != "" {
			bad = append(bad, Problem{Entity: "node", Name: m.Name, Field: field, Value: *p, Msg: msg}.String())
			return ""
		}
		return *p
	}
	v := &NodeView{
		Name:           m.Name,
		Cluster:        Deref(m.ClusterName),
		Image:          Deref(m.ImageName),
		Ipxe:           Deref(m.Ipxe),
		Root:           Deref(m.Root),
		AssetKey:       Deref(m.AssetKey),
		PrimaryNetDev:  Deref(m.PrimaryNetDev),
		SystemOverlay:  m.SystemOverlay,
		RuntimeOverlay: m.RuntimeOverlay,
		Tags:           m.Tags,
		Merged:         m,
	}
	if v.Ipxe == "" {
		v.Ipxe = "default"
	}
	if s := get("Discoverable", KindBool, m.Discoverable); s != "" {
		v.Discoverable, _ = ParseBool(s)
	}
	if m.Kernel != nil {
		v.KernelVersion = Deref(m.Kernel.Version)
		v.KernelArgs = m.Kernel.Args
	}
	if m.Ipmi != nil {
		v.IpmiAddr = addr(get("Ipmi.Ipaddr", KindIPv4, m.Ipmi.Ipaddr))
	}
	if len(m.NetDevs) > 0 {
		v.NetDevs = make([]NetDevView, 0, len(m.NetDevs))
	}
	for _, name := range SortedNames(m.NetDevs) {
		d := m.NetDevs[name]
		if d == nil {
			continue
		}
		f := "NetDevs[" + name + "]."
		n := NetDevView{Network: name, Device: Deref(d.Device)}
		if hw := get(f+"Hwaddr", KindMAC, d.Hwaddr); hw != "" {
			n.Hwaddr, _ = naming.ParseMAC(hw)
		}
		n.Addr = addr(get(f+"Ipaddr", KindIPv4, d.Ipaddr))
		if mask := addr(get(f+"Netmask", KindNetmask, d.Netmask)); mask.IsValid() && n.Addr.IsValid() {
			n.Prefix = netip.PrefixFrom(n.Addr, maskBits(mask))
		}
		n.Gateway = addr(get(f+"Gateway", KindIPv4, d.Gateway))
		n.Addr6 = addr(get(f+"Ipaddr6", KindIPv6, d.Ipaddr6))
		if s := get(f+"PrefixLen6", KindPrefix6, d.Prefixlen6); s != "" && n.Addr6.IsValid() {
			bits, _ := strconv.Atoi(s)
			n.Prefix6 = netip.PrefixFrom(n.Addr6, bits)
		}
		n.Gateway6 = addr(get(f+"Gateway6", KindIPv6, d.Gateway6))
		v.NetDevs = append(v.NetDevs, n)
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	return v, nil
}

// NetDevByMAC returns the first device, in order, with hardware address
// hw (canonical).
func (v *NodeView) NetDevByMAC(hw string) (NetDevView, bool) {
	for _, d := range v.NetDevs {
		if d.Hwaddr != "" && d.Hwaddr == hw {
			return d, true
		}
	}
	return NetDevView{}, false
}

// Addrs lists the IPv4 and IPv6 addresses nodes.conf gives the node's
// devices.
func (v *NodeView) Addrs() []netip.Addr {
	var out []netip.Addr
	for _, d := range v.NetDevs {
		for _, a := range []netip.Addr{d.Addr, d.Addr6} {
			if a.IsValid() {
				out = append(out, a)
			}
		}
	}
	return out
}

// Deref is the value of a scalar field, "" when it is unset.
func Deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// addr parses a value CheckValue accepted; "" is the zero Addr.
func addr(s string) netip.Addr {
	a, _ := netip.ParseAddr(s)
	return a
}

// maskBits is the length of a contiguous netmask CheckValue accepted.
func maskBits(mask netip.Addr) int {
	b := mask.As4()
	n := 0
	for _, c := range b {
		for ; c&0x80 != 0; c <<= 1 {
			n++
		}
	}
	return n
}
