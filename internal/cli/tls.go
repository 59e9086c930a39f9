package cli

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/config"
)

func (a *app) configureTLS() *cobra.Command {
	var force bool
	var importDir, exportDir, keyType string
	cmd := &cobra.Command{
		Use: "tls",
		// Warewulf 4.7's aliases, and ours of before.
		Aliases: []string{"keys", "key", "cert", "crt", "keys-tls"},
		Short:   "Create the key and certificate the daemon serves HTTPS with",
		Long: `With "warewulf: tls: true" in warewulf.conf, create a private key and a
self-signed certificate, valid ten years, in <sysconfdir>/warewulf/tls/warewulf.{key,crt}
(Warewulf's files) unless both exist (--force replaces them), then describe
them. The daemon serves HTTPS on "tls port" with them and sends the runtime
overlay only over HTTPS; the wwinit overlay gives nodes the certificate, which
wwclient pins. The certificate names the server's ipaddr, ipaddr6, fqdn and
host name. Without tls it says so and does nothing. --import DIR takes
warewulf.key and warewulf.crt from DIR instead (replacing the pair), --export
DIR copies them there (making DIR). Restart the daemon after a change: it
reads them when it starts.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyPath, certPath := a.site.TLSKey(), a.site.TLSCert()
			keystore := filepath.Dir(keyPath)
			if exportDir != "" {
				if err := os.MkdirAll(exportDir, 0o755); err != nil {
					return fmt.Errorf("export: %w", err)
				}
				for _, p := range []string{keyPath, certPath} {
					data, err := os.ReadFile(p)
					if err != nil {
						return fmt.Errorf("export: %w", err)
					}
					if err := atomicfile.WriteFile(filepath.Join(exportDir, filepath.Base(p)), data, 0o600); err != nil {
						return fmt.Errorf("export: %w", err)
					}
				}
				fmt.Fprintf(a.out(), "Exported keys to %s\n", exportDir)
				return nil
			}
			if importDir == "" && !a.cfg.Warewulf.TLS {
				fmt.Fprintln(a.out(), "TLS is not enabled in warewulf.conf")
				return nil
			}
			if importDir == "" && !force && exists(keyPath) && exists(certPath) {
				fmt.Fprintf(a.out(), "Keys already exist in %s\n", keystore)
				return describeTLS(a.out(), keyPath, certPath)
			}
			var keyPEM, certPEM []byte
			var err error
			if importDir != "" {
				keyPEM, certPEM, err = importTLS(importDir)
			} else {
				keyPEM, certPEM, err = newTLSPair(a.cfg, keyType, time.Now())
			}
			if err != nil {
				return err
			}
			if err := os.MkdirAll(keystore, 0o755); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
				return err
			}
			if importDir != "" {
				fmt.Fprintf(a.out(), "Imported keys from %s\n", importDir)
				return nil
			}
			fmt.Fprintf(a.out(), "Created %s and %s\n", keyPath, certPath)
			return describeTLS(a.out(), keyPath, certPath)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Replace an existing key and certificate")
	cmd.Flags().StringVar(&importDir, "import", "", "Take warewulf.key and warewulf.crt from `DIR`")
	cmd.Flags().StringVar(&exportDir, "export", "", "Copy warewulf.key and warewulf.crt to `DIR`")
	cmd.Flags().StringVar(&keyType, "key-type", "rsa", "Key algorithm: rsa (4096 bits, as Warewulf) or ecdsa (P-256)")
	cmd.MarkFlagsMutuallyExclusive("import", "export")
	return cmd
}

// exists reports whether there is a file at path.
func exists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// describeTLS prints Warewulf's description of the key and certificate:
// their paths, the key's size, and the certificate's issuer, subject,
// validity, serial number, addresses and names.
func describeTLS(w io.Writer, keyPath, certPath string) error {
	t := newTable("Private Key:", keyPath)
	t.add("Certificate:", certPath)
	if data, err := os.ReadFile(keyPath); err == nil {
		if block, _ := pem.Decode(data); block != nil {
			if bits := keyBits(block.Bytes); bits > 0 {
				t.add("Key Size:", fmt.Sprintf("%d bits", bits))
			}
		}
	}
	if data, err := os.ReadFile(certPath); err == nil {
		if block, _ := pem.Decode(data); block != nil {
			if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
				var ips []string
				for _, ip := range cert.IPAddresses {
					ips = append(ips, ip.String())
				}
				t.add("Issuer:", cert.Issuer.String())
				t.add("Subject:", cert.Subject.String())
				t.add("Valid From:", cert.NotBefore.String())
				t.add("Valid Until:", cert.NotAfter.String())
				t.add("Serial Nr:", cert.SerialNumber.String())
				t.add("IP Addresses:", strings.Join(ips, ", "))
				t.add("DNS Names:", strings.Join(cert.DNSNames, ", "))
			}
		}
	}
	return t.write(w)
}

// keyBits is the size of a PEM block's private key (PKCS #1 or #8), 0
// when it is not one.
func keyBits(der []byte) int {
	var key any
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		key = k
	} else if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		key = k
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return k.N.BitLen()
	case *ecdsa.PrivateKey:
		return k.Curve.Params().BitSize
	}
	return 0
}

// importTLS reads a key and certificate pair and checks that they match.
func importTLS(dir string) (keyPEM, certPEM []byte, err error) {
	keyPEM, err = os.ReadFile(filepath.Join(dir, "warewulf.key"))
	if err != nil {
		return nil, nil, fmt.Errorf("import: %w", err)
	}
	certPEM, err = os.ReadFile(filepath.Join(dir, "warewulf.crt"))
	if err != nil {
		return nil, nil, fmt.Errorf("import: %w", err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		return nil, nil, fmt.Errorf("import from %s: %w", dir, err)
	}
	return keyPEM, certPEM, nil
}

// newTLSPair makes a key and a self-signed server certificate naming the
// server's addresses and names.
func newTLSPair(cfg *config.Config, keyType string, now time.Time) (keyPEM, certPEM []byte, err error) {
	var key crypto.Signer
	switch keyType {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 4096)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, nil, fmt.Errorf("--key-type %q: want rsa or ecdsa", keyType)
	}
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "Warewulf Server", Organization: []string{"wwboot"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, a := range []string{cfg.Ipaddr, cfg.Ipaddr6} {
		if ip := net.ParseIP(a); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		}
	}
	names := map[string]bool{}
	if host, err := os.Hostname(); err == nil && host != "" {
		names[host] = true
	}
	if cfg.Fqdn != "" {
		names[cfg.Fqdn] = true
	}
	for n := range names {
		tmpl.DNSNames = append(tmpl.DNSNames, n)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
