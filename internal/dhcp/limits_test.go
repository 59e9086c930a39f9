package dhcp

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// clockServer is a server on the loopback interface, without sockets,
// whose clock the test moves, logging to a buffer.
func clockServer(t *testing.T, o Options) (*Server, *time.Time, *bytes.Buffer) {
	t.Helper()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var log bytes.Buffer
	o.Mode, o.Interfaces, o.ServerIP, o.HTTPPort = embedded, []string{"lo"}, netip.MustParseAddr("127.0.0.1"), 9873
	o.BootFiles = testBootFiles
	o.Now = func() time.Time { return now }
	o.Log = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelInfo}))
	s, err := newServer(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, &now, &log
}

func mac(i int) net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)} }

func discover(t *testing.T, s *Server, hw net.HardwareAddr) string {
	t.Helper()
	req, err := dhcpv4.NewDiscovery(hw)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.handle(s.ifaces[0], req, nil, ServerPort)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		return "none"
	}
	return r.msg.MessageType().String() + " " + r.msg.YourIPAddr.String()
}

func request(t *testing.T, s *Server, hw net.HardwareAddr, addr string, withServerID bool) string {
	t.Helper()
	mods := []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(hw),
		dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP(addr)))}
	if withServerID {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.IPv4(127, 0, 0, 1))))
	}
	req, err := dhcpv4.New(mods...)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.handle(s.ifaces[0], req, nil, ServerPort)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		return "none"
	}
	return r.msg.MessageType().String() + " " + r.msg.YourIPAddr.String()
}

func TestRequestForAddressNotOffered(t *testing.T) {
	rangeOpts := Options{RangeStart: netip.MustParseAddr("127.0.0.100"), RangeEnd: netip.MustParseAddr("127.0.0.101"),
		Nodes: newFakeNodes()}
	tests := []struct {
		name         string
		withServerID bool
		offerFirst   net.HardwareAddr // a client offered the address before, or nil
		want         string
	}{
		{"selecting, never offered", true, nil, "NAK 0.0.0.0"},
		{"init-reboot, never offered", false, nil, "NAK 0.0.0.0"},
		{"offered to another client", true, mac(2), "NAK 0.0.0.0"},
		{"offered to this client", true, mac(1), "ACK 127.0.0.100"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := clockServer(t, rangeOpts)
			if tc.offerFirst != nil {
				if got := discover(t, s, tc.offerFirst); got != "OFFER 127.0.0.100" {
					t.Fatalf("offer %q", got)
				}
			}
			if got := request(t, s, mac(1), "127.0.0.100", tc.withServerID); got != tc.want {
				t.Errorf("REQUEST got %q, want %q", got, tc.want)
			}
			var bound []string
			for _, l := range s.Leases() {
				bound = append(bound, l.HWAddr+" "+l.Addr.String())
			}
			var want []string
			if strings.HasPrefix(tc.want, "ACK") {
				want = []string{mac(1).String() + " 127.0.0.100"}
			}
			if diff := cmp.Diff(want, bound); diff != "" {
				t.Errorf("bound leases (-want +got):\n%s", diff)
			}
			wantRefused := uint64(0)
			if strings.HasPrefix(tc.want, "NAK") {
				wantRefused = 1
			}
			if got := s.Stats().RequestsRefused; got != wantRefused {
				t.Errorf("RequestsRefused %d, want %d", got, wantRefused)
			}
		})
	}
}

func TestOfferRateLimits(t *testing.T) {
	nodes := newFakeNodes(node("n1", "02:00:00:00:0f:01", "127.0.0.50", ""), node("n2", "02:00:00:00:0f:02", "", ""))
	type step struct {
		at    time.Duration
		hw    net.HardwareAddr
		times int
		want  string // answers, counted: "OFFER x3 none x2"
	}
	tests := []struct {
		name        string
		rate, per   int
		steps       []step
		wantLimited uint64
	}{
		{"one client: its burst, then one per 60/rate s", 100, 6, []step{
			{0, mac(1), 8, "OFFER x6 none x2"},
			{5 * time.Second, mac(1), 1, "none x1"},
			{10 * time.Second, mac(1), 2, "OFFER x1 none x1"},
		}, 4},
		{"all clients: the rate a second", 5, 10, []step{
			{0, mac(1), 1, "OFFER x1"},
			{0, mac(2), 1, "OFFER x1"},
			{0, mac(3), 3, "OFFER x3"},
			{0, mac(4), 1, "none x1"},
			{time.Second / 2, mac(4), 3, "OFFER x2 none x1"},
		}, 2},
		{"nodes are never limited", 1, 1, []step{
			{0, mac(1), 1, "OFFER x1"},
			{0, mac(2), 1, "none x1"},
			{0, mac(0x0f01), 50, "OFFER x50"},
			{0, mac(0x0f02), 50, "OFFER x50"}, // a node without an address gets a range address
		}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, now, _ := clockServer(t, Options{RangeStart: netip.MustParseAddr("127.0.0.100"),
				RangeEnd: netip.MustParseAddr("127.0.0.200"), Nodes: nodes, OfferRate: tc.rate, ClientOfferRate: tc.per})
			t0 := *now
			for i, st := range tc.steps {
				*now = t0.Add(st.at)
				counts := map[string]int{}
				var order []string
				for range st.times {
					got, _, _ := strings.Cut(discover(t, s, st.hw), " ")
					if counts[got] == 0 {
						order = append(order, got)
					}
					counts[got]++
				}
				var parts []string
				for _, k := range order {
					parts = append(parts, fmt.Sprintf("%s x%d", k, counts[k]))
				}
				if got := strings.Join(parts, " "); got != st.want {
					t.Errorf("step %d (%s at %v): %q, want %q", i, st.hw, st.at, got, st.want)
				}
			}
			if got := s.Stats().OffersLimited; got != tc.wantLimited {
				t.Errorf("OffersLimited %d, want %d", got, tc.wantLimited)
			}
		})
	}
}

// TestPoolExhaustedLoggedOnce checks that a full range is counted for
// every DISCOVER it leaves unanswered and logged once a minute.
func TestPoolExhaustedLoggedOnce(t *testing.T) {
	s, now, log := clockServer(t, Options{RangeStart: netip.MustParseAddr("127.0.0.100"),
		RangeEnd: netip.MustParseAddr("127.0.0.100"), Nodes: newFakeNodes(), OfferRate: 1000, ClientOfferRate: 1000})
	if got := discover(t, s, mac(1)); got != "OFFER 127.0.0.100" {
		t.Fatalf("offer %q", got)
	}
	if got := request(t, s, mac(1), "127.0.0.100", true); got != "ACK 127.0.0.100" {
		t.Fatalf("request %q", got)
	}
	t0 := *now
	for i := range 100 {
		*now = t0.Add(time.Duration(i) * time.Second)
		if got := discover(t, s, mac(2+i)); got != "none" {
			t.Fatalf("DISCOVER %d with the range full: %q", i, got)
		}
	}
	if got := s.Stats().PoolExhausted; got != 100 {
		t.Errorf("PoolExhausted %d, want 100", got)
	}
	// Logged at 0 s (1 DISCOVER) and at 60 s (the 60 since).
	lines := strings.Count(log.String(), "dynamic range exhausted")
	if lines != 2 || !strings.Contains(log.String(), "unanswered=60") {
		t.Errorf("logged %d times, want 2, the second with unanswered=60:\n%s", lines, log.String())
	}
}
