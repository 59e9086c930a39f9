// Package bmcsim runs BMCs for tests: OpenIPMI's simulator ipmi_sim on a
// loopback UDP port, whose chassis control (power, reset, boot device,
// identify) is a script that records every call and keeps the state in
// files; and two broken BMCs, one that never answers and one that
// answers garbage.
package bmcsim

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	dir string
}

// Start runs ipmi_sim for the test on 127.0.0.1 and a free port, and
// stops it at the end of the test. It skips the test when ipmi_sim is
// not installed (Debian's openipmi package, which scripts/deps.sh
// installs).
func Start(t testing.TB) *Sim {
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
func Silent(t testing.TB) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// Garbage returns the port of a UDP server that answers every datagram
// with answer (bytes that are not IPMI).
func Garbage(t testing.TB, answer []byte) int {
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
			_, _ = c.WriteTo(answer, from)
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
