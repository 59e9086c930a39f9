package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Scenario j: the node's BMC is OpenIPMI's ipmi_sim, whose chassis
// control starts and stops the VM. wwctl, inside the namespace, reads
// the power state, sets the boot device, powers the node on (it boots
// from the network to its runtime overlay), reads its sensors and powers
// it off.
func TestBMCPower(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:61", "192.0.2.61"
	lan, _, _ := bmcPorts(0)
	tc.addNodes(ctx, "bb", node{name: "n1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe",
		"--ipmiaddr", ServerIP, "--ipmiport", strconv.Itoa(lan), "--ipmiuser", BMCUser, "--ipmipass", BMCPassword,
		"--ipmiinterface", "lanplus"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	bmc, vm, err := tc.StartBMC(ctx, VMOptions{Name: "n1", MAC: mac, Firmware: BIOS})
	if err != nil {
		t.Fatal(err)
	}
	tc.vms = append(tc.vms, vm)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("BMC chassis calls: %q\nipmi_sim's log:\n%s", bmc.Calls(), bmc.Log())
		}
	})
	bmcAddr := fmt.Sprintf("%s:%d", ServerIP, lan)
	power := func(want string, args ...string) {
		t.Helper()
		checkPower(t, func(args ...string) (string, error) { return tc.WwctlIn(ctx, nil, args...) }, bmcAddr, want, args...)
	}

	power("off", "power", "status", "n1")
	if done, _ := vm.Exited(); !done {
		t.Fatal("the VM runs before its BMC powered it on")
	}
	power("ok", "power", "bootdev", "pxe", "n1")
	if !slices.Contains(bmc.Calls(), "set boot pxe") {
		t.Errorf("the BMC was not asked for boot device pxe: %q", bmc.Calls())
	}

	power("ok", "power", "on", "n1")
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, vm, "n1", ip)
	power("on", "power", "status", "n1")
	tc.logTimings(map[string]*VM{"n1": vm})

	// The booted node's console over serial over LAN: what is typed
	// reaches its shell and what the shell prints comes back; ~. leaves.
	// (Opened after the boot: ipmi_sim connects to the VM's serial port
	// some seconds after QEMU starts, and, under load, drops a console
	// during the boot's burst of output; see the README.)
	// What is typed while the console reconnects (ipmi_sim, loaded,
	// sometimes stops answering for seconds) may be lost, as on a real
	// console: the command is typed again, as a user would, at most
	// three times.
	console := tc.startConsole(ctx, "n1")
	// On connecting, ipmi_sim sends what the serial port printed while no
	// one listened; a byte typed while that flows can go unanswered (the
	// console then times out after about 30 s and reconnects), so the
	// test types once the console is live and quiet, as a user at the
	// prompt would.
	liveCtx, cancelLive := context.WithTimeout(bootCtx, 30*time.Second)
	if err := console.wait(liveCtx, regexp.MustCompile(`\[console of n1;`)); err != nil {
		cancelLive()
		t.Fatalf("wwctl node console n1: %v", err)
	}
	console.waitQuiet(liveCtx, time.Second)
	cancelLive()
	sol := regexp.MustCompile(`E2E-SOL-42 n1`)
	for try := 1; ; try++ {
		console.typeIn("\recho E2E-SOL-$((6*7)) $(hostname)\r")
		tryCtx, cancelTry := context.WithTimeout(bootCtx, 30*time.Second)
		err := console.wait(tryCtx, sol)
		cancelTry()
		if err == nil {
			break
		}
		if try == 3 || bootCtx.Err() != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("wwctl node console n1: %v", err)
		}
		t.Logf("wwctl node console n1: try %d: %v; typing again", try, err)
	}
	console.typeIn("\r~.")
	if err := console.end(30 * time.Second); err != nil {
		t.Fatalf("wwctl node console n1 after ~.: %v", err)
	}

	out, err := tc.WwctlIn(ctx, nil, "node", "sensors", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "CPU Temp") || !strings.Contains(out, "45") {
		t.Errorf("wwctl node sensors n1 lacks the simulator's CPU Temp at 45:\n%s", out)
	}

	power("ok", "power", "off", "n1")
	deadline := time.Now().Add(30 * time.Second)
	for done, _ := vm.Exited(); !done; done, _ = vm.Exited() {
		if time.Now().After(deadline) {
			t.Fatal("the VM still runs 30 s after its BMC powered it off")
		}
		time.Sleep(100 * time.Millisecond)
	}
	power("off", "power", "status", "n1")
}

// liveConsole is a "wwctl node console" running in the namespace, its
// input a pipe and its output kept.
type liveConsole struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	done chan error

	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{}
}

func (w *liveConsole) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(p)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(p), nil
}

// startConsole runs "wwctl node console NODE" until the test ends.
func (tc *testCluster) startConsole(ctx context.Context, node string) *liveConsole {
	tc.t.Helper()
	c := &liveConsole{done: make(chan error, 1), changed: make(chan struct{})}
	c.cmd = tc.Netns().Command(ctx, filepath.Join(tc.BinDir(), "wwctl"), "--warewulfconf", tc.Conf, "node", "console", node)
	in, err := c.cmd.StdinPipe()
	if err != nil {
		tc.t.Fatal(err)
	}
	c.in = in
	c.cmd.Stdout, c.cmd.Stderr = c, c
	if err := c.cmd.Start(); err != nil {
		tc.t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	tc.t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		if tc.t.Failed() {
			tc.t.Logf("wwctl node console %s printed:\n%s", node, c.text())
		}
	})
	return c
}

func (c *liveConsole) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func (c *liveConsole) typeIn(s string) { _, _ = io.WriteString(c.in, s) }

// wait waits until the output matches re.
func (c *liveConsole) wait(ctx context.Context, re *regexp.Regexp) error {
	for {
		c.mu.Lock()
		ok, changed := re.Match(c.out.Bytes()), c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no %q in its output: %w", re, ctx.Err())
		case err := <-c.done:
			c.done <- err
			if re.MatchString(c.text()) {
				return nil
			}
			return fmt.Errorf("it ended (%v) without %q in its output", err, re)
		case <-changed:
		}
	}
}

// waitQuiet waits until the console has printed nothing for d, or ctx
// ends.
func (c *liveConsole) waitQuiet(ctx context.Context, d time.Duration) {
	for {
		c.mu.Lock()
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(d):
			return
		}
	}
}

// end waits for the console to exit, successfully, within limit.
func (c *liveConsole) end(limit time.Duration) error {
	select {
	case err := <-c.done:
		c.done <- err
		return err
	case <-time.After(limit):
		return fmt.Errorf("still running %v later", limit)
	}
}

// checkPower runs "wwctl ARGS -j" for node n1 and checks that its one
// row names n1 and its BMC, with the power state or result want.
func checkPower(t *testing.T, wwctl func(args ...string) (string, error), bmcAddr, want string, args ...string) {
	t.Helper()
	out, err := wwctl(append(args, "-j")...)
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]string
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("wwctl %s: %v:\n%s", strings.Join(args, " "), err, out)
	}
	if len(rows) != 1 || rows[0]["node"] != "n1" || rows[0]["bmc"] != bmcAddr {
		t.Fatalf("wwctl %s: want one row for n1 and its BMC %s, got %v", strings.Join(args, " "), bmcAddr, rows)
	}
	if got := rows[0]["power"] + rows[0]["result"]; got != want {
		t.Fatalf("wwctl %s: %q, want %q (%v)", strings.Join(args, " "), got, want, rows)
	}
}
