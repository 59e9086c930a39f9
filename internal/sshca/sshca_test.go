package sshca

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
)

func newKeys(t *testing.T) Keys {
	t.Helper()
	k := Keys{Dir: filepath.Join(t.TempDir(), "keys")}
	if _, err := k.CreateCA(context.Background()); err != nil {
		t.Fatal(err)
	}
	return k
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// parseCert reads a certificate file.
func parseCert(t *testing.T, data []byte) *ssh.Certificate {
	t.Helper()
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		t.Fatal(err)
	}
	cert, ok := pub.(*ssh.Certificate)
	if !ok {
		t.Fatalf("%q is not a certificate", data)
	}
	return cert
}

func TestGenerateKey(t *testing.T) {
	for _, tc := range []struct {
		keyType, algo string
	}{
		{"ed25519", ssh.KeyAlgoED25519},
		{"ecdsa", ssh.KeyAlgoECDSA256},
		{"rsa", ssh.KeyAlgoRSA},
	} {
		t.Run(tc.keyType, func(t *testing.T) {
			private, public, err := GenerateKey(tc.keyType, "root@n1")
			if err != nil {
				t.Fatal(err)
			}
			signer, err := ssh.ParsePrivateKey(private)
			if err != nil {
				t.Fatal(err)
			}
			pub, comment, _, _, err := ssh.ParseAuthorizedKey(public)
			if err != nil {
				t.Fatal(err)
			}
			if pub.Type() != tc.algo || comment != "root@n1" || !bytes.Equal(pub.Marshal(), signer.PublicKey().Marshal()) {
				t.Errorf("public %q (%s, %q) does not go with the private key", public, pub.Type(), comment)
			}
		})
	}
	if _, _, err := GenerateKey("dsa", ""); err == nil {
		t.Error("a dsa key was made")
	}
}

func TestCreateCA(t *testing.T) {
	k := Keys{Dir: filepath.Join(t.TempDir(), "keys")}
	made, err := k.CreateCA(context.Background())
	if err != nil || !made {
		t.Fatalf("first CreateCA = %v, %v", made, err)
	}
	for p, mode := range map[string]os.FileMode{k.CAPath(): 0o600, k.CAPath() + ".pub": 0o644} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, mode %v, want %v", p, err, st.Mode().Perm(), mode)
		}
	}
	private, public := readFile(t, k.CAPath()), readFile(t, k.CAPath()+".pub")
	signer, err := ssh.ParsePrivateKey(private)
	if err != nil || signer.PublicKey().Type() != ssh.KeyAlgoED25519 {
		t.Fatalf("authority key: %v", err)
	}
	if made, err := k.CreateCA(context.Background()); err != nil || made {
		t.Errorf("second CreateCA = %v, %v; want the authority kept", made, err)
	}
	if !bytes.Equal(readFile(t, k.CAPath()), private) || !bytes.Equal(readFile(t, k.CAPath()+".pub"), public) {
		t.Error("the authority was replaced")
	}
	// A lost public half comes back from the private key.
	os.Remove(k.CAPath() + ".pub")
	if _, err := k.CreateCA(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, k.CAPath()+".pub"); !bytes.Equal(got, public) {
		t.Errorf("public key made again = %q, want %q", got, public)
	}
}

