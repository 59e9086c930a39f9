package api

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/provision"
)

// countChecks makes the fixture's password checks bcrypt's, counted.
func countChecks(n *atomic.Int64) func(*Options) {
	return func(o *Options) {
		o.ComparePassword = func(hash, password []byte) error {
			n.Add(1)
			return bcrypt.CompareHashAndPassword(hash, password)
		}
	}
}

// fakeClock makes the fixture's clock *now.
func fakeClock(now *time.Time) func(*Options) {
	return func(o *Options) { o.Now = func() time.Time { return *now } }
}

// clientFrom is an HTTP client whose connections come from the loopback
// address from.
func clientFrom(from string, conns int) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	return &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
}

// A flood of wrong passwords from one client runs bcrypt a few times, not
// once a request, and booting nodes are served meanwhile as fast as ever.
func TestFailedLoginFlood(t *testing.T) {
	var checks atomic.Int64
	f := newFixture(t, "api:\n  enabled: true\n  allowed subnets: [127.0.0.0/8]\n", countChecks(&checks))
	// The default cost, as wwctl configure api-user writes it: tens of
	// milliseconds of CPU a check.
	h, err := HashPassword([]byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	if err := UpdateUsers(context.Background(), f.site.AuthConf(), func(u *Users) error { u.Set(testUser, h); return nil }); err != nil {
		t.Fatal(err)
	}
	// The daemon: boot routes with the API under /api/ beside them.
	boot, err := provision.New(provision.Options{Config: f.cfg, Nodes: f.site.Nodes(), Overlays: f.site.Overlays(),
		Images: f.site.Images(), Builder: f.opts.Builder})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle(contract.PathAPI, f.h)
	mux.Handle("/", boot.Handler())
	go func() { done <- boot.ServeHandler(ctx, mux, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeHandler: %v", err)
		}
	})
	base := "http://" + ln.Addr().String()

	call := func(c *http.Client, path, user, password string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, password)
		resp, err := c.Do(req)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			return 0, ""
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}

	const requests, concurrent, boots = 200, 16, 50
	attacker := clientFrom("127.0.0.2", concurrent)
	var (
		mu     sync.Mutex
		codes  = map[int]int{}
		badRA  []string
		wg     sync.WaitGroup
		work   = make(chan int)
		timing []time.Duration
	)
	for range concurrent {
		wg.Go(func() {
			for range work {
				code, retry := call(attacker, "/api/nodes/", testUser, "wrong password")
				mu.Lock()
				codes[code]++
				if code == http.StatusTooManyRequests {
					if n, err := strconv.Atoi(retry); err != nil || n < 1 || n > 60 {
						badRA = append(badRA, retry)
					}
				}
				mu.Unlock()
			}
		})
	}
	node := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	wg.Go(func() {
		for range boots {
			start := time.Now()
			resp, err := node.Get(base + "/ipxe/aa:bb:cc:dd:ee:01")
			if err != nil {
				t.Errorf("boot request: %v", err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("boot request: %s", resp.Status)
			}
			took := time.Since(start)
			mu.Lock()
			timing = append(timing, took)
			mu.Unlock()
		}
	})
	for i := range requests {
		work <- i
	}
	close(work)
	wg.Wait()

	if n := checks.Load(); n > 10 {
		t.Errorf("%d password checks for %d wrong-password requests of one client, want at most 10", n, requests)
	}
	if codes[http.StatusUnauthorized] != int(checks.Load()) || codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != requests {
		t.Errorf("answers %v after %d checks, want a 401 for each check and 429 for the rest", codes, checks.Load())
	}
	if len(badRA) > 0 {
		t.Errorf("429 with Retry-After %q, want whole seconds from 1 to 60", badRA)
	}
	if len(timing) == boots && !raceEnabled {
		slices.Sort(timing)
		if p50 := timing[boots/2]; p50 > 10*time.Millisecond {
			t.Errorf("boot requests during the flood: p50 %v, want under 10 ms", p50)
		}
	}

	// The right password: refused from the flooding address, which would
	// need a check; from another, checked once and then remembered.
	if code, _ := call(attacker, "/api/status", testUser, testPassword); code != http.StatusTooManyRequests {
		t.Errorf("right password from the flooding client: code %d, want 429", code)
	}
	admin := clientFrom("127.0.0.3", 1)
	before := checks.Load()
	for i := range 3 {
		if code, _ := call(admin, "/api/status", testUser, testPassword); code != http.StatusOK {
			t.Errorf("right password from another client, request %d: code %d", i+1, code)
		}
	}
	if n := checks.Load() - before; n != 1 {
		t.Errorf("%d password checks for three requests with the right password, want 1", n)
	}
}

