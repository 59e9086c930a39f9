package ndp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/ipv6"

	"github.com/wwboot/wwboot/internal/testkit/nettest"
)

func TestMain(m *testing.M) {
	nettest.Main(m, map[string]func() int{"rsprobe": rsProbe})
}

// advert is a Router Advertisement as the probe received it.
type advert struct {
	From, To           string
	HopLimit           int
	Type, Code         int
	CurHopLimit, Flags int
	Lifetime           int
	Reachable, Retrans int
	// Options are "type:value" in hex.
	Options []string
}

// TestAnswersSolicitations starts a Responder on the server end of a
// veth pair and sends it solicitations from the client end: two it must
// ignore, then a good one.
func TestAnswersSolicitations(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		// Neither end can send from its link-local address before
		// duplicate address detection ends.
		srvLL := linkLocalReady(ctx, t, func(args ...string) *exec.Cmd { return exec.CommandContext(ctx, "ip", args...) }, p.ServerIf)
		cliLL := linkLocalReady(ctx, t, func(args ...string) *exec.Cmd { return p.Command(ctx, "ip", args...) }, p.ClientIf)

		logs := &recorder{}
		r, err := New(Options{Interface: p.ServerIf, Log: slog.New(logs)})
		if err != nil {
			t.Fatal(err)
		}
		served := make(chan error, 1)
		sctx, stop := context.WithCancel(ctx)
		go func() { served <- r.Serve(sctx) }()

		out, err := p.Role(ctx, "rsprobe", "PROBE_IF="+p.ClientIf).Output()
		if err != nil {
			t.Fatalf("probe: %v: %s", err, out)
		}
		var got advert
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("probe output %q: %v", out, err)
		}
		ifc, err := net.InterfaceByName(p.ServerIf)
		if err != nil {
			t.Fatal(err)
		}
		want := advert{
			From: srvLL.String(), To: cliLL.String(), HopLimit: 255, Type: 134,
			Options: []string{fmt.Sprintf("1:%x", []byte(ifc.HardwareAddr))},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("router advertisement (-want +got):\n%s", diff)
		}

		// The kernel hands the responder the probe's messages in order,
		// but the answer may overtake the log of the ones before.
		wantIgnored := []string{"hop limit 64, want 255", "malformed option"}
		ignored := logs.waitIgnored(ctx, len(wantIgnored))
		slices.Sort(ignored)
		if diff := cmp.Diff(wantIgnored, ignored); diff != "" {
			t.Errorf("ignored solicitations (-want +got):\n%s", diff)
		}

		// What the comment on the package says: the client's kernel
		// processed the same advertisement and learned nothing from it.
		for _, args := range [][]string{{"-6", "route", "show", "default"}, {"-6", "addr", "show", "scope", "global"}} {
			out, err := p.Command(ctx, "ip", args...).CombinedOutput()
			if err != nil || len(strings.TrimSpace(string(out))) != 0 {
				t.Errorf("client: ip %s: %v %q, want nothing", strings.Join(args, " "), err, out)
			}
		}

		stop()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
}

// linkLocalReady waits until ifname has a link-local address that is no
// longer tentative and returns it.
func linkLocalReady(ctx context.Context, t *testing.T, ip func(args ...string) *exec.Cmd, ifname string) netip.Addr {
	t.Helper()
	for {
		out, err := ip("-6", "-o", "addr", "show", "dev", ifname, "scope", "link", "-tentative").CombinedOutput()
		if err != nil {
			t.Fatalf("ip addr show dev %s: %v: %s", ifname, err, out)
		}
		if f := strings.Fields(string(out)); len(f) >= 4 && f[2] == "inet6" {
			return netip.MustParsePrefix(f[3]).Addr()
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s has no usable link-local address: %q", ifname, out)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestNoIPv6 checks that an interface with IPv6 disabled is served
// without error, with one note in the log.
func TestNoIPv6(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		for _, args := range [][]string{
			{"ip", "link", "add", "noip6", "type", "veth", "peer", "name", "noip6p"},
			{"sysctl", "-q", "-w", "net.ipv6.conf.noip6.disable_ipv6=1"},
			{"ip", "link", "set", "noip6", "up"},
			{"ip", "link", "set", "noip6p", "up"},
		} {
			if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
			}
		}
		logs := &recorder{}
		r, err := New(Options{Interface: "noip6", Log: slog.New(logs)})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := r.Serve(ctx); err != nil {
			t.Errorf("Serve: %v", err)
		}
		want := []string{"INFO no IPv6 link-local address on the interface yet: router solicitations are answered once it has one"}
		if diff := cmp.Diff(want, logs.infos); diff != "" {
			t.Errorf("log (-want +got):\n%s", diff)
		}
	})
}

