package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/nodeclient"
)

// newHTTPClient makes the client of one Config: one connection per
// request (a fixed source port cannot be shared), from the privileged
// port when secure, over TLS pinned to the server's certificate when on.
func newHTTPClient(c *Config) (*http.Client, error) {
	d := nodeclient.SourcePortDialer(c.sourcePort(), 10*time.Second)
	tr := &http.Transport{
		DialContext:           d.DialContext,
		DisableKeepAlives:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 5 * time.Minute, // the server may build the overlay first
	}
	if c.TLS {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("TLS is on but the server's certificate is missing: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", c.CACert)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Minute}, nil
}

// runtimeURL is where the node's runtime overlay is.
func runtimeURL(c *Config) string {
	scheme, port := "http", c.Port
	if c.TLS {
		scheme, port = "https", c.TLSPort
	}
	q := url.Values{}
	q.Set(contract.QueryAssetKey, c.AssetKey)
	q.Set(contract.QueryUUID, c.UUID)
	q.Set(contract.QueryCompress, "gz")
	return contract.ArtifactURL(scheme+"://"+net.JoinHostPort(c.Server, strconv.Itoa(port)), contract.RouteRuntime, c.WWID, q)
}

// newFetcher fetches through client as stage one does (nodeclient's
// Fetcher: the body checked against the daemon's sha256), without
// resuming: the runtime overlay is small, and fetched again at the next
// contact.
func newFetcher(client *http.Client) *nodeclient.Fetcher {
	return &nodeclient.Fetcher{Client: client, Header: http.Header{"User-Agent": {"wwclient"}}}
}

// fetch asks for the runtime overlay unless it still has etag. It
// returns the body and its ETag, or nil when unchanged. An answer other
// than 200 or 304 is a *nodeclient.StatusError.
func fetch(ctx context.Context, f *nodeclient.Fetcher, c *Config, etag string) ([]byte, string, error) {
	d, err := f.OpenIfNoneMatch(ctx, runtimeURL(c), etag)
	if errors.Is(err, nodeclient.ErrNotModified) {
		return nil, etag, nil
	}
	if err != nil {
		return nil, "", explainDial(err, c)
	}
	defer d.Close()
	// The sha256 the build recorded is checked at the end of the body:
	// bytes damaged on the server's disk or on the way are not applied.
	body, err := io.ReadAll(io.LimitReader(d, maxOverlay+1))
	if err != nil {
		return nil, "", fmt.Errorf("download: %w", err)
	}
	if len(body) > maxOverlay {
		return nil, "", fmt.Errorf("runtime overlay larger than %d bytes", maxOverlay)
	}
	return body, d.ETag(), nil
}

// explainDial adds what to do about a source port that cannot be bound.
func explainDial(err error, c *Config) error {
	p := c.sourcePort()
	switch {
	case p > 0 && errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w (binding source port %d needs root or CAP_NET_BIND_SERVICE; the server requires a privileged port when warewulf secure is on)", err, p)
	case p > 0 && errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w (source port %d is in use)", err, p)
	}
	return err
}
