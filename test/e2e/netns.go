package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// nsPrefix starts the name of every namespace the harness makes; the
// rest is the PID of the process that made it and a sequence number, so
// a namespace whose process is gone can be recognised as left behind by a
// killed run (SweepStale).
const nsPrefix = "wwe2e-"

// Bridge settings inside every namespace. Namespaces are isolated, so
// every run can use the same addresses: 192.0.2.0/24 (TEST-NET-1) exists
// only inside them, and nothing is routed out.
const (
	BridgeName = "br0"
	ServerIP   = "192.0.2.1"
	Netmask    = "255.255.255.0"
	prefixLen  = 24
	// serverIP6 is a documentation address on the bridge; see netUp.
	serverIP6 = "2001:db8:e2e::1/64"
)

// Netns is a network namespace holding a bridge with the server's
// address and one tap per VM. Deleting the namespace removes the bridge
// and taps with it.
type Netns struct {
	Name  string
	log   *slog.Logger
	taps  atomic.Int32
	hosts atomic.Int32 // AddHost's veths: hs0, hs1, ...
}

// NewNetns creates a namespace named wwe2e-<pid>-<random> with br0 up
// and holding ServerIP/24.
func NewNetns(ctx context.Context, log *slog.Logger) (*Netns, error) {
	n := &Netns{Name: fmt.Sprintf("%s%d-%08x", nsPrefix, os.Getpid(), rand.Uint32()), log: log}
	if err := run(ctx, "ip", "netns", "add", n.Name); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", n.Name, err)
	}
	steps := [][]string{
		{"ip", "link", "set", "lo", "up"},
		{"ip", "link", "add", BridgeName, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"ip", "addr", "add", fmt.Sprintf("%s/%d", ServerIP, prefixLen), "dev", BridgeName},
		// An IPv6 address on the bridge costs nothing and lets a server
		// that sends router advertisements answer iPXE's solicitations;
		// without answers iPXE waits ~13 s for IPv6 autoconfiguration.
		{"ip", "-6", "addr", "add", serverIP6, "dev", BridgeName, "nodad"},
		{"ip", "link", "set", BridgeName, "up"},
	}
	for _, s := range steps {
		if err := run(ctx, n.Command(ctx, s...).Args...); err != nil {
			n.Close()
			return nil, fmt.Errorf("namespace %s: %w", n.Name, err)
		}
	}
	log.Info("network namespace up", "netns", n.Name, "bridge", BridgeName, "addr", ServerIP)
	return n, nil
}

// AddTap creates the next tap device on the bridge and returns its name.
func (n *Netns) AddTap(ctx context.Context) (string, error) { return n.AddTapOn(ctx, BridgeName) }

// AddTapOn creates the next tap device on bridge and returns its name.
func (n *Netns) AddTapOn(ctx context.Context, bridge string) (string, error) {
	name := fmt.Sprintf("tap%d", n.taps.Add(1)-1)
	for _, s := range [][]string{
		{"ip", "tuntap", "add", "dev", name, "mode", "tap"},
		{"ip", "link", "set", name, "master", bridge},
		{"ip", "link", "set", name, "up"},
	} {
		if err := run(ctx, n.Command(ctx, s...).Args...); err != nil {
			return "", fmt.Errorf("tap %s in %s: %w", name, n.Name, err)
		}
	}
	return name, nil
}

// The relayed network (AddRouter): a second bridge with no server
// address, behind a router namespace between it and the first bridge.
// 198.51.100.0/24 (TEST-NET-2) exists only inside the namespaces.
const (
	RelayBridge   = "br1"
	RelayNetwork  = "198.51.100.0"
	RelayRouterIP = "198.51.100.1" // the router on RelayBridge: its nodes' gateway
	routerIP      = "192.0.2.254"  // the router on BridgeName
	// The relayed network's dynamic range (Options.Relay).
	RelayRangeStart = "198.51.100.100"
	RelayRangeEnd   = "198.51.100.199"
)

