package dhcp

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
)

// setNetworks finds the server's address on each interface and the
// networks served: Options.Networks, and for an interface whose address
// is in none of them, the interface's own network (the first one's with
// RangeStart and RangeEnd).
func (s *Server) setNetworks() error {
	o := s.o
	for i, n := range o.Networks {
		nw, err := newNetwork(n.Prefix, n.RangeStart, n.RangeEnd, n.Gateway)
		if err != nil {
			return fmt.Errorf("network %d (%s): %w", i+1, n.Prefix, err)
		}
		for _, other := range s.networks {
			if other.prefix.Overlaps(nw.prefix) {
				return fmt.Errorf("network %s overlaps network %s", nw.prefix, other.prefix)
			}
		}
		s.networks = append(s.networks, nw)
		if n.Interface != "" && !slices.Contains(o.Interfaces, n.Interface) {
			return fmt.Errorf("network %s is on interface %s, which is not served", nw.prefix, n.Interface)
		}
	}
	for i, name := range o.Interfaces {
		if slices.Contains(o.Interfaces[:i], name) {
			return fmt.Errorf("interface %s is listed twice", name)
		}
		prefixes, err := interfacePrefixes(name)
		if err != nil {
			return err
		}
		want := netip.Addr{}
		if i == 0 {
			want = o.ServerIP
		}
		p, err := s.chooseAddr(name, prefixes, want)
		if err != nil {
			return fmt.Errorf("interface %s: %w", name, err)
		}
		nw := s.networkOf(p.Addr())
		switch {
		case nw == nil:
			var start, end netip.Addr
			if i == 0 {
				start, end = o.RangeStart, o.RangeEnd
			}
			if nw, err = newNetwork(p.Masked(), start, end, netip.Addr{}); err != nil {
				return fmt.Errorf("interface %s: %w", name, err)
			}
			for _, other := range s.networks {
				if other.prefix.Overlaps(nw.prefix) {
					return fmt.Errorf("interface %s's network %s overlaps network %s", name, nw.prefix, other.prefix)
				}
			}
			s.networks = append(s.networks, nw)
		case i == 0 && o.RangeStart.IsValid() && nw.rng.valid() && nw.rng != (addrRange{o.RangeStart, o.RangeEnd}):
			return fmt.Errorf("interface %s: network %s has its own range %s besides %s-%s", name, nw.prefix, nw.rng, o.RangeStart, o.RangeEnd)
		case i == 0 && o.RangeStart.IsValid() && !nw.rng.valid():
			r, err := checkRange(nw.prefix, o.RangeStart, o.RangeEnd)
			if err != nil {
				return fmt.Errorf("interface %s: %w", name, err)
			}
			nw.rng = r
		}
		s.ifaces = append(s.ifaces, &iface{name: name, addr: p.Addr(), ip: net.IP(p.Addr().AsSlice()), net: nw})
	}
	for _, n := range o.Networks {
		if n.Interface == "" {
			continue
		}
		prefixes, _ := interfacePrefixes(n.Interface)
		if !slices.ContainsFunc(prefixes, func(p netip.Prefix) bool { return n.Prefix.Contains(p.Addr()) }) {
			return fmt.Errorf("network %s is on interface %s, which holds no address in it", n.Prefix.Masked(), n.Interface)
		}
	}
	return nil
}

// chooseAddr picks the server's address among an interface's: want if
// set, else the first in a network declared on this interface, else
// the first in any network, else the first.
func (s *Server) chooseAddr(name string, prefixes []netip.Prefix, want netip.Addr) (netip.Prefix, error) {
	if len(prefixes) == 0 {
		return netip.Prefix{}, fmt.Errorf("has no IPv4 address")
	}
	if want.IsValid() {
		for _, p := range prefixes {
			if p.Addr() == want {
				return p, nil
			}
		}
		return netip.Prefix{}, fmt.Errorf("does not hold %s", want)
	}
	for _, n := range s.o.Networks {
		for _, p := range prefixes {
			if n.Interface == name && n.Prefix.Contains(p.Addr()) {
				return p, nil
			}
		}
	}
	for _, p := range prefixes {
		if s.networkOf(p.Addr()) != nil {
			return p, nil
		}
	}
	return prefixes[0], nil
}

// newNetwork checks one network's settings.
func newNetwork(prefix netip.Prefix, start, end, gateway netip.Addr) (*network, error) {
	if !prefix.IsValid() || !prefix.Addr().Is4() {
		return nil, fmt.Errorf("%s is not an IPv4 network", prefix)
	}
	prefix = prefix.Masked()
	nw := &network{prefix: prefix, mask: net.CIDRMask(prefix.Bits(), 32), gateway: gateway}
	if gateway.IsValid() && !prefix.Contains(gateway) {
		return nil, fmt.Errorf("gateway %s is outside the network", gateway)
	}
	if start.IsValid() || end.IsValid() {
		r, err := checkRange(prefix, start, end)
		if err != nil {
			return nil, err
		}
		nw.rng = r
	}
	return nw, nil
}

// checkRange checks a dynamic range of network prefix.
func checkRange(prefix netip.Prefix, start, end netip.Addr) (addrRange, error) {
	if !start.Is4() || !end.Is4() || end.Less(start) {
		return addrRange{}, fmt.Errorf("range %s-%s is not an IPv4 range", start, end)
	}
	if !prefix.Contains(start) || !prefix.Contains(end) {
		return addrRange{}, fmt.Errorf("range %s-%s is outside the network %s", start, end, prefix)
	}
	return addrRange{start, end}, nil
}

// networkOf returns the network served that holds a, or nil.
func (s *Server) networkOf(a netip.Addr) *network {
	for _, n := range s.networks {
		if n.prefix.Contains(a) {
			return n
		}
	}
	return nil
}

// interfacePrefixes returns an interface's IPv4 addresses with their
// prefix lengths.
func interfacePrefixes(name string) ([]netip.Prefix, error) {
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("interface %q: %w", name, err)
	}
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil, fmt.Errorf("interface %s: %w", name, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil {
			continue
		}
		ip, _ := netip.AddrFromSlice(ipn.IP.To4())
		bits, _ := ipn.Mask.Size()
		out = append(out, netip.PrefixFrom(ip, bits))
	}
	return out, nil
}

// origin is where a request comes from: the interface it arrived on
// (whose address answers it) and its client's network.
type origin struct {
	in    *iface
	net   *network
	relay net.IP // the relay agent's address (giaddr), nil for a direct request
}

// originOf finds the network of a request arriving on in: the
// interface's for a direct request, the one holding giaddr for a
// relayed one (RFC 2131 4.3.1), nil when no network served holds it.
func (s *Server) originOf(in *iface, giaddr net.IP) (origin, bool) {
	if giaddr == nil || giaddr.IsUnspecified() {
		return origin{in: in, net: in.net}, true
	}
	a, ok := netip.AddrFromSlice(giaddr.To4())
	if !ok {
		return origin{}, false
	}
	nw := s.networkOf(a)
	if nw == nil {
		return origin{}, false
	}
	return origin{in: in, net: nw, relay: giaddr}, true
}

// where names a request's origin in logs.
func (o origin) where() string {
	if o.relay != nil {
		return fmt.Sprintf("network %s via relay %s on %s", o.net.prefix, o.relay, o.in.name)
	}
	return fmt.Sprintf("network %s on %s", o.net.prefix, o.in.name)
}
