package redfishsim

import (
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BMC is a running Redfish BMC.
type BMC struct {
	*Server
	// URL is https://127.0.0.1:PORT.
	URL  string
	Host string
	Port int
	// CAFile is a PEM file of the server's self-signed certificate (for
	// 127.0.0.1, ::1 and example.com): what ipmi.redfish ca names.
	CAFile         string
	User, Password string
}

// Start serves m over HTTPS on a loopback port until the test ends.
func Start(t testing.TB, m Machine, o Options) *BMC {
	t.Helper()
	s := NewServer(m, o)
	srv := httptest.NewUnstartedServer(s.Handler())
	// A client that refuses the certificate is what some tests are about.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	host, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "redfish-ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return &BMC{Server: s, URL: srv.URL, Host: host, Port: p, CAFile: ca, User: s.o.User, Password: s.o.Password}
}
