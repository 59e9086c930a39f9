// Package dhcp is the provisioning daemon's embedded DHCPv4 server. In
// embedded mode it gives known nodes their address from nodes.conf and
// other clients one from the dynamic range, with the boot file each
// firmware needs; in proxy mode it gives boot information only, next to a
// site's own DHCP server (ProxyDHCP, PXE specification 2.1).
//
// Leases are keyed by hardware address alone, never by client
// identifier, so PXE firmware and the iPXE it chains get the same address
// (Warewulf #802).
package dhcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/inventory"
)

// Ports of DHCP and of the PXE boot server (ProxyDHCP requests).
const (
	ServerPort = 67
	clientPort = 68
	ProxyPort  = 4011
)

// nodeLeaseTime is the lease of a node's own address; it never changes,
// so renewals only refresh the node's status.
const nodeLeaseTime = 24 * time.Hour

// DefaultLeaseTime is the lease of a dynamic-range address.
const DefaultLeaseTime = time.Hour

// Nodes is what the server needs from the inventory. The provisioning
// daemon implements it.
type Nodes interface {
	// NodeByMAC returns the node a hardware address (in naming's
	// canonical form) belongs to.
	NodeByMAC(hwaddr string) (*inventory.NodeView, bool)
	// Nodes returns every node by name; the caller does not modify them.
	Nodes() map[string]*inventory.NodeView
	// RecordStage records in a node's status what was sent to it.
	RecordStage(node, stage, sent, addr string, bytes int64)
}

// Options configure a Server.
type Options struct {
	// Mode is config.ModeEmbedded or config.ModeProxy.
	Mode string
	// Interfaces are the network interfaces served (VLAN interfaces such
	// as eth0.1000 included); the first is the main one, whose network
	// RangeStart and RangeEnd are of. Requests relayed by a DHCP relay
	// agent arrive on one of them.
	Interfaces []string
	// ServerIP is this server's address on the first interface. Unset
	// means the interface's first IPv4 address. On each interface the
	// server's address there is the server identifier, next server and
	// host of the boot URLs of the clients whose requests arrive on it.
	ServerIP netip.Addr
	// HTTPPort is the provisioning daemon's port, in the iPXE URL.
	HTTPPort int
	// IPXEURL builds the URL iPXE loads its script from, given the
	// daemon's host:port (ServerIP and HTTPPort); nil is
	// contract.IPXEScriptURL.
	IPXEURL func(authority string) string
	// RangeStart and RangeEnd bound the dynamic range of the first
	// interface's network for clients that are not nodes; unset means
	// such clients get nothing there.
	RangeStart, RangeEnd netip.Addr
	// Networks are the other networks served: those of the other
	// interfaces, with their ranges and routers, and those behind DHCP
	// relays. They must not overlap. An interface whose address is in
	// none of them serves its own network, without dynamic range.
	Networks []Network
	// LeaseTime is the lease of a dynamic address; 0 is DefaultLeaseTime.
	LeaseTime time.Duration
	// LeaseFile keeps the dynamic leases across restarts; "" keeps them
	// in memory.
	LeaseFile string
	// OfferHold is how long an offered address stays reserved for the
	// client while it is not requested; 0 is DefaultOfferHold. When the
	// range has no other address left, the oldest unrequested offer is
	// given to the next client before its hold ends.
	OfferHold time.Duration
	// OfferRate bounds the offers to clients that are not nodes, per
	// second in all (as many at once); 0 is DefaultOfferRate. Nodes of the
	// inventory are never limited.
	OfferRate int
	// ClientOfferRate bounds the offers to one client that is not a node,
	// per minute (as many at once); 0 is DefaultClientOfferRate.
	ClientOfferRate int
	// BootFiles maps an option 93 architecture code ("00:07") to the
	// TFTP path of its iPXE binary ("/warewulf/snponly.efi").
	BootFiles map[string]string
	// GrubBoot is warewulf.grubboot: UEFI clients boot shim and GRUB
	// from GrubFiles, unless their node's Boot tag says ipxe (and nodes
	// tagged Boot: grub do without it).
	GrubBoot bool
	// GrubFiles maps an option 93 architecture code to the TFTP path of
	// its shim ("/warewulf/shim.efi"); an architecture without one boots
	// iPXE.
	GrubFiles map[string]string
	// HTTPHost is the one address the provisioning daemon's HTTP
	// listens on ("wwctl server --listen ADDR:PORT"); the zero value is
	// every address. On a network where it is not the server's address,
	// iPXE gets the boot loader by TFTP as PXE firmware does, not the
	// URL of a script it could not fetch: a custom iPXE (with a script
	// that moves to a VLAN where HTTP is served) or GRUB goes on from
	// there.
	HTTPHost netip.Addr
	Nodes    Nodes
	Log      *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// Port and ProxyPort override ServerPort and ProxyPort (tests).
	Port, ProxyPort int
}

