package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
)

// stageDHCP is the stage recorded in a node's status.
const stageDHCP = "DHCP"

// binding is the address a client gets and the settings that go with it.
type binding struct {
	node    string // node name; "" for a dynamic-range client
	addr    netip.Addr
	mask    net.IPMask
	gateway netip.Addr
}

// staticBinding returns the node hw belongs to and its address on the
// network device with that hardware address, with the netmask and
// router of the device, else of the request's network. A node device
// without an address yields ok false: the client gets a dynamic
// address. So does one whose address is not on the request's network
// (offside true): a node may boot through a network of its own (PXE
// on the native VLAN, then iPXE on a tagged one), but it cannot use its
// address there.
func (s *Server) staticBinding(hw string, from origin) (b binding, ok, offside bool) {
	v, ok := s.o.Nodes.NodeByMAC(hw)
	if !ok {
		return binding{}, false, false
	}
	d, ok := v.NetDevByMAC(hw)
	if !ok || !d.Addr.Is4() {
		return binding{node: v.Name}, false, false
	}
	if !from.net.prefix.Contains(d.Addr) {
		return binding{node: v.Name, addr: d.Addr}, false, true
	}
	b = binding{node: v.Name, addr: d.Addr, mask: from.net.mask, gateway: d.Gateway}
	if d.Prefix.IsValid() {
		b.mask = net.CIDRMask(d.Prefix.Bits(), 32)
	}
	if !b.gateway.IsValid() {
		b.gateway = from.net.gateway
	}
	return b, true, false
}

// dynamic is the binding of a range address of from's network.
func dynamic(node string, a netip.Addr, from origin) binding {
	return binding{node: node, addr: a, mask: from.net.mask, gateway: from.net.gateway}
}

// bootFile returns what c should load next: iPXE gets the URL of its
// script (on a network where the daemon serves HTTP: Options.HTTPHost), a UEFI HTTP-boot client the URL of the EFI binary for its
// architecture, PXE firmware the TFTP path of that binary: shim when c
// boots GRUB (loader.go), else iPXE. It returns ""
// when there is nothing for c (no option 93 and not a boot client, or an
// architecture without a binary).
func (s *Server) bootFile(c client, from origin) string {
	authority := net.JoinHostPort(from.in.addr.String(), fmt.Sprint(s.o.HTTPPort))
	if c.ipxe && (!s.o.HTTPHost.IsValid() || s.o.HTTPHost == from.in.addr) {
		return s.o.IPXEURL(authority)
	}
	arch := c.arch
	if arch == "" {
		if !c.pxe && !c.http && !c.ipxe {
			return ""
		}
		arch = "00:00" // RFC 4578: a client without option 93 is x86 BIOS
	}
	if file := s.grubFile(c, arch); file != "" {
		if c.http {
			if s.httpGrubWarned.CompareAndSwap(false, true) {
				s.log.Warn("a node boots GRUB by UEFI HTTP boot: its GRUB must have HTTP (Enterprise Linux's); Debian's grubnetx64.efi has none and stops at its prompt; "+
					"the node tag Boot=ipxe boots such a node with iPXE (logged once)", "hwaddr", c.hw, "file", file)
			}
			return contract.EFIBootURL(authority, path.Base(file))
		}
		return file
	}
	for _, code := range archFallbacks(arch) {
		if file, ok := s.bootFiles[code]; ok {
			if c.http {
				return contract.EFIBootURL(authority, path.Base(file))
			}
			return file
		}
	}
	return ""
}

// withBoot sets the boot file of a reply and the next server that holds it.
func (s *Server) withBoot(req *dhcpv4.DHCPv4, file string, from origin) dhcpv4.Modifier {
	return func(d *dhcpv4.DHCPv4) {
		if file == "" {
			return
		}
		d.ServerIPAddr = from.in.ip
		if len(file) < 128 {
			d.BootFileName = file
		}
		if len(file) >= 128 || req.IsOptionRequested(dhcpv4.OptionBootfileName) {
			d.UpdateOption(dhcpv4.OptBootFileName(file))
		}
		if req.IsOptionRequested(dhcpv4.OptionTFTPServerName) {
			d.UpdateOption(dhcpv4.OptTFTPServerName(from.in.addr.String()))
		}
	}
}

// reply is a message to send and where to.
type reply struct {
	msg  *dhcpv4.DHCPv4
	dest *net.UDPAddr
	node string // node to record the DHCP stage for, "" for none
	sent string // what the status records as sent
}

