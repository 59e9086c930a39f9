package ndp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
)

// protocolICMPv6 is ICMPv6's IP protocol number, for icmp.ParseMessage.
const protocolICMPv6 = 58

// NDP option types (RFC 4861 §4.6).
const (
	optSourceLinkLayer = 1
)

// errIgnored marks a message that is not answered; the text says why.
var errIgnored = errors.New("router solicitation ignored")

func ignored(why string) error { return fmt.Errorf("%w: %s", errIgnored, why) }

// solicitationReply checks an ICMPv6 message b received from src with
// IPv6 hop limit hopLimit as a Router Solicitation (RFC 4861 §6.1.1)
// and returns where the advertisement goes: the solicitor's link-local
// address, or all-nodes when it has no address yet. Anything else is an
// error wrapping errIgnored.
func solicitationReply(b []byte, src netip.Addr, hopLimit int) (netip.Addr, error) {
	// A hop limit below 255 means the message crossed a router: it did
	// not come from this link.
	if hopLimit != 255 {
		return netip.Addr{}, ignored(fmt.Sprintf("hop limit %d, want 255", hopLimit))
	}
	// Type, code, checksum and 4 reserved bytes; the kernel has checked
	// the checksum.
	if len(b) < 8 {
		return netip.Addr{}, ignored(fmt.Sprintf("%d bytes, want at least 8", len(b)))
	}
	m, err := icmp.ParseMessage(protocolICMPv6, b)
	if err != nil {
		return netip.Addr{}, ignored(err.Error())
	}
	if m.Type != ipv6.ICMPTypeRouterSolicitation || m.Code != 0 {
		return netip.Addr{}, ignored(fmt.Sprintf("type %v code %d", m.Type, m.Code))
	}
	hasSLLA := false
	for opts := b[8:]; len(opts) > 0; {
		if len(opts) < 2 || opts[1] == 0 || int(opts[1])*8 > len(opts) {
			return netip.Addr{}, ignored("malformed option")
		}
		if opts[0] == optSourceLinkLayer {
			hasSLLA = true
		}
		opts = opts[int(opts[1])*8:]
	}
	src = src.WithZone("")
	switch {
	case src.IsUnspecified():
		if hasSLLA {
			return netip.Addr{}, ignored("source link-layer address from the unspecified address")
		}
		return netip.IPv6LinkLocalAllNodes(), nil
	case src.Is6() && src.IsLinkLocalUnicast():
		return src, nil
	default:
		return netip.Addr{}, ignored(fmt.Sprintf("source %s is not link-local", src))
	}
}

// advertisement is the Router Advertisement that announces nothing:
// cur hop limit, flags, router lifetime, reachable time and retrans
// timer all 0 ("unspecified", "not a default router", no DHCPv6), no
// prefix, and only the source link-layer address option when the
// interface has a hardware address. The kernel fills in the checksum.
func advertisement(mac net.HardwareAddr) []byte {
	// After type, code and checksum: cur hop limit (1), M/O flags (1),
	// router lifetime (2), reachable time (4), retrans timer (4).
	body := make([]byte, 12)
	if len(mac) > 0 {
		// Option length is in units of 8 bytes, type and length included.
		units := (2 + len(mac) + 7) / 8
		opt := make([]byte, units*8)
		opt[0], opt[1] = optSourceLinkLayer, byte(units)
		copy(opt[2:], mac)
		body = append(body, opt...)
	}
	m := icmp.Message{Type: ipv6.ICMPTypeRouterAdvertisement, Body: &icmp.RawBody{Data: body}}
	b, err := m.Marshal(nil)
	if err != nil {
		// Marshal fails only for a message type of the wrong protocol.
		panic(err)
	}
	return b
}