// Failed logins are limited per client (an IPv6 /64 is one), with
// Retry-After, and the limit recovers with time.
func TestFailedLoginLimit(t *testing.T) {
	var checks atomic.Int64
	now := time.Unix(1_700_000_000, 0)
	f := newFixture(t, "api:\n  enabled: true\n  allowed subnets: [10.1.0.0/16, \"fd00::/16\"]\n  max failed logins: 3\n  failed login window: 30\n",
		countChecks(&checks), fakeClock(&now))
	wrong := creds(testUser, "wrong")
	steps := []struct {
		name      string
		advance   time.Duration
		opts      []reqOpt
		wantCode  int
		wantRetry string
		wantCheck bool
	}{
		{name: "failure 1", opts: []reqOpt{from("10.1.2.3:4000"), wrong}, wantCode: 401, wantCheck: true},
		{name: "failure 2", opts: []reqOpt{from("10.1.2.3:4001"), wrong}, wantCode: 401, wantCheck: true},
		{name: "failure 3", opts: []reqOpt{from("10.1.2.3:4002"), wrong}, wantCode: 401, wantCheck: true},
		{name: "over the limit", opts: []reqOpt{from("10.1.2.3:4003"), wrong}, wantCode: 429, wantRetry: "10"},
		{name: "right password over the limit", opts: []reqOpt{from("10.1.2.3:4004")}, wantCode: 429, wantRetry: "10"},
		{name: "later in the refill", advance: 4 * time.Second, opts: []reqOpt{from("10.1.2.3:4005"), wrong}, wantCode: 429, wantRetry: "6"},
		{name: "another client", opts: []reqOpt{from("10.1.2.4:4000"), wrong}, wantCode: 401, wantCheck: true},
		{name: "one back", advance: 6 * time.Second, opts: []reqOpt{from("10.1.2.3:4006"), wrong}, wantCode: 401, wantCheck: true},
		{name: "spent again", opts: []reqOpt{from("10.1.2.3:4007"), wrong}, wantCode: 429, wantRetry: "10"},
		{name: "all back: right password", advance: 30 * time.Second, opts: []reqOpt{from("10.1.2.3:4008")}, wantCode: 200, wantCheck: true},
		{name: "IPv6 failure 1", opts: []reqOpt{from("[fd00::1]:4000"), wrong}, wantCode: 401, wantCheck: true},
		{name: "IPv6 failure 2", opts: []reqOpt{from("[fd00::2]:4000"), wrong}, wantCode: 401, wantCheck: true},
		{name: "IPv6 failure 3", opts: []reqOpt{from("[fd00::3]:4000"), wrong}, wantCode: 401, wantCheck: true},
		{name: "IPv6 same /64", opts: []reqOpt{from("[fd00::4]:4000"), wrong}, wantCode: 429, wantRetry: "10"},
		{name: "IPv6 other /64", opts: []reqOpt{from("[fd00:0:0:1::1]:4000"), wrong}, wantCode: 401, wantCheck: true},
	}
	for _, st := range steps {
		now = now.Add(st.advance)
		before := checks.Load()
		res := f.do("GET", "/api/status", "", st.opts...)
		checked := checks.Load() != before
		got := fmt.Sprintf("code %d, Retry-After %q, checked %v", res.code, res.header.Get("Retry-After"), checked)
		want := fmt.Sprintf("code %d, Retry-After %q, checked %v", st.wantCode, st.wantRetry, st.wantCheck)
		if got != want {
			t.Errorf("%s: %s, want %s: %s", st.name, got, want, res.body)
		}
	}
}

// Credentials that matched are accepted without bcrypt for a minute, and
// not at all once auth.conf changed.
func TestCredentialCache(t *testing.T) {
	var checks atomic.Int64
	now := time.Unix(1_700_000_000, 0)
	f := newFixture(t, "api:\n  enabled: true\n  allowed subnets: [127.0.0.0/8]\n", countChecks(&checks), fakeClock(&now))
	setPassword := func(pw string) func() {
		return func() {
			err := UpdateUsers(context.Background(), f.site.AuthConf(), func(u *Users) error { u.Set(testUser, hash(t, pw, "$2b$")); return nil })
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		name      string
		before    func()
		advance   time.Duration
		password  string
		wantCode  int
		wantCheck bool
	}{
		{name: "first use", password: testPassword, wantCode: 200, wantCheck: true},
		{name: "remembered", password: testPassword, wantCode: 200},
		{name: "still remembered", advance: 59 * time.Second, password: testPassword, wantCode: 200},
		{name: "wrong password is checked", password: "wrong", wantCode: 401, wantCheck: true},
		{name: "wrong password is not remembered", password: "wrong", wantCode: 401, wantCheck: true},
		{name: "expired", advance: 2 * time.Second, password: testPassword, wantCode: 200, wantCheck: true},
		{name: "remembered again", password: testPassword, wantCode: 200},
		{name: "auth.conf changed: old password", before: setPassword("new pass"), password: testPassword, wantCode: 401, wantCheck: true},
		{name: "auth.conf changed: new password", password: "new pass", wantCode: 200, wantCheck: true},
		{name: "new password remembered", password: "new pass", wantCode: 200},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		now = now.Add(st.advance)
		before := checks.Load()
		res := f.do("GET", "/api/status", "", creds(testUser, st.password))
		checked := checks.Load() != before
		if res.code != st.wantCode || checked != st.wantCheck {
			t.Errorf("%s: code %d, checked %v; want %d, %v: %s", st.name, res.code, checked, st.wantCode, st.wantCheck, res.body)
		}
	}
}
