// Package ndp answers IPv6 Router Solicitations on the provisioning
// interface with a Router Advertisement that announces nothing.
//
// Booting nodes need it: iPXE (and many NIC ROMs built from it) runs
// IPv6 autoconfiguration next to DHCPv4 and, on a network without an
// IPv6 router, prints "Configuring (net0 ...)" for about 16 s until its
// solicitations time out. An advertisement with the Managed and Other
// flags clear completes iPXE's IPv6 configuration at once, without
// DHCPv6.
//
// The advertisement has router lifetime 0 (this host is not a default
// router), no prefix information, and cur hop limit, reachable time and
// retrans timer 0 (unspecified). A Linux host receiving it learns
// nothing: no default route, no address, no DHCPv6, no change to its
// hop limit or neighbour timers; it only stops soliciting.
package ndp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Options configure a Responder.
type Options struct {
	// Interface is the only network interface served.
	Interface string
	Log       *slog.Logger
}

// Responder answers Router Solicitations on one interface.
type Responder struct {
	ifc *net.Interface
	pc  *ipv6.PacketConn
	log *slog.Logger
}

// New opens a raw ICMPv6 socket on the interface that receives only
// Router Solicitations (it joins all-routers, ff02::2). It fails when
// the host has no IPv6 or the process may not open raw sockets. An
// interface without a link-local address yet is not an error: the
// Responder logs it once and answers once the kernel has given it one
// (the kernel adds it when the link comes up, unless IPv6 is disabled
// there). Serve or Close releases the socket.
func New(o Options) (*Responder, error) {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ifc, err := net.InterfaceByName(o.Interface)
	if err != nil {
		return nil, fmt.Errorf("ndp: interface %q: %w", o.Interface, err)
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		if err := rc.Control(func(fd uintptr) { serr = unix.BindToDevice(int(fd), ifc.Name) }); err != nil {
			return err
		}
		return serr
	}}
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("ndp: raw ICMPv6 socket on %s: %w", ifc.Name, err)
	}
	pc := ipv6.NewPacketConn(c)
	if err := setup(pc, ifc); err != nil {
		pc.Close()
		return nil, fmt.Errorf("ndp: %s: %w", ifc.Name, err)
	}
	if len(linkLocals(ifc)) == 0 {
		log.Info("no IPv6 link-local address on the interface yet: router solicitations are answered once it has one",
			"interface", ifc.Name)
	}
	return &Responder{ifc: ifc, pc: pc, log: log}, nil
}

func setup(pc *ipv6.PacketConn, ifc *net.Interface) error {
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := pc.SetICMPFilter(&f); err != nil {
		return fmt.Errorf("ICMPv6 filter: %w", err)
	}
	if err := pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagInterface, true); err != nil {
		return fmt.Errorf("control messages: %w", err)
	}
	// Neighbour Discovery messages carry hop limit 255 so that receivers
	// know they were not forwarded (RFC 4861 §6.1.2).
	if err := pc.SetHopLimit(255); err != nil {
		return fmt.Errorf("hop limit: %w", err)
	}
	if err := pc.SetMulticastHopLimit(255); err != nil {
		return fmt.Errorf("multicast hop limit: %w", err)
	}
	// The host joins all-routers only when it forwards; without the
	// membership the kernel drops solicitations before any socket.
	if err := pc.JoinGroup(ifc, &net.IPAddr{IP: net.ParseIP("ff02::2")}); err != nil {
		return fmt.Errorf("join ff02::2: %w", err)
	}
	return nil
}

// Close releases the socket of a Responder that is not served.
func (r *Responder) Close() error { return r.pc.Close() }

// Serve answers solicitations until ctx ends, then closes the socket.
// It returns an error only when the socket fails.
func (r *Responder) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { r.pc.Close() })
	defer stop()
	buf := make([]byte, 1500)
	for {
		n, cm, peer, err := r.pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			r.pc.Close()
			return fmt.Errorf("ndp: read on %s: %w", r.ifc.Name, err)
		}
		r.serveOne(buf[:n], cm, peer)
	}
}

func (r *Responder) serveOne(b []byte, cm *ipv6.ControlMessage, peer net.Addr) {
	ipa, ok := peer.(*net.IPAddr)
	if !ok || cm == nil {
		return
	}
	src, ok := netip.AddrFromSlice(ipa.IP)
	if !ok {
		return
	}
	if cm.IfIndex != 0 && cm.IfIndex != r.ifc.Index {
		return
	}
	dst, err := solicitationReply(b, src, cm.HopLimit)
	if err != nil {
		r.log.Debug("ndp", "from", src, "err", err)
		return
	}
	if err := r.send(dst); err != nil {
		r.log.Debug("router advertisement not sent", "interface", r.ifc.Name, "to", dst, "err", err)
		return
	}
	r.log.Debug("router advertisement sent", "interface", r.ifc.Name, "to", dst)
}

// send sends the advertisement to dst from a link-local address of the
// interface, as receivers require (RFC 4861 §6.1.2). The interface is
// looked up again each time: a link-local address may have appeared
// since New or be tentative (during duplicate address detection the
// kernel refuses it as a source), and a bridge takes a new MAC address
// when ports join it.
//
// RFC 4861 §6.2.6 delays solicited advertisements by up to 0.5 s to
// spread the answers of several routers; this one answers at once
// because sparing the node the wait is its whole purpose.
func (r *Responder) send(dst netip.Addr) error {
	ifc, err := net.InterfaceByIndex(r.ifc.Index)
	if err != nil {
		return err
	}
	srcs := linkLocals(ifc)
	if len(srcs) == 0 {
		return errors.New("no IPv6 link-local address")
	}
	ra := advertisement(ifc.HardwareAddr)
	to := &net.IPAddr{IP: dst.AsSlice(), Zone: ifc.Name}
	for _, src := range srcs {
		cm := &ipv6.ControlMessage{HopLimit: 255, Src: src.AsSlice(), IfIndex: ifc.Index}
		if _, err = r.pc.WriteTo(ra, cm, to); err == nil {
			return nil
		}
	}
	return err
}

// linkLocals returns the interface's IPv6 link-local addresses.
func linkLocals(ifc *net.Interface) []netip.Addr {
	addrs, err := ifc.Addrs()
	if err != nil {
		return nil
	}
	var out []netip.Addr
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() != nil {
			continue
		}
		if ip, ok := netip.AddrFromSlice(ipn.IP); ok && ip.IsLinkLocalUnicast() {
			out = append(out, ip)
		}
	}
	return out
}
