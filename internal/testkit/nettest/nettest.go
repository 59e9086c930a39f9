// Package nettest runs network tests between two network namespaces of
// their own, joined by a veth pair, so that servers can bind the real
// DHCP and TFTP ports and real clients can talk to them without touching
// the host's network.
//
// Run re-executes the test binary inside the server namespace (every
// thread of a Go process must share a namespace; switching one thread
// would leave sockets opened by other goroutines outside). Clients run
// in the client namespace through Pair.Command.
package nettest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	pairEnv     = "NETTEST_PAIR"
	roleEnv     = "NETTEST_ROLE"
	isolatedEnv = "NETTEST_ISOLATED"
)

// Isolate runs the calling test again, in a process of its own in new
// mount and network namespaces (Go makes the new mount namespace's
// mounts private: what the test mounts stays there, and it can reach no
// network), and reports whether this is that run. The caller goes on
// when it is true and returns when it is false: the outer run has then
// reported the inner one's outcome. It skips the test when not root.
func Isolate(t *testing.T) bool {
	t.Helper()
	if os.Getenv(isolatedEnv) == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount and network namespaces")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+regexp.QuoteMeta(t.Name())+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), isolatedEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("in new mount and network namespaces: %v\n%s", err, out)
	}
	t.Logf("in new mount and network namespaces:\n%s", out)
	return false
}

// Pair is two network namespaces joined by a veth pair. The server end
// has an address; the client end has none, like a booting machine.
type Pair struct {
	ServerNS, ClientNS string
	ServerIf, ClientIf string
	ServerIP           netip.Prefix
}

// Run runs body inside the server namespace of a new Pair, which it
// removes afterwards whatever the outcome. It skips the test when not
// run as root.
func Run(t *testing.T, body func(t *testing.T, p Pair)) {
	t.Helper()
	if env := os.Getenv(pairEnv); env != "" {
		var p Pair
		if err := json.Unmarshal([]byte(env), &p); err != nil {
			t.Fatalf("%s: %v", pairEnv, err)
		}
		body(t, p)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
	tag := fmt.Sprintf("%d-%x", os.Getpid(), time.Now().UnixNano()&0xffffff)
	p := Pair{ServerNS: "wwbs-" + tag, ClientNS: "wwbc-" + tag, ServerIf: "srv0", ClientIf: "cli0",
		ServerIP: netip.MustParsePrefix("10.213.0.1/24")}
	t.Cleanup(func() {
		for _, ns := range []string{p.ServerNS, p.ClientNS} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "No such file") {
				t.Errorf("remove namespace %s: %v: %s", ns, err, out)
			}
		}
	})
	setup := [][]string{
		{"netns", "add", p.ServerNS},
		{"netns", "add", p.ClientNS},
		{"link", "add", p.ServerIf, "netns", p.ServerNS, "type", "veth", "peer", "name", p.ClientIf, "netns", p.ClientNS},
		{"-n", p.ServerNS, "addr", "add", p.ServerIP.String(), "dev", p.ServerIf},
		{"-n", p.ServerNS, "link", "set", p.ServerIf, "up"},
		{"-n", p.ServerNS, "link", "set", "lo", "up"},
		{"-n", p.ClientNS, "link", "set", p.ClientIf, "up"},
		{"-n", p.ClientNS, "link", "set", "lo", "up"},
	}
	for _, args := range setup {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	env, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(t.Name(), "/")
	for i, part := range parts {
		parts[i] = "^" + regexp.QuoteMeta(part) + "$"
	}
	ctx := t.Context()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-5*time.Second))
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", p.ServerNS, os.Args[0],
		"-test.run", strings.Join(parts, "/"), "-test.v", "-test.count=1", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), pairEnv+"="+string(env))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("test in namespace %s: %v\n%s", p.ServerNS, err, out)
	}
	if strings.Contains(string(out), "--- SKIP") {
		t.Logf("%s", out)
		t.Skip("skipped inside the namespace")
	}
	if !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("test in namespace %s did not run:\n%s", p.ServerNS, out)
	}
	t.Logf("%s", out)
}

// Command returns a command running name in the client namespace.
func (p Pair) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", p.ClientNS, name}, args...)...)
}

// Role returns a command running this test binary in the client
// namespace as role, which Main dispatches; env is added to its
// environment.
func (p Pair) Role(ctx context.Context, role string, env ...string) *exec.Cmd {
	cmd := p.Command(ctx, os.Args[0])
	cmd.Env = append(append(os.Environ(), roleEnv+"="+role), env...)
	return cmd
}

// Main is a TestMain that runs roles[NETTEST_ROLE] instead of the tests
// when that variable is set, and exits with its status.
func Main(m *testing.M, roles map[string]func() int) {
	if role := os.Getenv(roleEnv); role != "" {
		f, ok := roles[role]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown %s %q\n", roleEnv, role)
			os.Exit(2)
		}
		os.Exit(f())
	}
	os.Exit(m.Run())
}