// AddRouter adds RelayBridge to n and a router namespace (named like
// n, so that SweepStale removes it too) joined to both bridges by veth
// pairs, forwarding between them, with n's route to RelayNetwork
// through it. The caller closes the router before n.
func (n *Netns) AddRouter(ctx context.Context) (*Netns, error) {
	r := &Netns{Name: fmt.Sprintf("%s%d-%08x", nsPrefix, os.Getpid(), rand.Uint32()), log: n.log}
	if err := run(ctx, "ip", "netns", "add", r.Name); err != nil {
		return nil, fmt.Errorf("create router namespace %s: %w", r.Name, err)
	}
	hostSteps := [][]string{
		{"ip", "link", "add", "rt0", "netns", n.Name, "type", "veth", "peer", "name", "up0", "netns", r.Name},
		{"ip", "link", "add", "rt1", "netns", n.Name, "type", "veth", "peer", "name", "down0", "netns", r.Name},
	}
	nsSteps := []struct {
		ns   *Netns
		argv []string
	}{
		{n, []string{"ip", "link", "add", RelayBridge, "type", "bridge", "stp_state", "0", "forward_delay", "0"}},
		{n, []string{"ip", "link", "set", RelayBridge, "up"}},
		{n, []string{"ip", "link", "set", "rt0", "master", BridgeName, "up"}},
		{n, []string{"ip", "link", "set", "rt1", "master", RelayBridge, "up"}},
		{n, []string{"ip", "route", "add", RelayNetwork + "/24", "via", routerIP}},
		{r, []string{"ip", "link", "set", "lo", "up"}},
		{r, []string{"ip", "addr", "add", routerIP + "/24", "dev", "up0"}},
		{r, []string{"ip", "addr", "add", RelayRouterIP + "/24", "dev", "down0"}},
		{r, []string{"ip", "link", "set", "up0", "up"}},
		{r, []string{"ip", "link", "set", "down0", "up"}},
		{r, []string{"sysctl", "-qw", "net.ipv4.ip_forward=1"}},
	}
	fail := func(err error) (*Netns, error) {
		_ = r.Close()
		return nil, fmt.Errorf("router namespace %s: %w", r.Name, err)
	}
	for _, s := range hostSteps {
		if err := run(ctx, s...); err != nil {
			return fail(err)
		}
	}
	for _, s := range nsSteps {
		if err := run(ctx, s.ns.Command(ctx, s.argv...).Args...); err != nil {
			return fail(err)
		}
	}
	n.log.Info("router namespace up", "netns", r.Name, "between", BridgeName+" "+routerIP, "and", RelayBridge+" "+RelayRouterIP)
	return r, nil
}

// The site's own DHCP server on BridgeName (AddHost, Options.ProxyDHCP)
// and the dynamic range it gives, outside the nodes' addresses.
const (
	SiteDHCPIP     = "192.0.2.253"
	SiteRangeStart = "192.0.2.200"
	SiteRangeEnd   = "192.0.2.250"
)

// AddHost adds a namespace (named like n, so that SweepStale removes it
// too) whose interface site0, holding ip/24, is a port of BridgeName:
// another host on the nodes' network, whose servers bind the ports the
// daemon's do. The caller closes it before n.
func (n *Netns) AddHost(ctx context.Context, ip string) (*Netns, error) {
	h := &Netns{Name: fmt.Sprintf("%s%d-%08x", nsPrefix, os.Getpid(), rand.Uint32()), log: n.log}
	if err := run(ctx, "ip", "netns", "add", h.Name); err != nil {
		return nil, fmt.Errorf("create host namespace %s: %w", h.Name, err)
	}
	port := fmt.Sprintf("hs%d", n.hosts.Add(1)-1) // the bridge's end, in n
	steps := []struct {
		ns   *Netns
		argv []string
	}{
		{n, []string{"ip", "link", "add", port, "type", "veth", "peer", "name", "site0", "netns", h.Name}},
		{n, []string{"ip", "link", "set", port, "master", BridgeName, "up"}},
		{h, []string{"ip", "link", "set", "lo", "up"}},
		{h, []string{"ip", "addr", "add", ip + "/" + strconv.Itoa(prefixLen), "dev", "site0"}},
		{h, []string{"ip", "link", "set", "site0", "up"}},
	}
	for _, s := range steps {
		if err := run(ctx, s.ns.Command(ctx, s.argv...).Args...); err != nil {
			_ = h.Close()
			return nil, fmt.Errorf("host namespace %s: %w", h.Name, err)
		}
	}
	n.log.Info("host namespace up", "netns", h.Name, "on", BridgeName, "addr", ip)
	return h, nil
}

// Command returns a command that runs argv inside the namespace. The
// command's PID is argv[0]'s own: "ip netns exec" execs it.
func (n *Netns) Command(ctx context.Context, argv ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", n.Name}, argv...)...)
}

// Close deletes the namespace, and with it the bridge and the taps. The
// processes in it must be stopped first.
func (n *Netns) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run(ctx, "ip", "netns", "del", n.Name); err != nil {
		return fmt.Errorf("delete namespace %s: %w", n.Name, err)
	}
	n.log.Info("network namespace removed", "netns", n.Name)
	return nil
}

// DialContext connects from inside the namespace: the socket is made on
// a thread that has joined the namespace, and stays there after the
// thread returns to its own.
func (n *Netns) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := n.in(func() error {
		var d net.Dialer
		var err error
		c, err = d.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// SweepStale deletes namespaces that earlier runs of the harness made and
// could not remove because they were killed (SIGKILL): those whose maker
// PID no longer exists. Namespaces of live runs are left alone.
func SweepStale(ctx context.Context, log *slog.Logger) error {
	out, err := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	if err != nil {
		return fmt.Errorf("ip netns list: %w", err)
	}
	var errs []error
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], nsPrefix) {
			continue
		}
		name := f[0]
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, nsPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat("/proc/" + pidStr); err == nil {
			continue
		}
		log.Warn("removing a namespace left behind by a killed run", "netns", name, "pid", pid)
		if err := run(ctx, "ip", "netns", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run runs argv and returns its error with its output.
func run(ctx context.Context, argv ...string) error {
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