func TestEnsureNode(t *testing.T) {
	types := []string{"ed25519", "ecdsa"}
	principals := []string{"n1", "10.0.1.1", "n1-default", "n1"}
	wantPrincipals := []string{"10.0.1.1", "n1", "n1-default"}
	for _, tc := range []struct {
		name string
		// before changes the directory after a first EnsureNode.
		before      func(t *testing.T, k Keys)
		principals  []string
		wantSigned  []string
		wantNewKeys bool
	}{
		{name: "up to date: nothing written", before: func(*testing.T, Keys) {}},
		{
			name:       "another address: signed again, same key",
			before:     func(*testing.T, Keys) {},
			principals: []string{"n1", "10.0.9.9"},
			wantSigned: types,
		},
		{
			name: "another authority: signed again, same key",
			before: func(t *testing.T, k Keys) {
				os.Remove(k.CAPath())
				os.Remove(k.CAPath() + ".pub")
				if _, err := k.CreateCA(context.Background()); err != nil {
					t.Fatal(err)
				}
			},
			wantSigned: types,
		},
		{
			name: "certificate edited: signed again",
			before: func(t *testing.T, k Keys) {
				p := filepath.Join(k.NodeDir("n1"), "ssh_host_ecdsa_key-cert.pub")
				cert := parseCert(t, readFile(t, p))
				cert.Serial++ // only the signature tells
				os.WriteFile(p, ssh.MarshalAuthorizedKey(cert), 0o644)
			},
			principals: principals,
			wantSigned: []string{"ecdsa"},
		},
		{
			name: "public key and certificate lost: made from the private key",
			before: func(t *testing.T, k Keys) {
				os.Remove(filepath.Join(k.NodeDir("n1"), "ssh_host_ed25519_key.pub"))
				os.Remove(filepath.Join(k.NodeDir("n1"), "ssh_host_ed25519_key-cert.pub"))
			},
			wantSigned: []string{"ed25519"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := newKeys(t)
			first, change, err := k.EnsureNode(context.Background(), "n1", types, principals)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Change{Created: types, Signed: types}, change); diff != "" {
				t.Errorf("first run (-want +got):\n%s", diff)
			}
			tc.before(t, k)
			p := principals
			want := wantPrincipals
			if tc.principals != nil {
				p, want = tc.principals, normalize(tc.principals)
			}
			keys, change, err := k.EnsureNode(context.Background(), "n1", types, p)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(Change{Signed: tc.wantSigned}, change); diff != "" {
				t.Errorf("second run (-want +got):\n%s", diff)
			}
			_, caPub, err := k.CAPublic()
			if err != nil {
				t.Fatal(err)
			}
			ca, _, _, _, _ := ssh.ParseAuthorizedKey(caPub)
			for i, hk := range keys {
				if hk.Type != types[i] || !bytes.Equal(hk.Private, first[i].Private) {
					t.Errorf("key %d (%s): the private key changed", i, hk.Type)
				}
				for _, f := range []struct {
					suffix string
					data   []byte
					mode   os.FileMode
				}{{"", hk.Private, 0o600}, {".pub", hk.Public, 0o644}, {"-cert.pub", hk.Cert, 0o644}} {
					st, err := os.Stat(hk.Path + f.suffix)
					if err != nil || st.Mode().Perm() != f.mode || !bytes.Equal(readFile(t, hk.Path+f.suffix), f.data) {
						t.Errorf("%s%s: %v, mode %v: not what EnsureNode returned", hk.Path, f.suffix, err, st.Mode().Perm())
					}
				}
				signer, _ := ssh.ParsePrivateKey(hk.Private)
				cert := parseCert(t, hk.Cert)
				if diff := cmp.Diff(want, cert.ValidPrincipals); diff != "" {
					t.Errorf("%s principals (-want +got):\n%s", hk.Type, diff)
				}
				if cert.CertType != ssh.HostCert || cert.KeyId != "n1" || cert.ValidBefore != ssh.CertTimeInfinity ||
					!bytes.Equal(cert.Key.Marshal(), signer.PublicKey().Marshal()) ||
					!bytes.Equal(cert.SignatureKey.Marshal(), ca.Marshal()) {
					t.Errorf("%s certificate: type %d, id %q, before %d, not of the key or not by the authority",
						hk.Type, cert.CertType, cert.KeyId, cert.ValidBefore)
				}
				// What an ssh client does with it.
				checker := &ssh.CertChecker{IsHostAuthority: func(auth ssh.PublicKey, _ string) bool {
					return bytes.Equal(auth.Marshal(), ca.Marshal())
				}}
				if err := checker.CheckHostKey(want[0]+":22", nil, cert); err != nil {
					t.Errorf("%s certificate refused for %s: %v", hk.Type, want[0], err)
				}
				if err := checker.CheckHostKey("n2:22", nil, cert); err == nil {
					t.Errorf("%s certificate accepted for n2", hk.Type)
				}
			}
		})
	}
}