// recorder is a slog handler keeping the reasons of ignored messages
// and the messages at level info and above.
type recorder struct {
	mu      sync.Mutex
	ignored []string
	infos   []string
}

func (h *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *recorder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *recorder) WithGroup(string) slog.Handler            { return h }
func (h *recorder) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		h.mu.Lock()
		h.infos = append(h.infos, r.Level.String()+" "+r.Message)
		h.mu.Unlock()
	}
	r.Attrs(func(a slog.Attr) bool {
		if err, ok := a.Value.Any().(error); ok && a.Key == "err" && r.Message == "ndp" {
			h.mu.Lock()
			h.ignored = append(h.ignored, strings.TrimPrefix(err.Error(), errIgnored.Error()+": "))
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *recorder) waitIgnored(ctx context.Context, n int) []string {
	for {
		h.mu.Lock()
		got := slices.Clone(h.ignored)
		h.mu.Unlock()
		if len(got) >= n || ctx.Err() != nil {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rsProbe runs in the client namespace: it sends a solicitation with a
// forwarded hop limit, one with a malformed option, then a good one,
// and prints the first advertisement it receives as JSON.
func rsProbe() int {
	if err := probe(os.Getenv("PROBE_IF")); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func probe(ifname string) error {
	ifc, err := net.InterfaceByName(ifname)
	if err != nil {
		return err
	}
	c, err := net.ListenPacket("ip6:ipv6-icmp", "::")
	if err != nil {
		return err
	}
	pc := ipv6.NewPacketConn(c)
	defer pc.Close()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterAdvertisement)
	if err := pc.SetICMPFilter(&f); err != nil {
		return err
	}
	if err := pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true); err != nil {
		return err
	}
	rs := []byte{133, 0, 0, 0, 0, 0, 0, 0}
	slla := append([]byte{1, 1}, ifc.HardwareAddr...)
	allRouters := &net.IPAddr{IP: net.ParseIP("ff02::2"), Zone: ifname}
	for _, m := range []struct {
		b        []byte
		hopLimit int
	}{
		{append(slices.Clone(rs), slla...), 64},
		{append(slices.Clone(rs), 1, 0, 0, 0, 0, 0, 0, 0), 255},
		{append(slices.Clone(rs), slla...), 255},
	} {
		if _, err := pc.WriteTo(m.b, &ipv6.ControlMessage{HopLimit: m.hopLimit, IfIndex: ifc.Index}, allRouters); err != nil {
			return fmt.Errorf("send solicitation: %w", err)
		}
	}
	if err := pc.SetReadDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	for {
		n, cm, src, err := pc.ReadFrom(buf)
		if err != nil {
			return fmt.Errorf("no router advertisement: %w", err)
		}
		if cm == nil || cm.IfIndex != ifc.Index || n < 16 {
			continue
		}
		b := buf[:n]
		a := advert{
			From: src.(*net.IPAddr).IP.String(), To: cm.Dst.String(), HopLimit: cm.HopLimit,
			Type: int(b[0]), Code: int(b[1]), CurHopLimit: int(b[4]), Flags: int(b[5]),
			Lifetime:  int(b[6])<<8 | int(b[7]),
			Reachable: int(b[8])<<24 | int(b[9])<<16 | int(b[10])<<8 | int(b[11]),
			Retrans:   int(b[12])<<24 | int(b[13])<<16 | int(b[14])<<8 | int(b[15]),
		}
		for opts := b[16:]; len(opts) >= 2 && opts[1] > 0 && int(opts[1])*8 <= len(opts); opts = opts[int(opts[1])*8:] {
			a.Options = append(a.Options, fmt.Sprintf("%d:%x", opts[0], opts[2:int(opts[1])*8]))
		}
		return json.NewEncoder(os.Stdout).Encode(a)
	}
}
