package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// Environment of the virtual cluster tests.
const (
	envE2E   = "WWBOOT_E2E"       // 1 runs the scenarios a to d, f and h
	envFull  = "WWBOOT_E2E_FULL"  // 1 also runs the slow scenarios (e, g, m, n, q, s, x, v)
	envBin   = "WWBOOT_E2E_BIN"   // directory with wwctl, wwclient and wwstage1 (default: built for the test)
	envKeep  = "WWBOOT_E2E_KEEP"  // directory to keep each test's tree and logs in
	envAccel = "WWBOOT_E2E_ACCEL" // tcg, kvm or auto (default)
	envCache = "WWBOOT_E2E_CACHE" // downloads (default /var/cache/wwboot-e2e)
)

// kernelArgs are added to the default profile's: the serial console the
// test reads, and no_timer_check against the "IO-APIC + timer doesn't
// work" panic of a loaded TCG host (the e2e README's pitfall 8).
const kernelArgs = "console=ttyS0 no_timer_check panic=30"

// needE2E skips the test unless the virtual cluster tests were asked for.
func needE2E(t *testing.T) {
	t.Helper()
	if os.Getenv(envE2E) != "1" {
		t.Skipf("virtual cluster test: set %s=1 (make e2e) to run it; it needs root, QEMU, OVMF and iPXE (scripts/deps.sh --e2e)", envE2E)
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s=1 but not root: the virtual cluster needs network namespaces and taps", envE2E)
	}
}

// needFull skips the test, saying why (what makes it slow or what it
// needs), unless the slow scenarios were asked for, and fails it when a
// file it needs is missing: scripts/deps.sh --e2e-full installs them.
func needFull(t *testing.T, why string, files ...string) {
	t.Helper()
	if os.Getenv(envFull) != "1" {
		t.Skipf("%s: set %s=1 (make e2e-full)", why, envFull)
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v: run scripts/deps.sh --e2e-full", err)
		}
	}
}

// Debian's signed x86-64 shim and network GRUB (shim-signed,
// grub-efi-amd64-signed), which the daemon finds by itself.
const (
	debianShimX64 = "/usr/lib/shim/shimx64.efi.signed"
	debianGrubX64 = "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
)

