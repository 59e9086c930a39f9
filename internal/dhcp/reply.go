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
// network device with that hardware address. A node device without an
// address yields ok false: the client gets a dynamic address.
func (s *Server) staticBinding(hw string) (binding, bool) {
	v, ok := s.o.Nodes.NodeByMAC(hw)
	if !ok {
		return binding{}, false
	}
	d, ok := v.NetDevByMAC(hw)
	if !ok || !d.Addr.Is4() {
		return binding{node: v.Name}, false
	}
	b := binding{node: v.Name, addr: d.Addr, mask: s.mask, gateway: d.Gateway}
	if d.Prefix.IsValid() {
		b.mask = net.CIDRMask(d.Prefix.Bits(), 32)
	}
	return b, true
}

// bootFile returns what c should load next: iPXE gets the URL of its
// script, a UEFI HTTP-boot client the URL of the EFI binary for its
// architecture, PXE firmware the TFTP path of that binary: shim when c
// boots GRUB (loader.go), else iPXE. It returns ""
// when there is nothing for c (no option 93 and not a boot client, or an
// architecture without a binary).
func (s *Server) bootFile(c client) string {
	authority := net.JoinHostPort(s.o.ServerIP.String(), fmt.Sprint(s.o.HTTPPort))
	if c.ipxe {
		return s.o.IPXEURL(authority)
	}
	arch := c.arch
	if arch == "" {
		if !c.pxe && !c.http {
			return ""
		}
		arch = "00:00" // RFC 4578: a client without option 93 is x86 BIOS
	}
	if file := s.grubFile(c, arch); file != "" {
		if c.http {
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
func (s *Server) withBoot(req *dhcpv4.DHCPv4, file string) dhcpv4.Modifier {
	return func(d *dhcpv4.DHCPv4) {
		if file == "" {
			return
		}
		d.ServerIPAddr = s.serverIP
		if len(file) < 128 {
			d.BootFileName = file
		}
		if len(file) >= 128 || req.IsOptionRequested(dhcpv4.OptionBootfileName) {
			d.UpdateOption(dhcpv4.OptBootFileName(file))
		}
		if req.IsOptionRequested(dhcpv4.OptionTFTPServerName) {
			d.UpdateOption(dhcpv4.OptTFTPServerName(s.o.ServerIP.String()))
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

// handle answers one request received on port, or returns nil.
func (s *Server) handle(req *dhcpv4.DHCPv4, peer *net.UDPAddr, port int) (*reply, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest || len(req.ClientHWAddr) != 6 {
		return nil, nil
	}
	c := classify(req)
	if s.o.Mode == config.ModeProxy {
		return s.proxy(req, c, peer, port)
	}
	if port != s.port {
		return nil, nil
	}
	sid := req.ServerIdentifier()
	ours := sid == nil || sid.Equal(s.serverIP)
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		return s.offer(req, c)
	case dhcpv4.MessageTypeRequest:
		if !ours {
			return nil, nil // the client took another server's offer
		}
		return s.ack(req, c, sid != nil)
	case dhcpv4.MessageTypeInform:
		return s.inform(req, c)
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
func (s *Server) offer(req *dhcpv4.DHCPv4, c client) (*reply, error) {
	b, ok := s.staticBinding(c.hw)
	if ok {
		return s.build(req, c, b, dhcpv4.MessageTypeOffer)
	}
	now := s.now()
	if !s.leases.hasRange() {
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
	a, reused, err := s.leases.Offer(c.hw, requested, s.reserved, now)
	if errors.Is(err, errPoolExhausted) {
		s.counts.poolExhausted.Add(1)
		if n, due := s.counts.exhaustedLog.note(now); due {
			s.log.Warn("DHCP dynamic range exhausted: every address is leased", "range", s.leases.rangeString(),
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
				"range", s.leases.rangeString(), "reused", n, "since", logInterval, "last hwaddr", c.hw)
		}
	}
	return s.build(req, c, binding{addr: a, mask: s.mask}, dhcpv4.MessageTypeOffer)
}

func (s *Server) ack(req *dhcpv4.DHCPv4, c client, selecting bool) (*reply, error) {
	want, _ := netip.AddrFromSlice(req.RequestedIPAddress().To4())
	if !want.IsValid() {
		want, _ = netip.AddrFromSlice(req.ClientIPAddr.To4())
	}
	if !want.IsValid() || want.IsUnspecified() {
		return nil, nil
	}
	if b, ok := s.staticBinding(c.hw); ok {
		if b.addr == want {
			return s.build(req, c, b, dhcpv4.MessageTypeAck)
		}
		return s.nak(req, c, slog.LevelInfo, fmt.Sprintf("%s belongs to node %s, not %s", c.hw, b.node, want))
	}
	now := s.now()
	if err := s.leases.Bind(c.hw, want, s.reserved, now, now.Add(s.o.LeaseTime)); err != nil {
		// A client rebooting with an address from elsewhere asks without a
		// server identifier; only an address of this network is ours to
		// refuse.
		if selecting || s.network.Contains(want) {
			return s.nak(req, c, slog.LevelDebug, err.Error())
		}
		return nil, nil
	}
	return s.build(req, c, binding{addr: want, mask: s.mask}, dhcpv4.MessageTypeAck)
}

func (s *Server) inform(req *dhcpv4.DHCPv4, c client) (*reply, error) {
	ciaddr, ok := netip.AddrFromSlice(req.ClientIPAddr.To4())
	if !ok || ciaddr.IsUnspecified() {
		return nil, nil
	}
	b, _ := s.staticBinding(c.hw)
	b.addr, b.mask = netip.Addr{}, s.mask
	r, err := s.build(req, c, b, dhcpv4.MessageTypeAck)
	if r != nil {
		r.msg.Options.Del(dhcpv4.OptionIPAddressLeaseTime)
	}
	return r, err
}

// nak refuses a REQUEST, logging why at level, and, as anyone can send
// many, once per logInterval at Info with their count.
func (s *Server) nak(req *dhcpv4.DHCPv4, c client, level slog.Level, why string) (*reply, error) {
	s.log.Log(context.Background(), level, "refused a client's address", "hwaddr", c.hw, "reason", why)
	s.counts.requestsRefused.Add(1)
	if level >= slog.LevelInfo {
		return s.nakReply(req, why)
	}
	if n, due := s.counts.refusedLog.note(s.now()); due {
		s.log.Info("refused DHCP requests for addresses not offered to the client", "refused", n, "since", logInterval,
			"last hwaddr", c.hw, "last reason", why)
	}
	return s.nakReply(req, why)
}

func (s *Server) nakReply(req *dhcpv4.DHCPv4, why string) (*reply, error) {
	msg, err := dhcpv4.NewReplyFromRequest(req,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeNak),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.serverIP)),
		dhcpv4.WithOption(dhcpv4.OptMessage(why)),
	)
	if err != nil {
		return nil, fmt.Errorf("build NAK: %w", err)
	}
	return &reply{msg: msg, dest: s.destination(req, true)}, nil
}

// build makes an OFFER or ACK giving b to c, with its boot file.
func (s *Server) build(req *dhcpv4.DHCPv4, c client, b binding, mt dhcpv4.MessageType) (*reply, error) {
	file := s.bootFile(c)
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(mt),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.serverIP)),
		dhcpv4.WithOption(dhcpv4.OptSubnetMask(b.mask)),
		dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(s.leaseTime(b))),
		s.withBoot(req, file),
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
func (s *Server) proxy(req *dhcpv4.DHCPv4, c client, peer *net.UDPAddr, port int) (*reply, error) {
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
	file := s.bootFile(c)
	if file == "" {
		return nil, nil
	}
	vendor := "PXEClient"
	if c.http {
		vendor = "HTTPClient"
	}
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(out),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(s.serverIP)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)),
		dhcpv4.WithOptionCopied(req, dhcpv4.OptionClientMachineIdentifier),
		s.withBoot(req, file),
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
