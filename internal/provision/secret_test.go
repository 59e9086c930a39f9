package provision

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/contract"
)

const secretBytes = "-----BEGIN OPENSSH PRIVATE KEY----- cluster host key"

// secretFixture has a private host key (mode 0600) in the system overlay.
func secretFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, fixtureNodes, false)
	key := filepath.Join(f.cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/ssh/ssh_host_ed25519_key")
	sitetest.Write(t, key, secretBytes+"\n")
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

var tokenRE = regexp.MustCompile(`token=([0-9a-f]+)`)

func TestSecretsOnlyToTheirNode(t *testing.T) {
	f := secretFixture(t)
	srv := f.server(t)
	h := srv.Handler()
	script := func(remote string) string {
		t.Helper()
		w := get(h, "/ipxe/aa:bb:cc:dd:ee:01", remote, nil)
		if w.Code != http.StatusOK {
			t.Fatalf("ipxe from %s: %d %s", remote, w.Code, w.Body)
		}
		return w.Body.String()
	}
	m := tokenRE.FindStringSubmatch(script("10.0.0.1:40000"))
	if m == nil {
		t.Fatal("the iPXE script asked for from the node's own address has no token")
	}
	token := m[1]
	if tokenRE.MatchString(script("10.9.9.9:40000")) {
		t.Error("the iPXE script asked for from another address carries the node's token")
	}
	// n2 proves itself with its asset key, so its script has a token:
	// its own, not n1's.
	if m2 := tokenRE.FindStringSubmatch(get(h, "/ipxe/aa:bb:cc:dd:ee:02?assetkey=secret", "10.9.9.9:40000", nil).Body.String()); m2 == nil || m2[1] == token {
		t.Errorf("n2's script has token %q, want one of its own (n1's is %s)", m2, token)
	}
	tests := []struct {
		name, target, remote string
		want                 bool // the secret is sent
	}{
		{"MAC only", "/system/aa:bb:cc:dd:ee:01", "10.9.9.9:40000", false},
		{"MAC only from the node's address", "/system/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", false},
		{"token from the iPXE script", "/system/aa:bb:cc:dd:ee:01?token=" + token, "10.0.0.1:40000", true},
		{"token used for another node", "/system/aa:bb:cc:dd:ee:03?token=" + token, "10.0.0.1:40000", false},
		{"wrong token", "/system/aa:bb:cc:dd:ee:01?token=00112233445566778899aabbccddeeff", "10.0.0.1:40000", false},
		{"privileged port from the node's address", "/system/aa:bb:cc:dd:ee:01", "10.0.0.1:987", true},
		{"privileged port from another address", "/system/aa:bb:cc:dd:ee:01", "10.9.9.9:987", false},
		// n3 has no address in nodes.conf: root anywhere is not n3.
		{"privileged port, node without address", "/system/aa:bb:cc:dd:ee:03", "10.9.9.9:987", false},
		{"privileged port from the address our DHCP leased the node", "/system/aa:bb:cc:dd:ee:03", "10.0.0.33:987", true},
		{"unprivileged port from the leased address", "/system/aa:bb:cc:dd:ee:03", "10.0.0.33:40000", false},
		{"asset key", "/system/aa:bb:cc:dd:ee:02?assetkey=secret", "10.9.9.9:40000", true},
	}
	// The embedded DHCP server gave n3 its address.
	srv.RecordStage("n3", stageDHCP, "ACK", "10.0.0.33", 300)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := get(h, tc.target, tc.remote, nil)
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			body := w.Body.String()
			if got := strings.Contains(body, secretBytes); got != tc.want {
				t.Errorf("secret sent = %v, want %v", got, tc.want)
			}
			if !strings.Contains(body, "the same for every node") {
				t.Error("the public part of the overlay is missing")
			}
			if withheld := w.Header().Get("X-Wwboot-Withheld") != ""; withheld == tc.want {
				t.Errorf("X-Wwboot-Withheld header = %q with secret sent %v", w.Header().Get("X-Wwboot-Withheld"), tc.want)
			}
		})
	}
	// The ETag of what was withheld differs, so a cache never hands the
	// secret version to a MAC-only request.
	full := get(h, "/system/aa:bb:cc:dd:ee:01?token="+token, "10.0.0.1:40000", nil).Header().Get("ETag")
	pub := get(h, "/system/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Header().Get("ETag")
	if full == "" || full == pub {
		t.Errorf("ETags %q and %q: want two different ones", full, pub)
	}
}