// binaries returns a directory holding wwctl, wwclient and wwstage1:
// $WWBOOT_E2E_BIN, else all three built for the test (static, as nodes
// run the last two).
func binaries(t *testing.T) string {
	t.Helper()
	if d := os.Getenv(envBin); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	dir := t.TempDir()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct{ out, pkg string }{{"wwctl", "./cmd/wwctl"}, {"wwclient", "./cmd/wwclient"}, {"wwstage1", "./cmd/wwstage1"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return dir
}

// testCluster is a cluster for one test, torn down when the test ends;
// when the test failed, the ends of the daemon's log and of every console
// go into the test's log.
type testCluster struct {
	*Cluster
	t      *testing.T
	kernel *Kernel
	vms    []*VM
}

func newTestCluster(t *testing.T, interval int) *testCluster {
	t.Helper()
	return newTestClusterWith(t, interval, nil)
}

// newTestClusterWith is newTestCluster with options changed by edit.
func newTestClusterWith(t *testing.T, interval int, edit func(*Options)) *testCluster {
	t.Helper()
	needE2E(t)
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cache := os.Getenv(envCache)
	if cache == "" {
		cache = DefaultCacheDir
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k, err := FetchKernel(ctx, cache, log)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if keep := os.Getenv(envKeep); keep != "" {
		dir = filepath.Join(keep, t.Name())
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{
		Dir: dir, Bin: binaries(t), Accel: os.Getenv(envAccel), ProbeKernel: k.Vmlinuz(),
		CacheDir: cache, UpdateInterval: interval, Secure: true, Log: log,
	}
	if edit != nil {
		edit(&opts)
	}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tc := &testCluster{Cluster: c, t: t, kernel: k}
	t.Cleanup(func() {
		if t.Failed() {
			// The daemon's log last: a CI report keeps the end of the output.
			for _, vm := range tc.vms {
				t.Logf("console of %s (%s), last lines:\n%s", vm.Name, vm.ConsoleFile, vm.Console.Tail(30))
			}
			if opts.ProxyDHCP {
				t.Logf("the site DHCP server's log (%s), last lines:\n%s", c.SiteDHCPLog(), tailFile(c.SiteDHCPLog(), 30))
			}
			t.Logf("daemon log (%s), last lines:\n%s", c.DaemonLog, tailFile(c.DaemonLog, 40))
		}
		if err := c.Close(); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return tc
}

// testWriter sends the harness's log lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// node describes a node to add.
type node struct {
	name, mac, ip string
	args          []string // more "wwctl node add" flags
	kernelArgs    string   // more kernel arguments, after kernelArgs
}

// addNodes adds nodes booting image with the probe overlays.
func (tc *testCluster) addNodes(ctx context.Context, image string, nodes ...node) {
	tc.t.Helper()
	for _, n := range nodes {
		kargs := kernelArgs
		if n.kernelArgs != "" {
			kargs += " " + n.kernelArgs
		}
		args := []string{"node", "add", n.name, "--image", image, "--netdev", "eth0",
			"--ipaddr", n.ip, "--netmask", Netmask, "-A", kargs}
		if n.mac != "" {
			args = append(args, "--hwaddr", n.mac)
		}
		args = append(args, n.args...)
		if _, err := tc.Wwctl(ctx, args...); err != nil {
			tc.t.Fatal(err)
		}
	}
}

func (tc *testCluster) startVM(ctx context.Context, o VMOptions) *VM {
	tc.t.Helper()
	vm, err := tc.StartVM(ctx, o)
	if err != nil {
		tc.t.Fatal(err)
	}
	tc.vms = append(tc.vms, vm)
	return vm
}

// probeUp matches the busybox probe's first line.
var probeUp = regexp.MustCompile(`E2E-PROBE up host=(\S+) wwclient=(\S+) addrs=(\S*)`)

// waitBooted waits until node, booting in vm, has run its init with the
// network configured and wwclient running (console), and wwclient has
// fetched its runtime overlay (daemon status).
func (tc *testCluster) waitBooted(ctx context.Context, vm *VM, node, ip string) {
	tc.t.Helper()
	ctx, cancel := tc.WithDaemon(ctx)
	defer cancel()
	initLine, _, err := vm.Console.Wait(ctx, InitLine)
	if err != nil {
		tc.t.Fatalf("%s: %v", node, err)
	}
	_, m, err := vm.Console.Wait(ctx, probeUp)
	if err != nil {
		tc.t.Fatalf("%s: %v", node, err)
	}
	if m[1] != node {
		tc.t.Errorf("%s: host name on the node is %q", node, m[1])
	}
	if m[2] == "none" {
		tc.t.Errorf("%s: wwclient is not running on the node", node)
	}
	if !strings.Contains(m[3], ip+"/") {
		tc.t.Errorf("%s: node's addresses %q lack %s", node, m[3], ip)
	}
	// After init, only wwclient asks for the runtime overlay.
	err = tc.Status.Wait(ctx, node+" fetching its runtime overlay (wwclient)", func(events []Event, _ map[string]contract.NodeStatus) bool {
		return len(Heartbeats(events, node, initLine.At)) > 0
	})
	if err != nil {
		tc.t.Fatalf("%v\ninit seen at %s; the daemon's status changes:\n%s", err, initLine.At.Format("15:04:05.000"), EventLines(tc.Status.Events()))
	}
}

// waitGrubBooted is waitBooted for a node that boots through GRUB: GRUB
// first loads the node's configuration from /grub/ (its console says so,
// and the daemon's status shows the node at stage GRUB after vm started).
func (tc *testCluster) waitGrubBooted(ctx context.Context, vm *VM, node, mac, ip string) {
	tc.t.Helper()
	if _, _, err := vm.Console.Wait(ctx, regexp.MustCompile(`wwboot now booting `+regexp.QuoteMeta(node)+` \(`+mac+`\) with GRUB`)); err != nil {
		tc.t.Fatalf("%s (%s): GRUB did not load its configuration: %v", node, vm.Name, err)
	}
	tc.waitBooted(ctx, vm, node, ip)
	for _, e := range NodeEvents(tc.Status.Events(), node) {
		if e.Stage == contract.StageGrub && !e.At.Before(vm.Started) {
			return
		}
	}
	tc.t.Errorf("the daemon's status never showed %s at stage GRUB after %s started:\n%s", node, vm.Name, EventLines(tc.Status.Events()))
}

// logTimings reports the boot phases of the nodes.
func (tc *testCluster) logTimings(vms map[string]*VM) {
	var b strings.Builder
	fmt.Fprintf(&b, "boot phases, seconds after QEMU started (accel %s):\n%s\n", tc.Accel(), TimingsHeader())
	events := tc.Status.Events()
	for name, vm := range vms {
		fmt.Fprintln(&b, BootTimings(events, name, vm).String())
	}
	tc.t.Log(b.String())
}

// daemonLogHas reports whether a line of the daemon's log matches re.
func (tc *testCluster) daemonLogHas(re *regexp.Regexp) bool {
	data, err := os.ReadFile(tc.DaemonLog)
	if err != nil {
		tc.t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if re.MatchString(l) {
			return true
		}
	}
	return false
}
