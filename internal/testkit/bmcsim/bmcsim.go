// Package bmcsim runs BMCs for tests: OpenIPMI's simulator ipmi_sim on a
// loopback UDP port, whose chassis control (power, reset, boot device,
// identify) is a script that records every call and keeps the state in
// files, and whose serial over LAN may be a Serial (a TCP server that
// plays the node's serial port); and two broken BMCs, one that never
// answers and one that answers garbage.
package bmcsim

import (
	"bytes"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

//go:embed chassis.sh
var chassisScript []byte

//go:embed sim.emu
var emu []byte

// User and Password are the simulator's administrator.
const (
	User     = "admin"
	Password = "ipmi-secret"
)

// Sim is one running ipmi_sim.
type Sim struct {
	Port int
	// dir holds the chassis state: one file per parameter (power, boot,
	// identify, ...) and "calls", one line per chassis control call.
	dir  string
	proc *os.Process
}

// Start runs ipmi_sim for the test on 127.0.0.1 and a free port, and
// stops it at the end of the test. It skips the test when ipmi_sim is
// not installed (Debian's openipmi package, which scripts/deps.sh
// installs).
func Start(t testing.TB) *Sim {
	t.Helper()
	return start(t, "")
}

// StartWithSerial is Start with serial over LAN: the simulator's SOL is
// the returned Serial, which it connects to over TCP at start.
func StartWithSerial(t testing.TB) (*Sim, *Serial) {
	t.Helper()
	if _, err := exec.LookPath("ipmi_sim"); err != nil {
		t.Skip("ipmi_sim is not installed (apt-get install -y openipmi, or scripts/deps.sh); skipping the BMC simulator tests")
	}
	ser := newSerial(t)
	sim := start(t, ser.ln.Addr().String())
	return sim, ser
}

func start(t testing.TB, serial string) *Sim {
	t.Helper()
	bin, err := exec.LookPath("ipmi_sim")
	if err != nil {
		t.Skip("ipmi_sim is not installed (apt-get install -y openipmi, or scripts/deps.sh); skipping the BMC simulator tests")
	}
	dir := t.TempDir()
	s := &Sim{Port: freeUDPPort(t), dir: filepath.Join(dir, "chassis")}
	if err := os.Mkdir(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "chassis.sh")
	must(t, os.WriteFile(script, chassisScript, 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "sim.emu"), emu, 0o644))
	conf := fmt.Sprintf(`name "sim"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 %d
    priv_limit admin
    allowed_auths_callback md5
    allowed_auths_user md5
    allowed_auths_operator md5
    allowed_auths_admin md5
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "%s %s"
  user 2 true "%s" "%s" admin 10 md5
`, s.Port, script, s.dir, User, Password)
	if serial != "" {
		// After the user: ipmi_sim misreads the line that follows a sol
		// line. "tcp:" is the plain TCP form ("telnet:" would speak
		// telnet); ipmi_sim connects at start, and drops what the port
		// says while no console is active.
		conf += fmt.Sprintf("  sol \"tcp:%s\" 115200\n", serial)
	}
	must(t, os.WriteFile(filepath.Join(dir, "lan.conf"), []byte(conf), 0o644))
	state := filepath.Join(dir, "state")
	must(t, os.Mkdir(state, 0o755))
	log, err := os.Create(filepath.Join(dir, "ipmi_sim.log"))
	must(t, err)
	defer log.Close()
	cmd := exec.Command(bin, "-n", "-c", filepath.Join(dir, "lan.conf"), "-f", filepath.Join(dir, "sim.emu"), "-s", state)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start ipmi_sim: %v", err)
	}
	s.proc = cmd.Process
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	// It is up when its UDP port is taken.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", s.Port))
		if err != nil {
			break
		}
		c.Close()
		select {
		case <-done:
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("ipmi_sim exited: %s", out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("ipmi_sim did not open its port in 10 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// Pause stops the simulator (SIGSTOP): a BMC that no longer answers,
// with its sessions and console kept, until Resume.
func (s *Sim) Pause(t testing.TB) {
	t.Helper()
	must(t, s.proc.Signal(syscall.SIGSTOP))
}

// Resume lets a paused simulator go on (SIGCONT).
func (s *Sim) Resume(t testing.TB) {
	t.Helper()
	must(t, s.proc.Signal(syscall.SIGCONT))
}

// State is the chassis parameter name as the simulator last set it
// (power "1" or "0", boot "pxe", identify "...", ...), "" if never.
func (s *Sim) State(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, name))
	return strings.TrimSpace(string(b))
}

// SetState sets a chassis parameter, as the machine would (power "1").
func (s *Sim) SetState(t testing.TB, name, value string) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(s.dir, name), []byte(value+"\n"), 0o644))
}

// Calls are the chassis control calls of the "set" kind, in order
// ("power 1", "boot pxe"), the reads left out.
func (s *Sim) Calls() []string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "calls"))
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if v, ok := strings.CutPrefix(l, "set "); ok {
			out = append(out, v)
		}
	}
	return out
}

// Silent returns the port of a UDP socket that reads and never answers:
// a BMC that is down behind a live address.
func Silent(t testing.TB) int { return udpBMC(t, nil) }

// Garbage returns the port of a UDP server that answers every datagram
// with answer (bytes that are not IPMI).
func Garbage(t testing.TB, answer []byte) int { return udpBMC(t, answer) }

// udpBMC serves a loopback UDP port until the test ends, answering
// every datagram with answer (nil: never answering).
func udpBMC(t testing.TB, answer []byte) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			_, from, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			if answer != nil {
				_, _ = c.WriteTo(answer, from)
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func freeUDPPort(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Serial plays a node's serial port for the simulator's serial over LAN:
// it records what reaches the port (what a console's user typed) and
// writes what the node prints.
type Serial struct {
	ln net.Listener

	mu    sync.Mutex
	conn  net.Conn
	typed bytes.Buffer
	// up is closed at the first connection.
	up chan struct{}
}

func newSerial(t testing.TB) *Serial {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	s := &Serial{ln: ln, up: make(chan struct{})}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		first := true
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			if s.conn != nil {
				s.conn.Close()
			}
			s.conn = c
			s.mu.Unlock()
			if first {
				close(s.up)
				first = false
			}
			wg.Go(func() {
				buf := make([]byte, 512)
				for {
					n, err := c.Read(buf)
					s.mu.Lock()
					s.typed.Write(buf[:n])
					s.mu.Unlock()
					if err != nil {
						return
					}
				}
			})
		}
	})
	return s
}

// Write writes text to the serial port, as the node prints it: it
// reaches an active console (the simulator drops it otherwise).
func (s *Serial) Write(t testing.TB, text string) {
	t.Helper()
	select {
	case <-s.up:
	case <-time.After(10 * time.Second):
		t.Fatal("the simulator did not connect to the serial port in 10 s")
	}
	s.mu.Lock()
	c := s.conn
	s.mu.Unlock()
	if _, err := c.Write([]byte(text)); err != nil {
		t.Fatalf("write to the serial port: %v", err)
	}
}

// Typed is everything that reached the serial port so far.
func (s *Serial) Typed() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.typed.String()
}

// WaitTyped waits up to timeout for the serial port to have received
// want, and reports whether it has.
func (s *Serial) WaitTyped(want string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(s.Typed(), want) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}