func TestTokenExpires(t *testing.T) {
	f := secretFixture(t)
	s := f.server(t)
	h := s.Handler()
	token := tokenRE.FindStringSubmatch(get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Body.String())[1]
	for _, tc := range []struct {
		name  string
		after time.Duration
		want  bool
	}{
		{"at once", 0, true},
		{"within the next window", tokenWindow, true},
		{"two windows later", 2*tokenWindow + time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.clock = time.Unix(1_700_000_000, 0).Add(tc.after)
			body := get(h, "/system/aa:bb:cc:dd:ee:01?token="+token, "10.0.0.1:40000", nil).Body.String()
			if got := strings.Contains(body, secretBytes); got != tc.want {
				t.Errorf("secret sent = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTokenKeySurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "warewulf", "token.key")
	k1, err := LoadTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadTokenKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(k1) != string(k2) || len(k1) != 32 {
		t.Errorf("keys %x and %x: want the same 32 bytes", k1, k2)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if err := os.WriteFile(path, []byte("not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadTokenKey(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("a bad key file gave %v, want an error naming it", err)
	}
}

func TestRuntimeOnlyOverTLSWhenTLSIsOn(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	f.cfg.Warewulf.TLS = true
	h := f.server(t).Handler()
	if w := get(h, "/runtime/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil); w.Code != http.StatusForbidden {
		t.Errorf("runtime over HTTP: %d, want 403", w.Code)
	}
	r := httptest.NewRequest(http.MethodGet, "/runtime/aa:bb:cc:dd:ee:01", nil)
	r.RemoteAddr = "10.0.0.1:40000"
	r.TLS = &tls.ConnectionState{}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		t.Errorf("runtime over HTTPS: %d %s", w.Code, w.Body)
	}
	if w := get(h, "/system/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil); w.Code != http.StatusOK {
		t.Errorf("system over HTTP with TLS on: %d, want 200", w.Code)
	}
	script := get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Body.String()
	if strings.Contains(script, "/runtime/") {
		t.Errorf("with TLS on the iPXE script still loads the runtime overlay:\n%s", script)
	}
}

func TestServeHTTPAndHTTPS(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	f.cfg.Warewulf.TLS = true
	s := f.server(t)
	ts := httptest.NewUnstartedServer(nil) // only for its test certificate
	defer ts.Close()
	ts.StartTLS()
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	secure, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.ServeListeners(ctx, plain, TLSListener(secure, &tls.Config{Certificates: ts.TLS.Certificates}))
	}()
	client := ts.Client()
	for _, tc := range []struct {
		name, url string
		want      int
	}{
		{"runtime over HTTP", "http://" + plain.Addr().String() + "/runtime/aa:bb:cc:dd:ee:01", http.StatusForbidden},
		{"runtime over HTTPS", "https://" + secure.Addr().String() + "/runtime/aa:bb:cc:dd:ee:01", http.StatusOK},
		{"system over HTTP", "http://" + plain.Addr().String() + "/system/aa:bb:cc:dd:ee:01", http.StatusOK},
		{"system over HTTPS", "https://" + secure.Addr().String() + "/system/aa:bb:cc:dd:ee:01", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := client.Get(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("%d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("ServeListeners: %v", err)
	}
}

func TestUnknownAndMetrics(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	srv := f.server(t)
	h := srv.Handler()
	get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil)
	get(h, "/kernel/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil)
	get(h, "/kernel/aa:bb:cc:dd:ee:99", "10.0.0.99:40000", nil)
	get(h, "/kernel/not-a-mac", "10.0.0.98:40000", nil)
	w := get(h, "/status", "", nil)
	var doc contract.StatusDoc
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]contract.NodeStatus{"aa:bb:cc:dd:ee:99": {Stage: "KERNEL", Sent: "NOT_FOUND", Addr: "10.0.0.99", LastSeen: f.clock}}
	if diff := cmp.Diff(want, doc.Unknown); diff != "" {
		t.Errorf("unknown (-want +got):\n%s", diff)
	}
	srv.AddMetrics(func(w io.Writer) { fmt.Fprintln(w, "wwboot_dhcp_pool_exhausted_total 3") })
	metrics := get(h, "/metrics", "", nil).Body.String()
	for _, line := range []string{
		`wwboot_dhcp_pool_exhausted_total 3`,
		`wwboot_requests_total{stage="IPXE",result="ok"} 1`,
		`wwboot_requests_total{stage="KERNEL",result="ok"} 1`,
		`wwboot_requests_total{stage="KERNEL",result="not_found"} 1`,
		`wwboot_requests_total{stage="KERNEL",result="bad_request"} 1`,
		`wwboot_sent_bytes_total{stage="KERNEL"} ` + strconv.Itoa(len(kernelBytes)),
		`wwboot_nodes{stage="KERNEL"} 1`,
		`wwboot_nodes{stage="NONE"} 4`,
		`wwboot_unknown_hwaddrs 1`,
	} {
		if !strings.Contains(metrics, line+"\n") {
			t.Errorf("/metrics lacks %q:\n%s", line, metrics)
		}
	}
}