// Network is a network the server gives addresses on.
type Network struct {
	// Prefix is the network, such as 10.0.2.0/24; its length is the
	// netmask clients get.
	Prefix netip.Prefix
	// RangeStart and RangeEnd bound its dynamic range; unset is none.
	RangeStart, RangeEnd netip.Addr
	// Gateway is the router its clients get, unless a node's network
	// device has its own; unset is none.
	Gateway netip.Addr
	// Interface is the interface the network is on; "" is a network
	// behind a DHCP relay, or one found by the interfaces' addresses.
	Interface string
}

// network is one network served.
type network struct {
	prefix  netip.Prefix
	mask    net.IPMask
	gateway netip.Addr
	rng     addrRange // the zero range: none
}

// iface is one interface served and this server's address on it, the
// address its clients (direct or relayed) are answered from.
type iface struct {
	name string
	addr netip.Addr
	ip   net.IP
	net  *network // the network of addr
}

// Server answers DHCP requests on its interfaces and from relays.
type Server struct {
	o         Options
	log       *slog.Logger
	now       func() time.Time
	ifaces    []*iface
	networks  []*network
	port      int
	proxyPort int
	bootFiles map[string]string
	leases    *leases
	limiter   *offerLimiter
	counts    *counters
	conns     []*listener

	staticMu  sync.Mutex
	staticAt  time.Time
	staticSet map[netip.Addr]bool

	// proxyGrubWarned: the warning that GRUB through ProxyDHCP needs the
	// site's next-server was logged; httpGrubWarned: the one that GRUB by
	// UEFI HTTP boot needs a GRUB with HTTP.
	proxyGrubWarned, httpGrubWarned atomic.Bool
}

// listener is one bound socket, the port it serves and its interface.
type listener struct {
	conn *net.UDPConn
	port int
	in   *iface
}

// New checks the options, finds the interfaces and their addresses,
// loads the leases and binds the server's ports, so that a missing
// interface or a port in use is reported before anything is served.
// Serve or Close releases the ports.
func New(o Options) (*Server, error) {
	s, err := newServer(o)
	if err != nil {
		return nil, err
	}
	ports := []int{s.port}
	if o.Mode == config.ModeProxy {
		ports = append(ports, s.proxyPort)
	}
	for _, in := range s.ifaces {
		for _, port := range ports {
			conn, err := listenUDP(in.name, port)
			if err != nil {
				s.Close()
				return nil, err
			}
			s.conns = append(s.conns, &listener{conn: conn, port: port, in: in})
		}
	}
	return s, nil
}

// newServer is New without the sockets.
func newServer(o Options) (*Server, error) {
	if o.Mode != config.ModeEmbedded && o.Mode != config.ModeProxy {
		return nil, fmt.Errorf("dhcp: mode %q is not served here (want %s or %s)", o.Mode, config.ModeEmbedded, config.ModeProxy)
	}
	if o.Nodes == nil {
		return nil, errors.New("dhcp: Nodes is required")
	}
	if len(o.Interfaces) == 0 {
		return nil, errors.New("dhcp: no interface to serve")
	}
	if o.IPXEURL == nil {
		o.IPXEURL = contract.IPXEScriptURL
	}
	if o.LeaseTime <= 0 {
		o.LeaseTime = DefaultLeaseTime
	}
	if o.OfferHold <= 0 {
		o.OfferHold = DefaultOfferHold
	}
	if o.OfferRate <= 0 {
		o.OfferRate = DefaultOfferRate
	}
	if o.ClientOfferRate <= 0 {
		o.ClientOfferRate = DefaultClientOfferRate
	}
	s := &Server{o: o, log: o.Log, now: o.Now,
		port: o.Port, proxyPort: o.ProxyPort, bootFiles: map[string]string{}, counts: newCounters()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.port == 0 {
		s.port = ServerPort
	}
	if s.proxyPort == 0 {
		s.proxyPort = ProxyPort
	}
	for code, file := range o.BootFiles {
		s.bootFiles[strings.ToUpper(code)] = file
	}
	if err := s.setNetworks(); err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	s.o.ServerIP = s.ifaces[0].addr
	var ranges []addrRange
	for _, n := range s.networks {
		if n.rng.valid() {
			ranges = append(ranges, n.rng)
		}
	}
	var err error
	if s.leases, err = newLeases(o.LeaseFile, ranges...); err != nil {
		return nil, fmt.Errorf("dhcp: %w", err)
	}
	s.leases.hold = o.OfferHold
	s.limiter = newOfferLimiter(o.OfferRate, o.ClientOfferRate, s.now())
	return s, nil
}

// Addrs describes the bound sockets, for the start-up log.
func (s *Server) Addrs() []string {
	out := make([]string, 0, len(s.conns))
	for _, l := range s.conns {
		out = append(out, fmt.Sprintf("udp %s:%d on %s (network %s)", l.in.addr, l.port, l.in.name, l.in.net.prefix))
	}
	return out
}

// Close releases the ports of a server that is not served.
func (s *Server) Close() {
	for _, l := range s.conns {
		_ = l.conn.Close()
	}
}

// queueLen bounds the requests waiting for a worker; beyond it requests
// are dropped, so a flood costs memory only up to here and clients
// retransmit.
const queueLen = 512

// workers is the number of goroutines answering requests.
const workers = 4

type packet struct {
	data []byte
	peer *net.UDPAddr
	l    *listener
}

// Serve answers requests until ctx ends, then closes the ports and saves
// the leases.
func (s *Server) Serve(ctx context.Context) error {
	queue := make(chan packet, queueLen)
	var readers, handlers sync.WaitGroup
	for _, l := range s.conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			s.read(l, queue)
		}()
	}
	for range workers {
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			for p := range queue {
				s.serveOne(ctx, p)
			}
		}()
	}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if err := s.leases.FlushRenewals(); err != nil {
				s.log.Warn("save DHCP leases", "err", err)
			}
		}
	}
	s.Close()
	readers.Wait()
	close(queue)
	handlers.Wait()
	if err := s.leases.Flush(); err != nil {
		return fmt.Errorf("dhcp: %w", err)
	}
	return nil
}

