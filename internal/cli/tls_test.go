package cli

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/config"
)

func TestConfigureTLS(t *testing.T) {
	tr := newTree(t, "")
	tr.appendConf("warewulf:\n  tls: true\n")
	dir := filepath.Join(tr.root, "etc/warewulf/tls")
	key, crt := filepath.Join(dir, "warewulf.key"), filepath.Join(dir, "warewulf.crt")
	if out := tr.mustRun("configure", "tls", "--key-type", "ecdsa"); !strings.Contains(out, "Created "+key) {
		t.Fatalf("output %q", out)
	}
	pair, err := tls.LoadX509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "Warewulf Server" || cert.NotAfter.Sub(cert.NotBefore).Hours() < 24*365*9 {
		t.Errorf("certificate %s valid %v..%v", cert.Subject, cert.NotBefore, cert.NotAfter)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v, want 0600", st.Mode().Perm())
	}
	before, _ := os.ReadFile(crt)
	// As Warewulf: the pair is kept and described.
	out := tr.mustRun("configure", "tls")
	for _, want := range []string{"Keys already exist in " + dir + "\n", "Private Key:   " + key + "\n", "Certificate:   " + crt + "\n",
		"Key Size:      256 bits\n", "Issuer:        CN=Warewulf Server,O=wwboot\n", "Subject:", "Valid From:", "Valid Until:", "Serial Nr:", "IP Addresses:", "DNS Names:"} {
		if !strings.Contains(out, want) {
			t.Errorf("second run lacks %q:\n%s", want, out)
		}
	}
	if after, _ := os.ReadFile(crt); string(after) != string(before) {
		t.Error("an existing certificate was replaced without --force")
	}

	// --export makes its directory; --import replaces the pair without
	// --force, as in Warewulf.
	export := filepath.Join(t.TempDir(), "new", "dir")
	if out := tr.mustRun("configure", "tls", "--export", export); out != "Exported keys to "+export+"\n" {
		t.Errorf("export: %q", out)
	}
	tr.mustRun("configure", "tls", "--force", "--key-type", "ecdsa")
	if again, _ := os.ReadFile(crt); string(again) == string(before) {
		t.Error("--force kept the old certificate")
	}
	if out := tr.mustRun("configure", "tls", "--import", export); out != "Imported keys from "+export+"\n" {
		t.Errorf("import: %q", out)
	}
	if imported, _ := os.ReadFile(crt); string(imported) != string(before) {
		t.Error("--import did not bring back the exported certificate")
	}

	// A key that does not match the certificate is refused; nothing changes.
	other := t.TempDir()
	keyPEM, _, err := newTLSPair(&config.Config{}, "ecdsa", cert.NotBefore)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "warewulf.key"), keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "warewulf.crt"), before, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.run("", "configure", "tls", "--force", "--import", other); err == nil {
		t.Error("a mismatched pair was imported")
	}
	if now, _ := os.ReadFile(crt); string(now) != string(before) {
		t.Error("a refused import changed the certificate")
	}
	if block, _ := pem.Decode(before); block == nil || block.Type != "CERTIFICATE" {
		t.Error("certificate is not PEM")
	}
}

// TestConfigureTLSDisabled: without warewulf.tls, configure tls says so
// and makes nothing, as Warewulf's.
func TestConfigureTLSDisabled(t *testing.T) {
	tr := newTree(t, "")
	if out := tr.mustRun("configure", "tls"); out != "TLS is not enabled in warewulf.conf\n" {
		t.Errorf("output %q", out)
	}
	if _, err := os.Stat(filepath.Join(tr.root, "etc/warewulf/tls")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("keystore: %v, want none", err)
	}
}
