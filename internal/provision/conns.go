package provision

import (
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// connLimits bound the daemon's HTTP connections (warewulf.max
// connections and the keys after it).
type connLimits struct {
	max       int           // open connections in all
	perClient int           // open connections of one client address
	idleShare int           // idle connections of a client kept for idle
	idle      time.Duration // idle timeout within the share
	shortIdle time.Duration // idle timeout beyond it
}

// Why the limiter closed a connection, as /metrics counts them.
const (
	closedClientLimit = "client limit" // over max connections per client
	closedGlobalLimit = "global limit" // not busy, closed for a newcomer at max connections
	closedIdle        = "idle"         // idle beyond its client's share for shortIdle
)

// connLimiter counts the open connections of every listener of one
// server by client address and enforces connLimits: a connection over its
// client's limit is closed as soon as it is accepted; at the global limit
// a connection that is not busy (idle or not yet sent a request) of the
// client with the most connections is closed for the newcomer, and when
// every connection is busy accepting waits for one to close. All
// listeners share one limiter because they share the file descriptors.
type connLimiter struct {
	lim connLimits
	log *slog.Logger
	// freed is signalled, without blocking, when a connection closes.
	freed chan struct{}

	mu      sync.Mutex
	open    int
	clients map[netip.Addr]*clientConns
	closed  map[string]uint64 // reason -> connections closed
	// atLimit is set when the global limit was reached and logged, until
	// the connections fall below 90 % of it.
	atLimit bool
}

// clientConns are the open connections of one client address.
type clientConns struct {
	conns map[*limitedConn]struct{}
	// idle counts the connections in phaseNew or phaseIdle, which may be
	// closed for a newcomer at the global limit.
	idle int
	// long counts the idle connections that hold a place in the share
	// kept for the normal idle timeout.
	long int
	// warned is set once the client's limit was logged.
	warned bool
}

type connPhase uint8

const (
	phaseNew    connPhase = iota // accepted, no request yet
	phaseActive                  // serving a request (or hijacked)
	phaseIdle                    // between keep-alive requests
	phaseClosed
)

func newConnLimiter(lim connLimits, log *slog.Logger) *connLimiter {
	return &connLimiter{lim: lim, log: log, freed: make(chan struct{}, 1),
		clients: map[netip.Addr]*clientConns{}, closed: map[string]uint64{}}
}

// limitedConn is a connection the limiter counts until it is closed.
type limitedConn struct {
	net.Conn
	l    *connLimiter
	addr netip.Addr
	once sync.Once

	// Guarded by l.mu.
	phase connPhase
	long  bool   // holds a place in its client's idle share
	gen   uint64 // changes with every phase, so a stale timer does nothing
	timer *time.Timer
}

// Close closes the connection and gives its place back.
func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// ReadFrom keeps sendfile(2) for the bodies of files: http.Server uses
// it when the connection has it.
func (c *limitedConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(c.Conn, r)
}

// CloseWrite lets http.Server close a connection it answered an error on
// gracefully, without a reset that would lose the answer.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// listener wraps ln so that its connections are counted and limited.
func (l *connLimiter) listener(ln net.Listener) net.Listener {
	return &limitedListener{Listener: ln, l: l, done: make(chan struct{})}
}

type limitedListener struct {
	net.Listener
	l         *connLimiter
	done      chan struct{}
	closeOnce sync.Once
}

func (ln *limitedListener) Close() error {
	ln.closeOnce.Do(func() { close(ln.done) })
	return ln.Listener.Close()
}

// Accept returns the next connection within the limits. Out of file
// descriptors (EMFILE, ENFILE), it closes a connection that is not busy
// and pauses, 5 ms doubling up to 1 s, instead of spinning.
func (ln *limitedListener) Accept() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			if !errors.Is(err, syscall.EMFILE) && !errors.Is(err, syscall.ENFILE) {
				return nil, err
			}
			if pause == 0 {
				ln.l.log.Warn("out of file descriptors: closing idle connections and pausing accept", "err", err)
				pause = 5 * time.Millisecond
			} else {
				pause = min(2*pause, time.Second)
			}
			ln.l.closeOne()
			select {
			case <-ln.done:
				return nil, net.ErrClosed
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		lc, err := ln.l.admit(c, ln.done)
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		if lc != nil {
			return lc, nil
		}
	}
}

