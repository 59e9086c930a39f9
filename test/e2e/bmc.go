package e2e

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
)

//go:embed bmcchassis.sh
var bmcChassisScript []byte

// BMC user and password of the simulated BMCs.
const (
	BMCUser     = "admin"
	BMCPassword = "e2e-bmc-secret"
)

// BMC is OpenIPMI's simulator ipmi_sim as the BMC of one VM, inside the
// cluster's namespace: its LAN interface answers IPMI on ServerIP and
// Port (UDP), its chassis power control starts and stops the VM's QEMU
// (bmcchassis.sh), QEMU's ipmi-bmc-extern device connects the guest's
// KCS interface to it, and its serial over LAN is the VM's serial port.
type BMC struct {
	// Port is the BMC's UDP port on ServerIP.
	Port int
	dir  string
	proc *Proc
}

// Calls returns the chassis controls the BMC was asked for, a line
// each ("set power 1", "set boot pxe", ...).
func (b *BMC) Calls() []string {
	data, _ := os.ReadFile(filepath.Join(b.dir, "calls"))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// Log is ipmi_sim's output, for failure messages.
func (b *BMC) Log() string { return tailFile(filepath.Join(b.dir, "ipmi_sim.log"), 20) }

// bmcPorts are the ports of BMC number i inside the namespace: its LAN
// interface (UDP, ServerIP), and on the namespace's loopback the VM
// connection QEMU makes to it and the serial port QEMU offers its SOL.
func bmcPorts(i int) (lan, vmConn, serial int) { return 6230 + i, 9002 + 2*i, 9003 + 2*i }

// StartBMC makes the BMC of a VM with options o and starts the
// simulator; the VM is off until the BMC powers it on. The VM's console
// is what QEMU's serial port writes, from the first power on; Close
// stops both.
func (c *Cluster) StartBMC(ctx context.Context, o VMOptions) (*BMC, *VM, error) {
	if c.ns == nil {
		return nil, nil, errors.New("start the cluster before its BMCs")
	}
	if _, err := exec.LookPath("ipmi_sim"); err != nil {
		return nil, nil, fmt.Errorf("ipmi_sim is not installed (Debian's openipmi; scripts/deps.sh --e2e installs it): %w", err)
	}
	c.mu.Lock()
	i := len(c.bmcs)
	c.mu.Unlock()
	lan, vmConn, serial := bmcPorts(i)
	dir := filepath.Join(c.opts.Dir, "vms", o.Name)
	bmcDir := filepath.Join(dir, "bmc")
	if err := os.MkdirAll(filepath.Join(bmcDir, "state"), 0o755); err != nil {
		return nil, nil, err
	}
	tap, err := c.ns.AddTap(ctx)
	if err != nil {
		return nil, nil, err
	}
	serialLog := filepath.Join(dir, "serial.raw")
	args, err := qemuArgs(dir, tapNetdev(tap), c.accel, o,
		"-chardev", fmt.Sprintf("socket,id=s0,host=127.0.0.1,port=%d,server=on,wait=off,logfile=%s,logappend=on", serial, serialLog),
		"-serial", "chardev:s0",
		"-chardev", fmt.Sprintf("socket,id=ipmi0,host=127.0.0.1,port=%d,reconnect=1", vmConn),
		"-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0",
		"-device", "isa-ipmi-kcs,bmc=bmc0")
	if err != nil {
		return nil, nil, err
	}
	quoted := make([]string, len(args))
	for j, a := range args {
		quoted[j] = shellQuote(a)
	}
	start := "#!/bin/sh\n# QEMU of " + o.Name + ", run by its BMC's chassis control.\nexec " + strings.Join(quoted, " ") + "\n"
	conf := fmt.Sprintf(`# ipmi_sim as the BMC of VM %s (made by the e2e harness)
name "%s"
set_working_mc 0x20
  startlan 1
    addr %s %d
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcd%02x
  endlan
  serial 15 127.0.0.1 %d codec VM
  chassis_control "%s %s"
  sol "tcp:127.0.0.1:%d" 115200
  user 2 true "%s" "%s" admin 10 md5
`, o.Name, o.Name, ServerIP, lan, i, vmConn, filepath.Join(bmcDir, "chassis.sh"), bmcDir, serial, BMCUser, BMCPassword)
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"start.sh", []byte(start), 0o755},
		{"chassis.sh", bmcChassisScript, 0o755},
		{"lan.conf", []byte(conf), 0o644},
		{"sim.emu", bmcsim.Emu(), 0o644},
	} {
		if err := os.WriteFile(filepath.Join(bmcDir, f.name), f.data, f.mode); err != nil {
			return nil, nil, err
		}
	}
	simLog, err := os.Create(filepath.Join(bmcDir, "ipmi_sim.log"))
	if err != nil {
		return nil, nil, err
	}
	defer simLog.Close()
	cmd := c.ns.Command(context.Background(), "ipmi_sim", "-n", "-c", filepath.Join(bmcDir, "lan.conf"),
		"-f", filepath.Join(bmcDir, "sim.emu"), "-s", filepath.Join(bmcDir, "state"))
	cmd.Dir = bmcDir
	cmd.Stdout, cmd.Stderr = simLog, simLog
	proc, err := startProc("ipmi_sim "+o.Name, cmd, c.log)
	if err != nil {
		return nil, nil, err
	}
	b := &BMC{Port: lan, dir: bmcDir, proc: proc}

	vm := &VM{Name: o.Name, MAC: o.MAC, ConsoleFile: filepath.Join(dir, "console.log"), copied: make(chan struct{}),
		proc: &pidFileProc{name: "qemu " + o.Name, path: filepath.Join(bmcDir, "pid"), log: c.log}}
	consoleFile, err := os.Create(vm.ConsoleFile)
	if err != nil {
		_ = proc.Stop(5 * time.Second)
		return nil, nil, err
	}
	vm.Started = time.Now()
	vm.Console = newConsole(vm.Started)
	follow := newFollower(serialLog)
	vm.stopConsole = follow.stop
	go func() {
		defer close(vm.copied)
		vm.Console.copyFrom(follow, consoleFile)
		consoleFile.Close()
	}()
	c.mu.Lock()
	c.bmcs = append(c.bmcs, b)
	c.vms = append(c.vms, vm)
	c.mu.Unlock()
	c.log.Info("BMC up", "vm", o.Name, "bmc", fmt.Sprintf("%s:%d", ServerIP, lan), "mac", o.MAC, "tap", tap)
	return b, vm, nil
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_=,.:/+@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// pidFileProc is a process someone else started, known by the PID in a
// file: a VM that its BMC powers on and off.
type pidFileProc struct {
	name, path string
	log        *slog.Logger
}