// handle answers one request received on port of interface in, or
// returns nil.
func (s *Server) handle(in *iface, req *dhcpv4.DHCPv4, peer *net.UDPAddr, port int) (*reply, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 {
		return nil, nil
	}
	c := classify(req)
	from, ok := s.originOf(in, req.GatewayIPAddr)
	if !ok && s.o.Mode == config.ModeProxy {
		// ProxyDHCP gives no address: any relayed network will do, the
		// answer only needs the server's address.
		from, ok = origin{in: in, net: in.net, relay: req.GatewayIPAddr}, true
	}
	if !ok {
		s.counts.unknownNetwork.Add(1)
		if n, due := s.counts.relayLog.note(s.now()); due {
			s.log.Warn("DHCP requests relayed from a network that is not served (add it to dhcp.networks)",
				"relay", req.GatewayIPAddr.String(), "interface", in.name, "unanswered", n, "since", logInterval, "last hwaddr", c.hw)
		}
		return nil, nil
	}
	if s.o.Mode == config.ModeProxy {
		return s.proxy(req, c, from, peer, port)
	}
	if port != s.port {
		return nil, nil
	}
	sid := req.ServerIdentifier()
	ours := sid == nil || sid.Equal(in.ip)
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return s.offer(req, c, from)
	case dhcpv4.MessageTypeRequest:
		if !ours {
			return nil, nil // the client took another server's offer
		}
		return s.ack(req, c, from, sid != nil)
	case dhcpv4.MessageTypeInform:
		return s.inform(req, c, from)
	case dhcpv4.MessageTypeRelease:
		if a, ok := netip.AddrFromSlice(req.ClientIPAddr.To4()); ok && sid != nil && ours {
			return nil, s.leases.Release(c.hw, a, s.now())
		}
	case dhcpv4.MessageTypeDecline:
		if a, ok := netip.AddrFromSlice(req.RequestedIPAddress().To4()); ok && sid != nil && ours {
			s.log.Warn("client declined an address, which is in use by another host", "hwaddr", c.hw, "addr", a)
			return nil, s.leases.Decline(c.hw, a, s.now())
		}
	}
	return nil, nil
}

