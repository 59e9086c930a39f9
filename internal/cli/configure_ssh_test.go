package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"

	"github.com/wwboot/wwboot/internal/sshca"
)

// hostCert reads a node's certificate of a key type.
func hostCert(t *testing.T, tr *tree, node, keyType string) *ssh.Certificate {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(tr.root, "etc/warewulf/keys/nodes", node, "ssh_host_"+keyType+"_key-cert.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		t.Fatal(err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("%s's %s certificate is a %T", node, keyType, pub)
	}
	return cert
}

// TestConfigureSSH: configure ssh creates the authority once, a key and
// a certificate for each node with its names and addresses, signs again
// what changed, trusts the authority in the server's ssh_known_hosts
// once; an overlay build gives a node added later its keys too.
func TestConfigureSSH(t *testing.T) {
	tr := newTree(t, "")
	tr.appendConf("ssh:\n  key types: [ed25519, dsa]\n")
	tr.mustRun("node", "add", "n[1-2]", "--ipaddr", "10.0.1.1", "-N", "eth0")
	keys := filepath.Join(tr.root, "etc/warewulf/keys")
	knownHosts := filepath.Join(tr.root, "etc/ssh/ssh_known_hosts")

	out := tr.mustRun("configure", "ssh")
	caPub, err := os.ReadFile(filepath.Join(keys, "ssh_host_ca_key.pub"))
	if err != nil {
		t.Fatal(err)
	}
	line := "@cert-authority * " + string(caPub)
	want := strings.Join([]string{
		"Skipped key type dsa (ssh: key types): keys are made of ed25519, ecdsa and rsa only",
		"Created " + filepath.Join(keys, "ssh_host_ca_key") + " (the cluster's ssh host certificate authority)",
		"Created ed25519 host keys of n1 in " + filepath.Join(keys, "nodes/n1"),
		"Signed ed25519 host certificates of n1 for 10.0.1.1 n1 n1-default n1-eth0",
		"Created ed25519 host keys of n2 in " + filepath.Join(keys, "nodes/n2"),
		"Signed ed25519 host certificates of n2 for 10.0.1.2 n2 n2-default n2-eth0",
		"Added to " + knownHosts + ": " + strings.TrimSuffix(line, "\n"),
		"Created " + filepath.Join(tr.root, "home/.ssh/id_ed25519"),
		"Added " + filepath.Join(tr.root, "home/.ssh/id_ed25519.pub") + " to " + filepath.Join(tr.root, "home/.ssh/authorized_keys"),
	}, "\n") + "\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Errorf("first run (-want +got):\n%s", diff)
	}
	if st, err := os.Stat(filepath.Join(keys, "ssh_host_ca_key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("authority key: %v, mode %v", err, st.Mode().Perm())
	}
	ca, _, _, _, err := ssh.ParseAuthorizedKey(caPub)
	if err != nil {
		t.Fatal(err)
	}
	for node, principals := range map[string][]string{
		"n1": {"10.0.1.1", "n1", "n1-default", "n1-eth0"},
		"n2": {"10.0.1.2", "n2", "n2-default", "n2-eth0"},
	} {
		cert := hostCert(t, tr, node, "ed25519")
		if diff := cmp.Diff(principals, cert.ValidPrincipals); diff != "" {
			t.Errorf("%s principals (-want +got):\n%s", node, diff)
		}
		if cert.CertType != ssh.HostCert || string(cert.SignatureKey.Marshal()) != string(ca.Marshal()) {
			t.Errorf("%s: certificate type %d, not signed by the authority", node, cert.CertType)
		}
	}
	if got, _ := os.ReadFile(knownHosts); string(got) != line {
		t.Errorf("known hosts %q, want %q", got, line)
	}

	// Again: nothing to do, nothing said, nothing changed.
	key1, _ := os.ReadFile(filepath.Join(keys, "nodes/n1/ssh_host_ed25519_key"))
	if out := tr.mustRun("configure", "ssh"); out != "Skipped key type dsa (ssh: key types): keys are made of ed25519, ecdsa and rsa only\n" {
		t.Errorf("second run: %q", out)
	}
	if again, _ := os.ReadFile(filepath.Join(keys, "ssh_host_ca_key.pub")); string(again) != string(caPub) {
		t.Error("the authority was replaced")
	}
	if got, _ := os.ReadFile(knownHosts); string(got) != line {
		t.Errorf("known hosts after a second run %q", got)
	}

	// n1 moves: its certificate follows, its key stays.
	tr.mustRun("node", "set", "n1", "--ipaddr", "10.0.9.1", "--yes")
	out = tr.mustRun("configure", "ssh", "--keytypes", "ed25519")
	if want := "Signed ed25519 host certificates of n1 for 10.0.9.1 n1 n1-default n1-eth0\n"; out != want {
		t.Errorf("after n1 moved: %q, want %q", out, want)
	}
	if now, _ := os.ReadFile(filepath.Join(keys, "nodes/n1/ssh_host_ed25519_key")); string(now) != string(key1) {
		t.Error("n1's key changed with its address")
	}

	// A node added later gets its keys from the overlay build alone.
	tr.mustRun("node", "add", "n3", "--ipaddr", "10.0.1.3", "--system-overlays", "ssh.host_keys")
	tr.mustRun("overlay", "build", "n3")
	if diff := cmp.Diff([]string{"10.0.1.3", "n3", "n3-default"}, hostCert(t, tr, "n3", "ed25519").ValidPrincipals); diff != "" {
		t.Errorf("n3 principals after its build (-want +got):\n%s", diff)
	}

	if _, _, err := tr.run("", "configure", "ssh", "--keytypes", "dsa"); err == nil || !strings.Contains(err.Error(), `"dsa" is not one of`) {
		t.Errorf("--keytypes dsa: %v", err)
	}
}

