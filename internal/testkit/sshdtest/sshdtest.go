// Package sshdtest starts real OpenSSH servers for tests, each on an
// address of its own on loopback (127.X.Y.N: Linux answers the whole of
// 127.0.0.0/8 on lo), with a host key and a client key made for the test,
// and writes an ssh wrapper that reaches them and nothing else: what a
// test gives "wwctl ssh --rsh".
package sshdtest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const sshd = "/usr/sbin/sshd"

// privsepDir is Debian's sshd's compiled-in privilege separation
// directory.
const privsepDir = "/run/sshd"

// Cluster is a set of sshd servers and the client set-up that reaches
// them.
type Cluster struct {
	// Addrs are the servers' addresses, Addrs[i] for server i; Down are
	// addresses in the same range where nothing listens.
	Addrs []netip.Addr
	Down  []netip.Addr
	// Rsh is an executable that runs ssh as root with the test's key,
	// the servers' ports and their host keys: Rsh ADDRESS COMMAND...
	Rsh string
}

// Start starts n servers (and reserves down addresses without one).
// It skips the test when sshd is not installed or the test is not root
// (sshd logs in as the user it runs as only when it is root). The
// servers stop when the test ends.
func Start(t *testing.T, n, down int) *Cluster {
	t.Helper()
	if _, err := os.Stat(sshd); err != nil {
		t.Skipf("no %s (openssh-server; scripts/deps.sh installs it)", sshd)
	}
	if os.Geteuid() != 0 {
		t.Skip("sshd lets a test log in only when run as root")
	}
	// sshd refuses to start without its privilege separation directory,
	// which systemd makes when the ssh service starts. On a machine
	// where openssh-server was installed but never started (a fresh
	// root, a container), there is none: make it as the service would.
	if err := os.MkdirAll(privsepDir, 0o755); err != nil {
		t.Fatalf("sshd's privilege separation directory: %v", err)
	}
	dir := t.TempDir()
	keygen(t, filepath.Join(dir, "id_ed25519"))
	clientPub := read(t, filepath.Join(dir, "id_ed25519.pub"))
	authorized := filepath.Join(dir, "authorized_keys")
	write(t, authorized, clientPub, 0o600)

	// A random /16 of loopback keeps concurrent tests apart.
	base := [4]byte{127, byte(1 + rand.IntN(250)), byte(rand.IntN(256)), 0}
	c := &Cluster{}
	var sshConfig, knownHosts strings.Builder
	fmt.Fprintf(&sshConfig, "GlobalKnownHostsFile /dev/null\nUserKnownHostsFile %s/known_hosts\n", dir)
	for i := range n + down {
		b := base
		b[3] = byte(10 + i)
		addr := netip.AddrFrom4(b)
		port := freePort(t, addr)
		fmt.Fprintf(&sshConfig, "Host %s\n  Port %d\n", addr, port)
		if i >= n {
			c.Down = append(c.Down, addr)
			continue
		}
		c.Addrs = append(c.Addrs, addr)
		sdir := filepath.Join(dir, addr.String())
		if err := os.Mkdir(sdir, 0o700); err != nil {
			t.Fatal(err)
		}
		hostKey := filepath.Join(sdir, "ssh_host_ed25519_key")
		keygen(t, hostKey)
		fmt.Fprintf(&knownHosts, "[%s]:%d %s", addr, port, read(t, hostKey+".pub"))
		conf := filepath.Join(sdir, "sshd_config")
		write(t, conf, fmt.Sprintf(`ListenAddress %s:%d
HostKey %s
AuthorizedKeysFile %s
PidFile none
UsePAM no
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel ERROR
`, addr, port, hostKey, authorized), 0o600)
		startServer(t, conf, netip.AddrPortFrom(addr, uint16(port)))
	}
	sshConfig.WriteString(`Host *
  User root
  IdentityFile ` + dir + `/id_ed25519
  IdentitiesOnly yes
  BatchMode yes
  StrictHostKeyChecking yes
  ConnectTimeout 10
  LogLevel ERROR
`)
	write(t, filepath.Join(dir, "ssh_config"), sshConfig.String(), 0o600)
	write(t, filepath.Join(dir, "known_hosts"), knownHosts.String(), 0o600)
	c.Rsh = filepath.Join(dir, "rsh")
	write(t, c.Rsh, "#!/bin/sh\nexec ssh -F "+dir+"/ssh_config \"$@\"\n", 0o755)
	return c
}

func startServer(t *testing.T, conf string, at netip.AddrPort) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, sshd, "-D", "-e", "-f", conf)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start sshd: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", at.String(), time.Second)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("sshd on %s exited: %s", at, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd on %s does not answer: %v", at, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort finds a port nothing listens on at addr.
func freePort(t *testing.T, addr netip.Addr) int {
	t.Helper()
	l, err := net.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func keygen(t *testing.T, path string) {
	t.Helper()
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func write(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
