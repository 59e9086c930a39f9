package overlays

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/sshca"
)

// The two ends of the test's veth pair: n1 (sshd) and a client.
const (
	sshNodeIP   = "10.213.7.1"
	sshClientIP = "10.213.7.2"
)

// TestOpenSSHTrustsNodeCertificates renders n1's ssh.host_keys overlay
// as a build would, runs the real sshd with the host keys, certificates
// and sshd_config.d file it rendered in one network namespace, and the
// real ssh client in another, trusting only the known_hosts it rendered:
// n1's key is accepted for n1's address and name, and not for another
// node's name; a key without a certificate, or certified by another
// authority, is refused.
func TestOpenSSHTrustsNodeCertificates(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces and run sshd")
	}
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/sshd"); err != nil {
			t.Skip("no sshd (Debian package openssh-server)")
		}
		sshd = "/usr/sbin/sshd"
	}
	if _, err := exec.LookPath("ssh"); err != nil {
		t.Skip("no ssh (Debian package openssh-client)")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	nodeNS, clientNS := sshNamespaces(t)

	// The server: the cluster's authority, as "wwctl configure ssh" makes it.
	server := t.TempDir()
	keys := sshca.Keys{Dir: filepath.Join(server, "etc/warewulf/keys")}
	if _, err := keys.CreateCA(ctx); err != nil {
		t.Fatal(err)
	}
	nodes := "nodes:\n  n1:\n    network devices:\n      default:\n        device: eth0\n        ipaddr: " + sshNodeIP +
		"\n        netmask: 255.255.255.0\n  n2:\n    network devices:\n      default:\n        ipaddr: 10.213.7.3\n"
	snap := newSnapshot(t, server, "ssh:\n  key types: [ed25519, ecdsa]\n", nodes)
	r, err := snap.Renderer("ssh.host_keys")
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(snap.Node("n1"), "", []string{"ssh.host_keys"})
	if err != nil {
		t.Fatal(err)
	}
	n1 := writeTree(t, out.Tree)

	// What the rendered sshd_config.d file makes sshd present.
	conf, err := os.ReadFile(filepath.Join(n1, "etc/ssh/sshd_config.d/wwboot-host-certificate.conf"))
	if err != nil {
		t.Fatalf("no sshd configuration rendered: %v", err)
	}
	var certs []string
	for _, line := range strings.Split(string(conf), "\n") {
		if p, ok := strings.CutPrefix(line, "HostCertificate "); ok {
			certs = append(certs, filepath.Join(n1, p))
		}
	}
	if len(certs) != 2 {
		t.Fatalf("sshd configuration names %d certificates, want 2:\n%s", len(certs), conf)
	}
	knownHosts := filepath.Join(n1, "etc/ssh/ssh_known_hosts")
	n1Keys := []string{filepath.Join(n1, "etc/ssh/ssh_host_ed25519_key"), filepath.Join(n1, "etc/ssh/ssh_host_ecdsa_key")}

	// A key without a certificate, and n1's names certified by another
	// authority.
	other := t.TempDir()
	bare := filepath.Join(other, "ssh_host_ed25519_key")
	private, _, err := sshca.GenerateKey("ed25519", "root@impostor")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bare, private, 0o600); err != nil {
		t.Fatal(err)
	}
	rogue := sshca.Keys{Dir: filepath.Join(other, "keys")}
	if _, err := rogue.CreateCA(ctx); err != nil {
		t.Fatal(err)
	}
	rogueKeys, _, err := rogue.EnsureNode(ctx, "n1", []string{"ed25519"}, overlay.HostPrincipals(snap.Node("n1")))
	if err != nil {
		t.Fatal(err)
	}

	// The user who logs in.
	user := t.TempDir()
	userKey := filepath.Join(user, "id_ed25519")
	private, public, err := sshca.GenerateKey("ed25519", "admin@server")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(userKey, private, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(user, "authorized_keys"), public, 0o600); err != nil {
		t.Fatal(err)
	}
	// Debian's sshd wants its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name     string
		hostKeys []string
		certs    []string
		alias    string // the name ssh checks the host key for; "" is the address
		wantOK   bool
	}{
		{name: "n1's rendered keys, by address", hostKeys: n1Keys, certs: certs, wantOK: true},
		{name: "n1's rendered keys, by name", hostKeys: n1Keys, certs: certs, alias: "n1", wantOK: true},
		{name: "n1's keys taken to pass for n2", hostKeys: n1Keys, certs: certs, alias: "n2"},
		{name: "a key without a certificate", hostKeys: []string{bare}},
		{name: "a key certified by another authority", hostKeys: []string{rogueKeys[0].Path},
			certs: []string{rogueKeys[0].Path + "-cert.pub"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := []string{"Port 22", "ListenAddress " + sshNodeIP, "PidFile none", "UsePAM no", "StrictModes no",
				"PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
				"AuthorizedKeysFile " + filepath.Join(user, "authorized_keys")}
			for _, k := range tc.hostKeys {
				cfg = append(cfg, "HostKey "+k)
			}
			for _, c := range tc.certs {
				cfg = append(cfg, "HostCertificate "+c)
			}
			cfgPath := filepath.Join(dir, "sshd_config")
			if err := os.WriteFile(cfgPath, []byte(strings.Join(cfg, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			logs := startSSHD(ctx, t, nodeNS, sshd, cfgPath)

			args := []string{"netns", "exec", clientNS, "ssh", "-F", "/dev/null", "-i", userKey, "-o", "IdentitiesOnly=yes",
				"-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=/dev/null",
				"-o", "GlobalKnownHostsFile=" + knownHosts, "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR"}
			if tc.alias != "" {
				args = append(args, "-o", "HostKeyAlias="+tc.alias)
			}
			args = append(args, "root@"+sshNodeIP, "true")
			got, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
			switch {
			case tc.wantOK && err != nil:
				t.Errorf("ssh: %v\n%s\nsshd:\n%s", err, got, logs())
			case !tc.wantOK && err == nil:
				t.Errorf("ssh connected; want the host key refused\nsshd:\n%s", logs())
			case !tc.wantOK && !strings.Contains(string(got), "Host key verification failed"):
				t.Errorf("ssh failed otherwise than on the host key: %v\n%s\nsshd:\n%s", err, got, logs())
			}
		})
	}
}

// writeTree writes a rendered tree's files below a new directory, with
// their modes, and returns it.
func writeTree(t *testing.T, tree overlay.Tree) string {
	t.Helper()
	dir := t.TempDir()
	for _, e := range tree.Sorted() {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		switch e.Kind {
		case overlay.KindDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case overlay.KindFile:
			if err := os.WriteFile(p, e.Data, e.Mode.Perm()); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// sshNamespaces makes two network namespaces joined by a veth pair, n1's
// end at sshNodeIP and the client's at sshClientIP, removed when the
// test ends.
func sshNamespaces(t *testing.T) (nodeNS, clientNS string) {
	t.Helper()
	tag := fmt.Sprintf("%d-%x", os.Getpid(), time.Now().UnixNano()&0xffffff)
	nodeNS, clientNS = "wwsshn-"+tag, "wwsshc-"+tag
	t.Cleanup(func() {
		for _, ns := range []string{nodeNS, clientNS} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil &&
				!strings.Contains(string(out), "No such file") {
				t.Errorf("remove namespace %s: %v: %s", ns, err, out)
			}
		}
	})
	for _, args := range [][]string{
		{"netns", "add", nodeNS},
		{"netns", "add", clientNS},
		{"link", "add", "node0", "netns", nodeNS, "type", "veth", "peer", "name", "client0", "netns", clientNS},
		{"-n", nodeNS, "addr", "add", sshNodeIP + "/24", "dev", "node0"},
		{"-n", clientNS, "addr", "add", sshClientIP + "/24", "dev", "client0"},
		{"-n", nodeNS, "link", "set", "node0", "up"},
		{"-n", clientNS, "link", "set", "client0", "up"},
		{"-n", nodeNS, "link", "set", "lo", "up"},
		{"-n", clientNS, "link", "set", "lo", "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nodeNS, clientNS
}

// startSSHD runs sshd in the foreground in namespace ns until the test
// ends, waits until it listens, and returns a function giving its log.
func startSSHD(ctx context.Context, t *testing.T, ns, sshd, cfg string) func() string {
	t.Helper()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, sshd, "-D", "-e", "-f", cfg)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	listening := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		ok := false
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if !ok && strings.Contains(sc.Text(), "Server listening on") {
				ok = true
				listening <- true
			}
		}
		if !ok {
			listening <- false
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		<-done
	})
	select {
	case ok := <-listening:
		if !ok {
			<-done
			t.Fatalf("sshd did not start:\n%s", log.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("sshd did not listen within 30 s")
	}
	return func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
}