func (s *Server) read(l *listener, queue chan<- packet) {
	buf := make([]byte, 65536)
	for {
		n, addr, err := l.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("dhcp read", "err", err)
			continue
		}
		select {
		case queue <- packet{data: append([]byte(nil), buf[:n]...), peer: addr, l: l}:
		default:
			s.log.Debug("dhcp request dropped: too many waiting", "from", addr)
		}
	}
}

func (s *Server) serveOne(ctx context.Context, p packet) {
	req, err := dhcpv4.FromBytes(p.data)
	if err != nil {
		s.log.Debug("malformed DHCP packet ignored", "from", p.peer, "err", err)
		return
	}
	r, err := s.handle(p.l.in, req, p.peer, p.l.port)
	if err != nil {
		s.log.Warn("dhcp", "hwaddr", req.ClientHWAddr.String(), "type", req.MessageType().String(), "err", err)
		return
	}
	if r == nil || ctx.Err() != nil {
		return
	}
	data := r.msg.ToBytes()
	if _, err := p.l.conn.WriteToUDP(data, r.dest); err != nil {
		s.log.Warn("dhcp send", "to", r.dest, "err", err)
		return
	}
	s.log.Debug("dhcp reply", "hwaddr", req.ClientHWAddr.String(), "request", req.MessageType().String(),
		"reply", r.msg.MessageType().String(), "addr", r.msg.YourIPAddr.String(), "file", r.msg.BootFileName)
	if r.node != "" {
		addr := r.msg.YourIPAddr.String()
		if r.msg.YourIPAddr.IsUnspecified() {
			addr = req.ClientIPAddr.String()
		}
		s.o.Nodes.RecordStage(r.node, stageDHCP, r.sent, addr, int64(len(data)))
	}
}

// reserved reports addresses the dynamic range must not give: the
// server's, the routers' and every node's. The node set is rebuilt at
// most every two seconds, so a flood of requests does not walk the
// inventory each time.
func (s *Server) reserved(a netip.Addr) bool {
	for _, in := range s.ifaces {
		if a == in.addr {
			return true
		}
	}
	for _, n := range s.networks {
		if a == n.gateway {
			return true
		}
	}
	s.staticMu.Lock()
	defer s.staticMu.Unlock()
	if now := s.now(); s.staticSet == nil || now.Sub(s.staticAt) > 2*time.Second || now.Before(s.staticAt) {
		set := map[netip.Addr]bool{}
		for _, v := range s.o.Nodes.Nodes() {
			for _, d := range v.NetDevs {
				if d.Addr.IsValid() {
					set[d.Addr] = true
				}
			}
			if v.IpmiAddr.IsValid() {
				set[v.IpmiAddr] = true
			}
		}
		s.staticSet, s.staticAt = set, now
	}
	return s.staticSet[a]
}

// Leases returns the bound dynamic leases, sorted by address.
func (s *Server) Leases() []Lease { return s.leases.Snapshot() }

// ServerIP is the server's address on its first interface.
func (s *Server) ServerIP() netip.Addr { return s.o.ServerIP }