func TestEnsureNodeRefuses(t *testing.T) {
	k := Keys{Dir: filepath.Join(t.TempDir(), "keys")}
	if _, _, err := k.EnsureNode(context.Background(), "n1", []string{"ed25519"}, []string{"n1"}); !errors.Is(err, ErrNoCA) {
		t.Errorf("without an authority: %v, want ErrNoCA", err)
	}
	if _, err := os.Stat(k.NodeDir("n1")); !os.IsNotExist(err) {
		t.Errorf("without an authority something was written: %v", err)
	}
	k = newKeys(t)
	for _, node := range []string{"", "..", "a/b"} {
		if _, _, err := k.EnsureNode(context.Background(), node, []string{"ed25519"}, []string{"n1"}); err == nil {
			t.Errorf("node name %q accepted", node)
		}
	}
	// DSA is skipped, not an error.
	keys, _, err := k.EnsureNode(context.Background(), "n1", []string{"dsa", "ed25519"}, []string{"n1"})
	if err != nil || len(keys) != 1 || keys[0].Type != "ed25519" {
		t.Errorf("dsa, ed25519: %d keys, %v", len(keys), err)
	}
}

// TestEnsureNodeConcurrent: builds running at once agree on one key.
func TestEnsureNodeConcurrent(t *testing.T) {
	k := newKeys(t)
	const n = 8
	var wg sync.WaitGroup
	keys := make([][]HostKey, n)
	changes := make([]Change, n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each its own Keys value, as separate processes would.
			kk := Keys{Dir: k.Dir}
			keys[i], changes[i], errs[i] = kk.EnsureNode(context.Background(), "n1", []string{"ed25519", "ecdsa"}, []string{"n1"})
		}()
	}
	wg.Wait()
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		created += len(changes[i].Created)
		for j, hk := range keys[i] {
			if !bytes.Equal(hk.Private, keys[0][j].Private) || !bytes.Equal(hk.Cert, keys[0][j].Cert) {
				t.Errorf("run %d got another %s key or certificate", i, hk.Type)
			}
		}
	}
	if created != 2 {
		t.Errorf("%d keys created, want 2", created)
	}
}

func TestTrustInKnownHosts(t *testing.T) {
	ca := []byte("ssh-ed25519 AAAAnew wwboot-ssh-host-ca@server\n")
	line := "@cert-authority * ssh-ed25519 AAAAnew wwboot-ssh-host-ca@server\n"
	for _, tc := range []struct {
		name, before, want string
		changed            bool
	}{
		{"no file", "", line, true},
		{"other lines kept", "n9 ssh-rsa AAAAx\n@cert-authority *.example ssh-ed25519 AAAAy other-ca", "n9 ssh-rsa AAAAx\n@cert-authority *.example ssh-ed25519 AAAAy other-ca\n" + line, true},
		{"already there", "n9 ssh-rsa AAAAx\n" + line, "n9 ssh-rsa AAAAx\n" + line, false},
		{"an earlier authority replaced in place", "a ssh-rsa A\n@cert-authority * ssh-ed25519 AAAAold wwboot-ssh-host-ca@server\nb ssh-rsa B\n",
			"a ssh-rsa A\n" + line + "b ssh-rsa B\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "ssh", "ssh_known_hosts")
			if tc.before != "" {
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			changed, err := TrustInKnownHosts(p, ca)
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed {
				t.Errorf("changed = %v, want %v", changed, tc.changed)
			}
			if diff := cmp.Diff(tc.want, string(readFile(t, p))); diff != "" {
				t.Errorf("known hosts (-want +got):\n%s", diff)
			}
		})
	}
}