// offer answers a DISCOVER with its node's address, else, within the
// offer rate limits for clients that are not nodes, an address from the
// dynamic range.
func (s *Server) offer(req *dhcpv4.DHCPv4, c client, from origin) (*reply, error) {
	b, ok, offside := s.staticBinding(c.hw, from)
	if ok {
		return s.build(req, c, b, from, dhcpv4.MessageTypeOffer)
	}
	now := s.now()
	if !from.net.rng.valid() {
		if offside {
			s.counts.unknownNetwork.Add(1)
			if n, due := s.counts.offsideLog.note(now); due {
				s.log.Warn("node's address in nodes.conf is not on the network its DHCP request came from, which has no dynamic range: not answered",
					"node", b.node, "hwaddr", c.hw, "addr", b.addr, "from", from.where(), "unanswered", n, "since", logInterval)
			}
		}
		return nil, nil
	}
	// b.node is set for a node whose device has no address: a node
	// anyway, never limited.
	if b.node == "" && !s.limiter.allow(c.hw, now) {
		s.counts.offersLimited.Add(1)
		if n, due := s.counts.limitedLog.note(now); due {
			s.log.Warn("DHCP offers to clients that are not nodes rate-limited (dhcp.offers per second, dhcp.client offers per minute)",
				"unanswered", n, "since", logInterval, "last hwaddr", c.hw)
		}
		return nil, nil
	}
	requested, _ := netip.AddrFromSlice(req.RequestedIPAddress().To4())
	a, reused, err := s.leases.Offer(c.hw, from.net.rng, requested, s.reserved, now)
	if errors.Is(err, errPoolExhausted) {
		s.counts.poolExhausted.Add(1)
		if n, due := s.counts.exhaustedLog.note(now); due {
			s.log.Warn("DHCP dynamic range exhausted: every address is leased", "range", from.net.rng.String(),
				"unanswered", n, "since", logInterval, "last hwaddr", c.hw)
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if reused {
		s.counts.offersReused.Add(1)
		if n, due := s.counts.reusedLog.note(now); due {
			s.log.Warn("DHCP dynamic range full of unrequested offers: offered addresses given to new clients before their hold ended",
				"range", from.net.rng.String(), "reused", n, "since", logInterval, "last hwaddr", c.hw)
		}
	}
	if offside {
		s.log.Info("node's address in nodes.conf is not on the network its DHCP request came from: offered one of the dynamic range",
			"node", b.node, "hwaddr", c.hw, "nodes.conf addr", b.addr, "offered", a, "from", from.where())
	}
	return s.build(req, c, dynamic(b.node, a, from), from, dhcpv4.MessageTypeOffer)
}

func (s *Server) ack(req *dhcpv4.DHCPv4, c client, from origin, selecting bool) (*reply, error) {
	want, _ := netip.AddrFromSlice(req.RequestedIPAddress().To4())
	if !want.IsValid() {
		want, _ = netip.AddrFromSlice(req.ClientIPAddr.To4())
	}
	if !want.IsValid() || want.IsUnspecified() {
		return nil, nil
	}
	b, ok, _ := s.staticBinding(c.hw, from)
	if ok {
		if b.addr == want {
			return s.build(req, c, b, from, dhcpv4.MessageTypeAck)
		}
		return s.nak(req, c, from, slog.LevelInfo, fmt.Sprintf("%s belongs to node %s, not %s", c.hw, b.node, want))
	}
	now := s.now()
	if err := s.leases.Bind(c.hw, want, from.net.rng, s.reserved, now, now.Add(s.o.LeaseTime)); err != nil {
		// A client rebooting with an address from elsewhere asks without a
		// server identifier; only an address of this network is ours to
		// refuse.
		if selecting || from.net.prefix.Contains(want) {
			return s.nak(req, c, from, slog.LevelDebug, err.Error())
		}
		return nil, nil
	}
	return s.build(req, c, dynamic(b.node, want, from), from, dhcpv4.MessageTypeAck)
}

func (s *Server) inform(req *dhcpv4.DHCPv4, c client, from origin) (*reply, error) {
	ciaddr, ok := netip.AddrFromSlice(req.ClientIPAddr.To4())
	if !ok || ciaddr.IsUnspecified() {
		return nil, nil
	}
	b, _, _ := s.staticBinding(c.hw, from)
	b.addr, b.mask = netip.Addr{}, from.net.mask
	if !b.gateway.IsValid() {
		b.gateway = from.net.gateway
	}
	r, err := s.build(req, c, b, from, dhcpv4.MessageTypeAck)
	if r != nil {
		r.msg.Options.Del(dhcpv4.OptionIPAddressLeaseTime)
	}
	return r, err
}

// nak refuses a REQUEST, logging why at level, and, as anyone can send
// many, once per logInterval at Info with their count.
func (s *Server) nak(req *dhcpv4.DHCPv4, c client, from origin, level slog.Level, why string) (*reply, error) {
	s.log.Log(context.Background(), level, "refused a client's address", "hwaddr", c.hw, "reason", why)
	s.counts.requestsRefused.Add(1)
	if level >= slog.LevelInfo {
		return s.nakReply(req, from, why)
	}
	if n, due := s.counts.refusedLog.note(s.now()); due {
		s.log.Info("refused DHCP requests for addresses not offered to the client", "refused", n, "since", logInterval,
			"last hwaddr", c.hw, "last reason", why)
	}
	return s.nakReply(req, from, why)
}

func (s *Server) nakReply(req *dhcpv4.DHCPv4, from origin, why string) (*reply, error) {
	msg, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(from.in.ip)),
		dhcpv4.WithOption(dhcpv4.OptMessage(why)),
	)
	if err != nil {
		return nil, fmt.Errorf("build NAK: %w", err)
	}
	return &reply{msg: msg, dest: s.destination(req, true)}, nil
}

// build makes an OFFER or ACK giving b to c, with its boot file.
func (s *Server) build(req *dhcpv4.DHCPv4, c client, b binding, from origin, mt dhcpv4.MessageType) (*reply, error) {
	file := s.bootFile(c, from)
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(from.in.ip)),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(b.mask)),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(s.leaseTime(b))),
		s.withBoot(req, file, from),
	}
	if b.addr.IsValid() {
		mods = append(mods, dhcpv4.WithYourIP(b.addr.AsSlice()))
	}
	if mt == dhcpv4.MessageTypeAck && req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified() {
		mods = append(mods, dhcpv4.WithClientIP(req.ClientIPAddr))
	}
	if b.gateway.IsValid() {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptRouter(b.gateway.AsSlice())))
	}
	if b.node != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(b.node)))
	}
	if c.ipxe {
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.GenericOptionCode(optIPXE), []byte{optNoPXEDHCP, 1, 1}))
	}
	if c.http && file != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClassIdentifier("HTTPClient")))
	}
	msg, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w", mt, err)
	}
	sent := mt.String()
	if file != "" {
		sent = file
	}
	r := &reply{msg: msg, dest: s.destination(req, false), sent: sent}
	if mt == dhcpv4.MessageTypeAck {
		r.node = b.node
	}
	return r, nil
}

