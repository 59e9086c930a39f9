package oci

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"
)

// testRegistry is a docker-registry (Debian's package of the CNCF
// distribution registry) serving plain HTTP on 127.0.0.1.
type testRegistry struct {
	host    string // 127.0.0.1:PORT
	storage string
	auth    authn.Authenticator
	// tls: it serves HTTPS with a self-signed certificate.
	tls bool
}

// startRegistry starts a registry for the test, with basic auth if user is
// not empty. It skips the test if the registry is not installed or cannot
// start.
func startRegistry(t *testing.T, user, password string) *testRegistry {
	t.Helper()
	return startRegistryTLS(t, user, password, false)
}

// startRegistryTLS is startRegistry, serving HTTPS with a self-signed
// certificate when withTLS.
func startRegistryTLS(t *testing.T, user, password string, withTLS bool) *testRegistry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Skip("docker-registry is not installed (apt-get install -y docker-registry); skipping the registry tests")
	}
	dir := t.TempDir()
	r := &testRegistry{storage: filepath.Join(dir, "storage"), auth: authn.Anonymous, tls: withTLS}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.host = l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, r.storage, r.host)
	if withTLS {
		cert, key := selfSigned(t, dir)
		cfg += fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", cert, key)
	}
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		htpasswd := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(htpasswd, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", htpasswd)
		r.auth = &authn.Basic{Username: user, Password: password}
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		cancel()
		t.Skipf("cannot start docker-registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited })

	// Wait until it answers (a readiness wait, not a timed assertion: the
	// bound only turns a registry that never comes up into a skip).
	for i := 0; ; i++ {
		resp, err := r.client().Get(r.url("/v2/"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r
			}
		}
		select {
		case <-exited:
			t.Skipf("docker-registry exited: %s", out.String())
		case <-time.After(20 * time.Millisecond):
		}
		if i > 1500 {
			t.Skipf("docker-registry does not answer on %s: %v\n%s", r.host, err, out.String())
		}
	}
}

// client talks to the registry, trusting its certificate.
func (r *testRegistry) client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	return &http.Client{Transport: tr}
}

