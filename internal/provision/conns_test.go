package provision

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// dialFrom opens a connection to addr from the loopback address from
// (127.0.0.0/8 is all loopback on Linux), to act as a distinct client.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// keepAlive sends a request on c that leaves it open, and reads the
// answer's status line and headers (the answer is a 404 with a short
// body).
func keepAlive(t *testing.T, c net.Conn) {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	if _, err := c.Read(buf); err != nil {
		t.Fatalf("keep-alive request: %v", err)
	}
	_ = c.SetReadDeadline(time.Time{})
}

// closedWithin reports whether the server closes c (EOF or reset) within
// d, reading and dropping whatever it sends before.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// waitIdle waits until n connections of s are idle.
func waitIdle(t *testing.T, s *Server, n int) {
	t.Helper()
	l := s.conns.Load()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		l.mu.Lock()
		idle := 0
		for _, cl := range l.clients {
			for c := range cl.conns {
				if c.phase == phaseIdle {
					idle++
				}
			}
		}
		l.mu.Unlock()
		if idle == n {
			return
		}
	}
	t.Fatalf("not %d idle connections after 5 s", n)
}

// bootClient fetches through its own connections from the loopback
// address from.
func bootClient(from string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// A thousand idle keep-alive connections from fifty clients hold neither
// more connections than the limits allow nor off a booting node, which is
// answered within 1 s.
func TestConnectionFlood(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	f.cfg.Warewulf.MaxConnections = 200
	f.cfg.Warewulf.MaxClientConnections = 16
	f.cfg.Warewulf.IdleClientConnections = 2
	s := f.server(t)
	addr := serve(t, s)

	const clients, conns = 50, 1000
	type attack struct {
		from string
		c    net.Conn
	}
	attacks := make([]attack, conns)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 32 {
		wg.Go(func() {
			for i := range work {
				from := fmt.Sprintf("127.0.1.%d", 1+i%clients)
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Errorf("dial from %s: %v", from, err)
					continue
				}
				// Whether the server reads it or has closed the
				// connection, the request costs the attacker nothing more.
				_, _ = fmt.Fprintf(c, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
				attacks[i] = attack{from, c}
			}
		})
	}
	for i := range conns {
		work <- i
	}
	close(work)
	wg.Wait()
	defer func() {
		for _, a := range attacks {
			if a.c != nil {
				a.c.Close()
			}
		}
	}()

	start := time.Now()
	resp, err := bootClient("127.0.2.1").Get("http://" + addr + "/ipxe/aa:bb:cc:dd:ee:01")
	if err != nil {
		t.Fatalf("boot request among the flood: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil || resp.StatusCode != http.StatusOK || contains(string(body), "#!ipxe") != "" {
		t.Fatalf("boot request among the flood: code %d err %v body %q", resp.StatusCode, err, body)
	}
	if took > time.Second {
		t.Errorf("boot request among the flood took %v, want under 1 s", took)
	}

	// The server accepted every earlier connection before the boot one:
	// those still open are within the limits.
	open := map[string]int{}
	total := 0
	var mu sync.Mutex
	for _, a := range attacks {
		if a.c == nil {
			continue
		}
		wg.Go(func() {
			if !closedWithin(a.c, 300*time.Millisecond) {
				mu.Lock()
				open[a.from]++
				total++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if total > 200 {
		t.Errorf("%d of the %d connections open, want at most max connections (200)", total, conns)
	}
	for from, n := range open {
		if n > 16 {
			t.Errorf("%d connections of %s open, want at most max connections per client (16)", n, from)
		}
	}
}

func TestConnectionLimits(t *testing.T) {
	t.Run("per client", func(t *testing.T) {
		f := newFixture(t, fixtureNodes, false)
		f.cfg.Warewulf.MaxClientConnections = 3
		addr := serve(t, f.server(t))
		// Dialled one after the other, they are accepted in order.
		var cs []net.Conn
		for range 5 {
			cs = append(cs, dialFrom(t, "127.0.3.2", addr))
		}
		var got []bool
		for _, c := range cs {
			got = append(got, closedWithin(c, 500*time.Millisecond))
		}
		if diff := cmp.Diff([]bool{false, false, false, true, true}, got); diff != "" {
			t.Errorf("closed by the server (-want +got):\n%s", diff)
		}
		// Another client is not affected.
		if closedWithin(dialFrom(t, "127.0.3.3", addr), 200*time.Millisecond) {
			t.Error("another client's connection was closed")
		}
	})

	t.Run("idle beyond the share", func(t *testing.T) {
		f := newFixture(t, fixtureNodes, false)
		f.cfg.Warewulf.IdleClientConnections = 1
		s := f.server(t)
		s.shortIdleTimeout = 200 * time.Millisecond
		addr := serve(t, s)
		var cs []net.Conn
		for i := range 3 {
			c := dialFrom(t, "127.0.4.1", addr)
			keepAlive(t, c)
			// The server marks a connection idle just after the answer:
			// wait, so that the first one takes the share.
			waitIdle(t, s, i+1)
			cs = append(cs, c)
		}
		other := dialFrom(t, "127.0.4.2", addr)
		keepAlive(t, other)
		start := time.Now()
		for i, c := range cs[1:] {
			if !closedWithin(c, 5*time.Second) {
				t.Errorf("idle connection %d beyond the share still open after 5 s", i+2)
			}
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("idle connections beyond the share closed after %v, want about 200 ms", took)
		}
		// The share keeps the normal idle timeout (120 s), for every
		// client.
		if closedWithin(cs[0], 500*time.Millisecond) {
			t.Error("the client's first idle connection was closed")
		}
		if closedWithin(other, 10*time.Millisecond) {
			t.Error("another client's idle connection was closed")
		}
	})

	t.Run("global limit closes the busiest client's idle connection", func(t *testing.T) {
		f := newFixture(t, fixtureNodes, false)
		f.cfg.Warewulf.MaxConnections = 4
		s := f.server(t)
		addr := serve(t, s)
		var busiest []net.Conn
		for range 3 {
			c := dialFrom(t, "127.0.5.1", addr)
			keepAlive(t, c)
			busiest = append(busiest, c)
		}
		quiet := dialFrom(t, "127.0.5.2", addr)
		keepAlive(t, quiet)
		waitIdle(t, s, 4)
		resp, err := bootClient("127.0.5.3").Get("http://" + addr + "/kernel/aa:bb:cc:dd:ee:01")
		if err != nil {
			t.Fatalf("newcomer at the global limit: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(body) != kernelBytes {
			t.Errorf("newcomer at the global limit: code %d body %q", resp.StatusCode, body)
		}
		closed := 0
		for _, c := range busiest {
			if closedWithin(c, 200*time.Millisecond) {
				closed++
			}
		}
		if closed != 1 {
			t.Errorf("%d of the busiest client's connections closed, want 1", closed)
		}
		if closedWithin(quiet, 10*time.Millisecond) {
			t.Error("the quiet client's connection was closed")
		}
	})
}

// fdListener fails like a process out of file descriptors a few times,
// then accepts from a real listener.
type fdListener struct {
	net.Listener
	fails, calls int
}

func (l *fdListener) Accept() (net.Conn, error) {
	l.calls++
	if l.calls <= l.fails {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// Out of file descriptors, accept pauses (5, 10, 20, 40 ms) rather than
// spinning, then goes on.
func TestAcceptPausesOnEMFILE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inner := &fdListener{Listener: ln, fails: 4}
	f := newFixture(t, fixtureNodes, false)
	s := f.server(t)
	lim := newConnLimiter(s.connLimits(), s.log)
	lln := lim.listener(inner)
	defer lln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go func() {
		var d net.Dialer
		if c, err := d.DialContext(ctx, "tcp", ln.Addr().String()); err == nil {
			<-ctx.Done()
			c.Close()
		}
	}()
	start := time.Now()
	c, err := lln.Accept()
	if err != nil {
		t.Fatalf("Accept: %v", err)
	}
	defer c.Close()
	if took := time.Since(start); took < 75*time.Millisecond {
		t.Errorf("Accept returned after %v, want a pause of 75 ms over four EMFILE", took)
	}
	if inner.calls != 5 {
		t.Errorf("%d accept calls, want 5 (four failures, one success)", inner.calls)
	}
}