// TestConfigureSSHUserKey: configure ssh gives root a key pair and an
// authorized_keys holding its public key, as Warewulf does, filling only
// what is missing: an existing key of a later type is used, not replaced;
// keys already authorized are kept and not added twice.
func TestConfigureSSHUserKey(t *testing.T) {
	for _, tc := range []struct {
		name       string
		existing   map[string]string // files in ~/.ssh before
		wantKey    string            // the key pair used
		wantMade   bool
		wantOthers []string // lines authorized_keys keeps
	}{
		{name: "nothing there", wantKey: "id_ed25519", wantMade: true},
		{name: "a key of a later type", existing: map[string]string{"id_rsa": "rsa"}, wantKey: "id_rsa"},
		{name: "authorized_keys of other keys", existing: map[string]string{"authorized_keys": "admin"},
			wantKey: "id_ed25519", wantMade: true, wantOthers: []string{"admin"}},
		{name: "all there", existing: map[string]string{"id_ed25519": "ed25519", "authorized_keys": "id_ed25519"},
			wantKey: "id_ed25519"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.appendConf("ssh:\n  key types: [dsa, ed25519, rsa]\n")
			dir := filepath.Join(tr.root, "home/.ssh")
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			lines := map[string]string{} // authorized_keys lines of the keys made here
			for _, name := range []string{"id_ed25519", "id_rsa", "admin"} {
				typ := map[string]string{"id_ed25519": "ed25519", "id_rsa": "rsa", "admin": "ed25519"}[name]
				priv, pub, err := sshca.GenerateKey(typ, "made-by-test-"+name)
				if err != nil {
					t.Fatal(err)
				}
				lines[name] = string(pub)
				if tc.existing[name] != "" {
					writeFile(t, filepath.Join(dir, name), string(priv), 0o600)
					writeFile(t, filepath.Join(dir, name+".pub"), string(pub), 0o644)
				}
			}
			if who := tc.existing["authorized_keys"]; who != "" {
				writeFile(t, filepath.Join(dir, "authorized_keys"), "# keep me\n"+lines[who], 0o600)
			}

			out := tr.mustRun("configure", "ssh")
			key := filepath.Join(dir, tc.wantKey)
			if got := strings.Contains(out, "Created "+key+"\n"); got != tc.wantMade {
				t.Errorf("made %s: %v, want %v:\n%s", key, got, tc.wantMade, out)
			}
			pub, err := os.ReadFile(key + ".pub")
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantMade {
				if priv, err := os.ReadFile(key); err != nil || !strings.HasPrefix(string(priv), "-----BEGIN OPENSSH PRIVATE KEY-----") {
					t.Errorf("private key: %v", err)
				}
				if st, err := os.Stat(key); err != nil || st.Mode().Perm() != 0o600 {
					t.Errorf("private key mode: %v %v", err, st.Mode().Perm())
				}
			}
			auth, err := os.ReadFile(filepath.Join(dir, "authorized_keys"))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(auth), strings.Fields(string(pub))[1]); n != 1 {
				t.Errorf("authorized_keys holds the key %d times:\n%s", n, auth)
			}
			for _, other := range tc.wantOthers {
				if !strings.Contains(string(auth), "# keep me\n"+lines[other]) {
					t.Errorf("authorized_keys lost %s:\n%s", other, auth)
				}
			}
			if st, _ := os.Stat(filepath.Join(dir, "authorized_keys")); st.Mode().Perm() != 0o600 {
				t.Errorf("authorized_keys mode %v", st.Mode().Perm())
			}
			// Nothing left to do the second time.
			if again := tr.mustRun("configure", "ssh"); strings.Contains(again, dir) {
				t.Errorf("second run: %s", again)
			}
		})
	}
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}
