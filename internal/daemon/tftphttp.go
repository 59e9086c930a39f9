package daemon

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"

	"github.com/wwboot/wwboot/internal/contract"
)

// tftpOverHTTP answers TFTP requests for a node's artifacts
// (/<route>/<wwid>?<query>, the routes of contract.RouteStages) with
// what the provisioning handler h answers the same GET from the same
// client, as if over HTTP from host (the daemon's host:port). Debian's
// signed network GRUB has no HTTP: it fetches its node's configuration,
// kernel and initrds by TFTP this way. The answer is held in memory
// while it is sent, at most max bytes (0: no bound).
func tftpOverHTTP(h http.Handler, host string, max int64) func(ctx context.Context, name string, client *net.UDPAddr) ([]byte, error) {
	routes := contract.RouteStages()
	return func(ctx context.Context, name string, client *net.UDPAddr) ([]byte, error) {
		route, _, _ := strings.Cut(name, "/")
		if _, ok := routes[route]; !ok || strings.Contains(name, "..") {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, "/"+name, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
		}
		r.RemoteAddr = client.String()
		r.Host = host
		r.Header.Set(contract.HeaderVia, "tftp")
		w := &bufferWriter{header: http.Header{}, max: max}
		h.ServeHTTP(w, r)
		if w.over {
			return nil, fmt.Errorf("%s is larger than %d bytes, too large to send by TFTP: boot it with a GRUB that has HTTP", name, max)
		}
		if w.code != 0 && w.code != http.StatusOK {
			return nil, fmt.Errorf("%s: HTTP %d %s: %w", name, w.code, strings.TrimSpace(w.buf.String()), fs.ErrNotExist)
		}
		return w.buf.Bytes(), nil
	}
}

// bufferWriter is an http.ResponseWriter that keeps the body.
type bufferWriter struct {
	header http.Header
	code   int
	buf    bytes.Buffer
	max    int64
	over   bool
}

func (w *bufferWriter) Header() http.Header { return w.header }

func (w *bufferWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *bufferWriter) Write(p []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.max > 0 && int64(w.buf.Len()+len(p)) > w.max {
		w.over = true
		return 0, fmt.Errorf("answer larger than %d bytes", w.max)
	}
	return w.buf.Write(p)
}
