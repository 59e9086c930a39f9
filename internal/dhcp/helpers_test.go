package dhcp

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/testkit/nettest"
)

func TestMain(m *testing.M) {
	nettest.Main(m, map[string]func() int{
		"flood":    floodRole,
		"pxeprobe": pxeProbeRole,
	})
}

// fakeNodes is an inventory of fixed nodes that records stages.
type fakeNodes struct {
	nodes map[string]*inventory.NodeView

	mu     sync.Mutex
	stages []string
}

func ptr(s string) *string { return &s }

// node makes a node with one network device.
func node(name, hw, ip, gw string) *inventory.NodeView {
	d := &inventory.NetDev{Hwaddr: ptr(hw)}
	if ip != "" {
		d.Ipaddr = ptr(ip)
	}
	if gw != "" {
		d.Gateway = ptr(gw)
	}
	v, err := inventory.NewView(&inventory.Merged{Name: name, Node: inventory.Node{Profile: inventory.Profile{
		NetDevs: map[string]*inventory.NetDev{"default": d}}}})
	if err != nil {
		panic(err)
	}
	return v
}

func newFakeNodes(ms ...*inventory.NodeView) *fakeNodes {
	f := &fakeNodes{nodes: map[string]*inventory.NodeView{}}
	for _, m := range ms {
		f.nodes[m.Name] = m
	}
	return f
}

func (f *fakeNodes) NodeByMAC(hw string) (*inventory.NodeView, bool) {
	for _, v := range f.nodes {
		if _, ok := v.NetDevByMAC(naming.NormalizeMAC(hw)); ok {
			return v, true
		}
	}
	return nil, false
}

func (f *fakeNodes) Nodes() map[string]*inventory.NodeView { return f.nodes }

func (f *fakeNodes) RecordStage(node, stage, sent, addr string, _ int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stages = append(f.stages, fmt.Sprintf("%s %s %s %s", node, stage, sent, addr))
}

func (f *fakeNodes) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.stages...)
}

var testBootFiles = map[string]string{
	"00:00": "/warewulf/undionly.kpxe",
	"00:07": "/warewulf/ipxe-snponly-x86_64.efi",
	"00:09": "/warewulf/ipxe-snponly-x86_64.efi",
	"00:0B": "/warewulf/snponly.efi",
}

// startServer runs a server on p's server interface until the test ends.
func startServer(t *testing.T, p nettest.Pair, mode string, nodes Nodes, leaseFile string) *Server {
	t.Helper()
	srv, err := New(Options{
		Mode: mode, Interfaces: []string{p.ServerIf}, HTTPPort: 9873,
		RangeStart: netip.MustParseAddr("10.213.0.100"), RangeEnd: netip.MustParseAddr("10.213.0.110"),
		LeaseFile: leaseFile, BootFiles: testBootFiles, Nodes: nodes,
		Log: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// setMAC gives the client end of p a hardware address.
func setMAC(t *testing.T, p nettest.Pair, mac string) {
	t.Helper()
	for _, args := range [][]string{
		{"-n", p.ClientNS, "link", "set", p.ClientIf, "down"},
		{"-n", p.ClientNS, "link", "set", p.ClientIf, "address", mac},
		{"-n", p.ClientNS, "link", "set", p.ClientIf, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v: %s", args, err, out)
		}
	}
}

// udhcpc runs busybox's DHCP client once in the client namespace and
// returns the variables its script saw when bound, or nil when it got
// no lease.
func udhcpc(t *testing.T, p nettest.Pair, extra ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	out := filepath.Join(dir, "env")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > \"$UDHCPC_OUT\"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"udhcpc", "-i", p.ClientIf, "-n", "-q", "-f", "-t", "5", "-T", "1", "-A", "1", "-s", script}, extra...)
	cmd := p.Command(ctx, "busybox", args...)
	cmd.Env = append(os.Environ(), "UDHCPC_OUT="+out)
	log, err := cmd.CombinedOutput()
	t.Logf("udhcpc %v: %v\n%s", extra, err, log)
	return readEnv(t, out)
}

// dhclient runs ISC's DHCP client in the foreground in the client
// namespace until its script reports a lease, then stops it, and returns
// the script's variables (nil when no lease came within 30 s).
func dhclient(t *testing.T, p nettest.Pair) map[string]string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "script")
	out := filepath.Join(dir, "env")
	conf := filepath.Join(dir, "dhclient.conf")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$reason\" = BOUND ] && env > \""+out+".tmp\" && mv \""+out+".tmp\" \""+out+"\"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, []byte("timeout 20;\nrequest subnet-mask, routers, host-name;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	// ip netns exec execs dhclient, so the process started is dhclient's.
	cmd := p.Command(ctx, "dhclient", "-d", "-1", "-v", "-cf", conf, "-sf", script,
		"-lf", filepath.Join(dir, "leases"), "-pf", filepath.Join(dir, "pid"), p.ClientIf)
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
wait:
	for {
		select {
		case err := <-exited:
			t.Logf("dhclient exited: %v\n%s", err, log.String())
			return readEnv(t, out)
		case <-deadline:
			break wait
		case <-time.After(50 * time.Millisecond):
			if _, err := os.Stat(out); err == nil {
				break wait
			}
		}
	}
	_ = cmd.Process.Kill()
	<-exited
	t.Logf("dhclient:\n%s", log.String())
	return readEnv(t, out)
}

func readEnv(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// tWriter sends log lines to the test log.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// config.ModeEmbedded and config.ModeProxy, short.
const (
	embedded = config.ModeEmbedded
	proxy    = config.ModeProxy
)