// admit counts c and returns it, or closes it and returns nil when its
// client is at its limit. At the global limit it makes room, or waits for
// it until done is closed (net.ErrClosed).
func (l *connLimiter) admit(c net.Conn, done <-chan struct{}) (*limitedConn, error) {
	addr := remoteAddr(c)
	for {
		l.mu.Lock()
		cl := l.clients[addr]
		if cl != nil && len(cl.conns) >= l.lim.perClient {
			l.closed[closedClientLimit]++
			first := !cl.warned
			cl.warned = true
			l.mu.Unlock()
			if first {
				l.log.Warn("client at warewulf.max connections per client: closing its further connections",
					"client", addr.String(), "limit", l.lim.perClient)
			}
			_ = c.Close()
			return nil, nil
		}
		if l.open < l.lim.max {
			if cl == nil {
				cl = &clientConns{conns: map[*limitedConn]struct{}{}}
				l.clients[addr] = cl
			}
			lc := &limitedConn{Conn: c, l: l, addr: addr, phase: phaseNew}
			cl.conns[lc] = struct{}{}
			cl.idle++
			l.open++
			l.mu.Unlock()
			return lc, nil
		}
		victim := l.victimLocked()
		if victim != nil {
			l.closed[closedGlobalLimit]++
		}
		first := !l.atLimit
		l.atLimit = true
		l.mu.Unlock()
		if first {
			l.log.Warn("at warewulf.max connections: closing idle connections of the busiest clients, else pausing accept",
				"limit", l.lim.max)
		}
		if victim != nil {
			_ = victim.Close()
			continue
		}
		// Every connection is busy: accept nothing more until one
		// closes. The timer only re-checks in case the signal went to
		// another listener.
		select {
		case <-done:
			_ = c.Close()
			return nil, net.ErrClosed
		case <-l.freed:
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// closeOne closes a connection that is not busy, if there is one, to
// free a file descriptor.
func (l *connLimiter) closeOne() {
	l.mu.Lock()
	victim := l.victimLocked()
	if victim != nil {
		l.closed[closedGlobalLimit]++
	}
	l.mu.Unlock()
	if victim != nil {
		_ = victim.Close()
	}
}

// victimLocked picks the connection closed to make room: one that is not
// busy, of the client with the most open connections, idle rather than
// new. nil if every connection is busy.
func (l *connLimiter) victimLocked() *limitedConn {
	var most *clientConns
	for _, cl := range l.clients {
		if cl.idle > 0 && (most == nil || len(cl.conns) > len(most.conns)) {
			most = cl
		}
	}
	if most == nil {
		return nil
	}
	var fresh *limitedConn
	for c := range most.conns {
		switch c.phase {
		case phaseIdle:
			return c
		case phaseNew:
			fresh = c
		}
	}
	return fresh
}

// connState follows a connection through http.Server's states (its
// ConnState hook): an idle connection beyond its client's share gets a
// timer that closes it after shortIdle; the others keep the server's
// IdleTimeout.
func (l *connLimiter) connState(nc net.Conn, st http.ConnState) {
	c := asLimited(nc)
	if c == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	cl := l.clients[c.addr]
	if c.phase == phaseClosed || cl == nil {
		return
	}
	switch st {
	case http.StateNew:
		c.setPhaseLocked(cl, phaseNew)
	case http.StateIdle:
		c.setPhaseLocked(cl, phaseIdle)
		if cl.long < l.lim.idleShare {
			c.long = true
			cl.long++
			return
		}
		gen := c.gen
		c.timer = time.AfterFunc(l.lim.shortIdle, func() { l.expire(c, gen) })
	default:
		// Active, hijacked (the handler owns it) or closing: not to be
		// closed by the limiter.
		c.setPhaseLocked(cl, phaseActive)
	}
}

// setPhaseLocked moves c to phase p, leaving its idle place and timer.
func (c *limitedConn) setPhaseLocked(cl *clientConns, p connPhase) {
	evictable := func(p connPhase) bool { return p == phaseNew || p == phaseIdle }
	if evictable(c.phase) {
		cl.idle--
	}
	if evictable(p) {
		cl.idle++
	}
	c.phase = p
	c.gen++
	if c.long {
		c.long = false
		cl.long--
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// expire closes c if it is still in the idle phase its timer was set in.
func (l *connLimiter) expire(c *limitedConn, gen uint64) {
	l.mu.Lock()
	stale := c.gen != gen || c.phase != phaseIdle
	if !stale {
		l.closed[closedIdle]++
	}
	l.mu.Unlock()
	if !stale {
		_ = c.Close()
	}
}

// release forgets a closed connection and wakes an accept waiting for
// room.
func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	if cl := l.clients[c.addr]; cl != nil {
		c.setPhaseLocked(cl, phaseClosed)
		delete(cl.conns, c)
		if len(cl.conns) == 0 {
			delete(l.clients, c.addr)
		}
	}
	l.open--
	if l.open < l.lim.max*9/10 {
		l.atLimit = false
	}
	l.mu.Unlock()
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// stats returns the open connections and the closed ones by reason.
func (l *connLimiter) stats() (open int, closed map[string]uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	closed = make(map[string]uint64, len(l.closed))
	for k, v := range l.closed {
		closed[k] = v
	}
	return l.open, closed
}

// asLimited finds the limitedConn under nc, which may be a *tls.Conn.
func asLimited(nc net.Conn) *limitedConn {
	for range 4 {
		switch c := nc.(type) {
		case *limitedConn:
			return c
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// remoteAddr is c's client address; connections that have none (not
// TCP) share the zero address.
func remoteAddr(c net.Conn) netip.Addr {
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