// PID is the process's, 0 when none was started.
func (p *pidFileProc) PID() int {
	data, err := os.ReadFile(p.path)
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	return pid
}

// Exited reports whether no process runs (one never started counts).
func (p *pidFileProc) Exited() (bool, error) { return !alive(p.PID()), nil }

// Stop sends SIGTERM, waits up to grace, then kills.
func (p *pidFileProc) Stop(grace time.Duration) error {
	pid := p.PID()
	if !alive(pid) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for _, wait := range []time.Duration{grace, 10 * time.Second} {
		deadline := time.Now().Add(wait)
		for time.Now().Before(deadline) {
			if !alive(pid) {
				p.log.Info("stopped", "proc", p.name, "pid", pid)
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
		p.log.Warn("did not stop in time; killing", "proc", p.name, "pid", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	return fmt.Errorf("%s (pid %d) survived SIGKILL", p.name, pid)
}

// alive reports whether pid is a process that has not exited (a zombie
// has).
func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses, which may hold
	// anything.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] != 'Z'
}

// follower reads a file as it grows, until stopped: then to its end.
type follower struct {
	path    string
	f       *os.File
	once    sync.Once
	stopped chan struct{}
}

func newFollower(path string) *follower { return &follower{path: path, stopped: make(chan struct{})} }

func (f *follower) stop() { f.once.Do(func() { close(f.stopped) }) }

func (f *follower) Read(p []byte) (int, error) {
	for {
		if f.f == nil {
			if file, err := os.Open(f.path); err == nil {
				f.f = file
			}
		}
		if f.f != nil {
			n, err := f.f.Read(p)
			if n > 0 || err != nil && !errors.Is(err, io.EOF) {
				return n, err
			}
		}
		select {
		case <-f.stopped:
			if f.f != nil {
				if n, _ := f.f.Read(p); n > 0 {
					return n, nil
				}
				f.f.Close()
			}
			return 0, io.EOF
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// WwctlIn runs wwctl inside the cluster's namespace (where the BMCs
// are), with stdin, and returns its standard output.
func (c *Cluster) WwctlIn(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := c.ns.Command(ctx, append([]string{filepath.Join(c.opts.Bin, "wwctl"), "--warewulfconf", c.Conf}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("wwctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}
