// Package tftp is the provisioning daemon's embedded TFTP server: read
// only, serving the iPXE binaries of the tftp.ipxe map and any file under
// the TFTP root, with the blksize, tsize, timeout (RFC 2347-2349) and
// windowsize (RFC 7440) options.
//
// It is written here rather than taken from a library because the Go
// TFTP libraries lack RFC 7440 windowsize, which is what makes large
// transfers fast; a read-only server is a small part of the protocol.
package tftp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Port is TFTP's well-known port.
const Port = 69

// Defaults of the limits in Options.
const (
	DefaultMaxTransfers    = 512
	DefaultClientTransfers = 8
	DefaultStartTimeout    = 4 * time.Second
)

// Options configure a Server.
type Options struct {
	// Addr is the UDP address to listen on, such as "10.0.0.1:69"; the
	// address each transfer is sent from follows its IP. "" is ":69".
	Addr string
	// Root is the TFTP root; files under it are served as they are.
	Root string
	// Files maps TFTP paths without leading "/" ("warewulf/undionly.kpxe")
	// to files outside the root: the iPXE binaries (ResolveIpxe).
	Files map[string]string
	// Inline maps TFTP paths without leading "/" to contents made by the
	// daemon (the grub.cfg GRUB reads first), served when neither the
	// root nor Files has the path.
	Inline map[string][]byte
	// Dynamic answers the names neither the root, Files nor Inline hold
	// (nil: none), with the whole content or an error wrapping
	// fs.ErrNotExist when it has nothing for name. GRUB without HTTP
	// (Debian's signed network GRUB) fetches its node's configuration,
	// kernel and initrds this way.
	Dynamic func(ctx context.Context, name string, client *net.UDPAddr) ([]byte, error)
	Log     *slog.Logger
	// Timeout is how long a block waits for its acknowledgement before it
	// is sent again, unless the client asks for another (at most 10 s);
	// 0 is one second.
	Timeout time.Duration
	// Retries is how many times a block is sent again before the transfer
	// is given up; 0 is 5.
	Retries int
	// MaxTransfers bounds the transfers in progress; 0 is 512. When
	// they are all taken, a new request takes the slot of the oldest
	// transfer whose client never acknowledged anything: a flood of
	// requests that are never acknowledged (from forged addresses, say)
	// cannot keep a booting node out.
	MaxTransfers int
	// ClientTransfers bounds the transfers in progress to one client
	// address; 0 is 8. More requests from it get an error packet.
	ClientTransfers int
	// StartTimeout is how long, in all, a transfer waits for the first
	// acknowledgement (of the options, or of the first block) before it
	// gives up and frees its slot; 0 is 4 s.
	StartTimeout time.Duration
}

// Server serves read requests on one UDP address.
type Server struct {
	o     Options
	log   *slog.Logger
	conn  *net.UDPConn
	local net.IP
	slots *slots
}

// New binds the listening address, so that a port in use is reported
// before anything is served. Serve or Close releases it.
func New(o Options) (*Server, error) {
	if o.Addr == "" {
		o.Addr = fmt.Sprintf(":%d", Port)
	}
	if o.Timeout <= 0 {
		o.Timeout = time.Second
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.MaxTransfers <= 0 {
		o.MaxTransfers = DefaultMaxTransfers
	}
	if o.ClientTransfers <= 0 {
		o.ClientTransfers = DefaultClientTransfers
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	addr, err := net.ResolveUDPAddr("udp4", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("tftp: listen address %q: %w", o.Addr, err)
	}
	conn, err := net.ListenUDP("udp4", addr)
	if err != nil {
		if errors.Is(err, unix.EADDRINUSE) {
			return nil, fmt.Errorf("tftp: udp %s is already in use (another TFTP server? set tftp.mode to external): %w", o.Addr, err)
		}
		return nil, fmt.Errorf("tftp: %w", err)
	}
	s := &Server{o: o, log: o.Log, conn: conn, local: addr.IP, slots: newSlots(o.MaxTransfers, o.ClientTransfers)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() string { return s.conn.LocalAddr().String() }

// Close releases the port of a server that is not served.
func (s *Server) Close() { _ = s.conn.Close() }

// Serve answers requests until ctx ends, then stops the transfers in
// progress and returns.
func (s *Server) Serve(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	buf := make([]byte, 65536)
	for {
		n, peer, err := s.conn.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			s.log.Warn("tftp read", "err", err)
			continue
		}
		req, err := parseRequest(buf[:n])
		if err != nil {
			s.log.Debug("tftp: bad request ignored", "from", peer, "err", err)
			continue
		}
		if req.op == opWRQ {
			s.sendError(s.conn, peer, errAccess, "read-only server")
			continue
		}
		tctx, tcancel := context.WithCancel(ctx)
		sl, err := s.slots.take(peer, time.Now(), tcancel)
		if err != nil {
			tcancel()
			s.log.Debug("tftp: request refused", "from", peer, "file", req.filename, "err", err)
			s.sendError(s.conn, peer, errUndefined, err.Error())
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer tcancel()
			defer s.slots.release(sl)
			s.transfer(tctx, peer, req, sl)
		}()
	}
}

func (s *Server) sendError(conn *net.UDPConn, peer *net.UDPAddr, code uint16, msg string) {
	if _, err := conn.WriteToUDP(errorPacket(code, msg), peer); err != nil {
		s.log.Debug("tftp send error", "to", peer, "err", err)
	}
}
