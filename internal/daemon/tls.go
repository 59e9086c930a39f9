package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"

	"github.com/wwboot/wwboot/internal/site"
)

// serverTLS loads the daemon's key and certificate for its HTTPS
// listener, with a message saying how to make them when they are missing.
func serverTLS(st *site.Site) (*tls.Config, error) {
	keyPath, certPath := st.TLSKey(), st.TLSCert()
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("warewulf.tls is on but %s or %s is missing: run wwctl configure tls", certPath, keyPath)
		}
		return nil, fmt.Errorf("TLS key pair: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}
