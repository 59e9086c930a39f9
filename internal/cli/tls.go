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
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
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
		Long: `Create a private key and a self-signed certificate, valid ten years, in
<sysconfdir>/warewulf/tls/warewulf.{key,crt}. With "warewulf: tls: true" the
daemon serves HTTPS on "tls port" with them and sends the runtime overlay
only over HTTPS; the wwinit overlay gives nodes the certificate, which
wwclient pins. The certificate names the server's ipaddr, ipaddr6, fqdn and
host name. An existing pair is kept unless --force; --import DIR takes
warewulf.key and warewulf.crt from DIR instead, --export DIR copies them
there. Restart the daemon (or send it SIGHUP) after a change.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keyPath, certPath := a.site.TLSKey(), a.site.TLSCert()
			if exportDir != "" {
				for _, p := range []string{keyPath, certPath} {
					data, err := os.ReadFile(p)
					if err != nil {
						return fmt.Errorf("export: %w", err)
					}
					if err := atomicfile.WriteFile(filepath.Join(exportDir, filepath.Base(p)), data, 0o600); err != nil {
						return fmt.Errorf("export: %w", err)
					}
				}
				fmt.Fprintf(a.out(), "Exported %s and %s to %s\n", filepath.Base(keyPath), filepath.Base(certPath), exportDir)
				return nil
			}
			if !force {
				if _, err := os.Stat(certPath); err == nil {
					fmt.Fprintf(a.out(), "%s exists; keeping it (--force makes a new one)\n", certPath)
					return nil
				} else if !errors.Is(err, fs.ErrNotExist) {
					return err
				}
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
			if err := os.MkdirAll(filepath.Dir(keyPath), 0o755); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(keyPath, keyPEM, 0o600); err != nil {
				return err
			}
			if err := atomicfile.WriteFile(certPath, certPEM, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Created %s and %s\n", keyPath, certPath)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Replace an existing key and certificate")
	cmd.Flags().StringVar(&importDir, "import", "", "Take warewulf.key and warewulf.crt from `DIR`")
	cmd.Flags().StringVar(&exportDir, "export", "", "Copy warewulf.key and warewulf.crt to `DIR`")
	cmd.Flags().StringVar(&keyType, "key-type", "rsa", "Key algorithm: rsa (4096 bits, as Warewulf) or ecdsa (P-256)")
	cmd.MarkFlagsMutuallyExclusive("import", "export")
	return cmd
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