func (r *testRegistry) url(p string) string {
	if r.tls {
		return "https://" + r.host + p
	}
	return "http://" + r.host + p
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key
// into dir.
func selfSigned(t *testing.T, dir string) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "site registry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

func (r *testRegistry) ref(t testing.TB, repoTag string) name.Reference {
	t.Helper()
	ref, err := name.ParseReference(r.host+"/"+repoTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func (r *testRegistry) push(t testing.TB, repoTag string, img v1.Image) {
	t.Helper()
	if err := remote.Write(r.ref(t, repoTag), img, remote.WithAuth(r.auth), remote.WithTransport(r.client().Transport)); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
}

func (r *testRegistry) pushIndex(t testing.TB, repoTag string, idx v1.ImageIndex) {
	t.Helper()
	if err := remote.WriteIndex(r.ref(t, repoTag), idx, remote.WithAuth(r.auth)); err != nil {
		t.Fatalf("push %s: %v", repoTag, err)
	}
}

// deleteBlob deletes a blob from the registry, as a garbage collection
// would.
func (r *testRegistry) deleteBlob(t testing.TB, repo string, d v1.Hash) {
	t.Helper()
	req, err := http.NewRequest(http.MethodDelete, "http://"+r.host+"/v2/"+repo+"/blobs/"+d.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete blob %s: %s", d, resp.Status)
	}
}

func layerDigests(t testing.TB, img v1.Image) []v1.Hash {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out []v1.Hash
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// TestRegistry pushes images built in the test to a real registry and
// imports them over plain HTTP: one layer, two layers (whiteout, opaque
// directory, replacements), a multi-platform index, with the blob cache,
// and a tampered blob.
func TestRegistry(t *testing.T) {
	r := startRegistry(t, "", "")
	single := imageOf(t, hostArch(), false, layerOf(t, baseLayer()))
	multi := ociImage(t, hostArch())
	r.push(t, "test/single:v1", single)
	r.push(t, "test/multi:v1", multi)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: archImage(t, "amd64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: archImage(t, "arm64"), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}},
	)
	r.pushIndex(t, "test/arch:v1", idx)
	plat := "linux/" + hostArch()

	t.Run("single layer", func(t *testing.T) {
		base, dest := newDest(t)
		src := "docker://" + r.host + "/test/single:v1"
		info, err := Import(t.Context(), src, dest, Options{NoHTTPS: true})
		if err != nil {
			t.Fatal(err)
		}
		want := &Info{Source: src, Kind: KindRegistry, Digest: digestOf(t, single), Platform: plat, Layers: 1}
		if diff := cmp.Diff(want, info); diff != "" {
			t.Errorf("info (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(wantBase(), snapshot(t, dest)); diff != "" {
			t.Errorf("tree (-want +got):\n%s", diff)
		}
		checkContained(t, base)
	})

	t.Run("two layers", func(t *testing.T) {
		base, dest := newDest(t)
		var calls []string
		var total [2]int64
		opts := Options{NoHTTPS: true, Progress: func(stage string, done, tot int64) {
			calls = append(calls, fmt.Sprintf("%s %d/%d", stage, done, tot))
			if stage == "download" {
				total[0] = done
			} else {
				total[1] = done
			}
		}}
		src := "docker://" + r.host + "/test/multi:v1"
		info, err := Import(t.Context(), src, dest, opts)
		if err != nil {
			t.Fatal(err)
		}
		if info.Layers != 2 || info.Digest != digestOf(t, multi) {
			t.Errorf("info %+v, want 2 layers and digest %s", info, digestOf(t, multi))
		}
		if diff := cmp.Diff(wantUpper(), snapshot(t, dest)); diff != "" {
			t.Errorf("tree (-want +got):\n%s", diff)
		}
		m, err := multi.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		size := m.Layers[0].Size + m.Layers[1].Size
		if total != [2]int64{size, size} {
			t.Errorf("final progress download %d, extract %d; want %d each (calls %q)", total[0], total[1], size, calls)
		}
		checkContained(t, base)
	})

	t.Run("platform", func(t *testing.T) {
		for _, tc := range []struct{ platform, want, wantErr string }{
			{platform: "linux/arm64", want: "arm64"},
			{platform: "linux/amd64", want: "amd64"},
			{platform: "linux/riscv64", wantErr: "no child with platform linux/riscv64"},
		} {
			t.Run(tc.platform, func(t *testing.T) {
				_, dest := newDest(t)
				_, err := Import(t.Context(), "docker://"+r.host+"/test/arch:v1", dest, Options{NoHTTPS: true, Platform: tc.platform})
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error %v, want %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if b, _ := os.ReadFile(filepath.Join(dest, "etc/arch")); string(b) != tc.want {
					t.Errorf("etc/arch = %q, want %q", b, tc.want)
				}
			})
		}
	})

	t.Run("cache", func(t *testing.T) {
		img := archImage(t, hostArch())
		r.push(t, "test/cached:v1", img)
		cache := t.TempDir()
		src := "docker://" + r.host + "/test/cached:v1"
		_, dest := newDest(t)
		if _, err := Import(t.Context(), src, dest, Options{NoHTTPS: true, CacheDir: cache}); err != nil {
			t.Fatal(err)
		}
		d := layerDigests(t, img)[0]
		if _, err := os.Stat(filepath.Join(cache, "warewulf", "blobs", "sha256", d.Hex)); err != nil {
			t.Fatalf("layer not cached: %v", err)
		}
		// With the blob gone from the registry, only the cache has it.
		r.deleteBlob(t, "test/cached", d)
		_, dest = newDest(t)
		if _, err := Import(t.Context(), src, dest, Options{NoHTTPS: true}); err == nil {
			t.Fatal("import without the cache succeeded, want the deleted blob to be missing")
		}
		_, dest = newDest(t)
		if _, err := Import(t.Context(), src, dest, Options{NoHTTPS: true, CacheDir: cache}); err != nil {
			t.Fatalf("import from the cache: %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(dest, "etc/arch")); string(b) != hostArch() {
			t.Errorf("etc/arch = %q, want %q", b, hostArch())
		}
		// A corrupt cached blob fails the import and leaves the cache.
		cached := filepath.Join(cache, "warewulf", "blobs", "sha256", d.Hex)
		if err := os.WriteFile(cached, []byte("corrupt"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, dest = newDest(t)
		_, err := Import(t.Context(), src, dest, Options{NoHTTPS: true, CacheDir: cache})
		if err == nil || !strings.Contains(err.Error(), "was corrupt and has been removed") {
			t.Fatalf("error %v, want the corrupt cached blob reported", err)
		}
		if _, err := os.Stat(cached); err == nil {
			t.Errorf("corrupt blob still cached")
		}
	})

	t.Run("tampered blob", func(t *testing.T) {
		img := imageOf(t, hostArch(), true, layerOf(t, []tentry{file("bin/sh", "good")}))
		r.push(t, "test/tampered:v1", img)
		d := layerDigests(t, img)[0]
		data := filepath.Join(r.storage, "docker/registry/v2/blobs/sha256", d.Hex[:2], d.Hex, "data")
		bad := layerOf(t, []tentry{file("bin/sh", "evil")})
		rc, err := bad.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.ReadFrom(rc)
		rc.Close()
		if err := os.WriteFile(data, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cache := t.TempDir()
		_, dest := newDest(t)
		_, err = Import(t.Context(), "docker://"+r.host+"/test/tampered:v1", dest, Options{NoHTTPS: true, CacheDir: cache})
		if err == nil || !strings.Contains(err.Error(), "layer 1 of 1 ("+d.String()+")") {
			t.Fatalf("error %v, want layer 1 refused", err)
		}
		if _, err := os.Stat(filepath.Join(cache, "warewulf", "blobs", "sha256", d.Hex)); err == nil {
			t.Errorf("tampered blob entered the cache")
		}
	})
}

// TestRegistryAuth imports from a registry that wants basic auth.
// TestRegistrySelfSigned imports from a registry whose HTTPS certificate
// no CA vouches for (a site's own): refused, named as a certificate
// problem, unless --nohttps (or WAREWULF_OCI_NOHTTPS) says not to verify
// it, as Warewulf's does.
func TestRegistrySelfSigned(t *testing.T) {
	r := startRegistryTLS(t, "", "", true)
	r.push(t, "test/site:v1", archImage(t, hostArch()))
	src := "docker://" + r.host + "/test/site:v1"
	_, dest := newDest(t)
	if _, err := Import(t.Context(), src, dest, Options{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("import verifying the certificate: %v, want a certificate error", err)
	}
	_, dest = newDest(t)
	if _, err := Import(t.Context(), src, dest, Options{NoHTTPS: true}); err != nil {
		t.Fatalf("import with NoHTTPS: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "etc/arch")); string(b) != hostArch() {
		t.Errorf("etc/arch = %q", b)
	}
}

func TestRegistryAuth(t *testing.T) {
	r := startRegistry(t, "admin", "s3cret")
	r.push(t, "test/private:v1", archImage(t, hostArch()))
	src := "docker://" + r.host + "/test/private:v1"
	tests := []struct {
		name, user, password, wantErr string
	}{
		{name: "anonymous", wantErr: "UNAUTHORIZED"},
		{name: "wrong password", user: "admin", password: "nope", wantErr: "UNAUTHORIZED"},
		{name: "right password", user: "admin", password: "s3cret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, dest := newDest(t)
			_, err := Import(t.Context(), src, dest, Options{NoHTTPS: true, Username: tc.user, Password: tc.password})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dest, "etc/arch")); string(b) != hostArch() {
				t.Errorf("etc/arch = %q", b)
			}
		})
	}
}