// leaseTime is the lease of b: nodes keep their address anyway, so
// theirs is long.
func (s *Server) leaseTime(b binding) time.Duration {
	if b.node != "" {
		return nodeLeaseTime
	}
	return s.o.LeaseTime
}

// destination is where a reply to req goes (RFC 2131 4.1): the relay,
// else the client's own address when it has one, else broadcast, which
// every client accepts and which needs no ARP entry for an address the
// client does not have yet.
func (s *Server) destination(req *dhcpv4.DHCPv4, nak bool) *net.UDPAddr {
	if req.GatewayIPAddr != nil && !req.GatewayIPAddr.IsUnspecified() {
		return &net.UDPAddr{IP: req.GatewayIPAddr, Port: s.port}
	}
	if !nak && req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified() {
		return &net.UDPAddr{IP: req.ClientIPAddr, Port: clientPort}
	}
	return &net.UDPAddr{IP: net.IPv4bcast, Port: clientPort}
}

// proxy answers a boot client as a ProxyDHCP server (PXE specification
// 2.1): no address, only the boot file, the PXEClient vendor class and
// the discovery control that tells PXE firmware to load that file at once.
func (s *Server) proxy(req *dhcpv4.DHCPv4, c client, from origin, peer *net.UDPAddr, port int) (*reply, error) {
	if !c.bootClient() {
		return nil, nil
	}
	mt := req.MessageType()
	var out dhcpv4.MessageType
	switch {
	case port == s.port && mt == dhcpv4.MessageTypeDiscover:
		out = dhcpv4.MessageTypeOffer
	case port == s.proxyPort && (mt == dhcpv4.MessageTypeRequest || mt == dhcpv4.MessageTypeInform):
		out = dhcpv4.MessageTypeAck
	default:
		return nil, nil
	}
	file := s.bootFile(c, from)
	if file == "" {
		return nil, nil
	}
	if !c.http && !s.proxyGrubWarned.Load() && s.grubLoader(file) && s.proxyGrubWarned.CompareAndSwap(false, true) {
		// GRUB configures its network from the firmware's copy of the
		// DHCP acknowledgement; Debian's ignores the ProxyDHCP answer.
		s.log.Warn("a node boots GRUB through ProxyDHCP: a GRUB that reads only the DHCP server's acknowledgement (Debian's grubnetx64.efi) "+
			"loads its configuration from that server's next-server, so the site's DHCP server must name this server as next-server; "+
			"Enterprise Linux's GRUB reads the ProxyDHCP answer (logged once)",
			"hwaddr", req.ClientHWAddr.String(), "file", file, "next-server", from.in.ip.String())
	}
	vendor := "PXEClient"
	if c.http {
		vendor = "HTTPClient"
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(out),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(from.in.ip)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)),
		dhcpv4.WithOptionCopied(req, dhcpv4.OptionClientMachineIdentifier),
		s.withBoot(req, file, from),
	}
	if c.pxe {
		// PXE_DISCOVERY_CONTROL (6) = 8: boot the file in this offer, no
		// boot server discovery and no menu.
		mods = append(mods, dhcpv4.WithGeneric(dhcpv4.OptionVendorSpecificInformation, []byte{6, 1, 8, 255}))
	}
	if req.ClientIPAddr != nil && !req.ClientIPAddr.IsUnspecified() {
		mods = append(mods, dhcpv4.WithClientIP(req.ClientIPAddr))
	}
	msg, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, fmt.Errorf("build proxy %s: %w", out, err)
	}
	dest := s.destination(req, false)
	if port == s.proxyPort && peer != nil {
		dest = peer // the client has its address by now and asked us directly
	}
	r := &reply{msg: msg, dest: dest, sent: file}
	if m, ok := s.o.Nodes.NodeByMAC(c.hw); ok {
		r.node = m.Name
	}
	return r, nil
}
