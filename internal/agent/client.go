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
	"strings"
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

// statusError is a response other than 200 or 304.
type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string {
	s := fmt.Sprintf("server answered %d %s", e.code, http.StatusText(e.code))
	if e.msg != "" {
		s += ": " + e.msg
	}
	return s
}

// fetch asks for the runtime overlay unless it still has etag. It
// returns the body and its ETag, or nil when unchanged.
func fetch(ctx context.Context, client *http.Client, c *Config, etag string) ([]byte, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, runtimeURL(c), nil)
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("User-Agent", "wwclient")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, "", explainDial(err, c)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, etag, nil
	case http.StatusOK:
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, "", &statusError{code: resp.StatusCode, msg: strings.TrimSpace(string(msg))}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxOverlay+1))
	if err != nil {
		return nil, "", fmt.Errorf("download: %w", err)
	}
	if len(body) > maxOverlay {
		return nil, "", fmt.Errorf("runtime overlay larger than %d bytes", maxOverlay)
	}
	if resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength {
		return nil, "", fmt.Errorf("download: got %d of %d bytes", len(body), resp.ContentLength)
	}
	// The sha256 the build recorded: bytes damaged on the server's disk
	// or on the way are not applied.
	if err := nodeclient.CheckSHA256(body, resp.Header.Get(contract.HeaderChecksum)); err != nil {
		return nil, "", fmt.Errorf("download: %w", err)
	}
	return body, resp.Header.Get("ETag"), nil
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
