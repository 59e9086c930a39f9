package nodeclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// ErrChecksum marks an artifact whose bytes do not match the sha256 the
// daemon gave for it: it is refused.
var ErrChecksum = errors.New("sha256 mismatch")

// ErrNotModified answers OpenIfNoneMatch when the daemon still has the
// artifact the caller holds (304 Not Modified).
var ErrNotModified = errors.New("not modified")

// StatusError is an answer other than 200 OK (or 304 to
// OpenIfNoneMatch).
type StatusError struct {
	URL    string
	Code   int
	Status string // "401 Unauthorized"
	// Msg is the first line of the answer's body.
	Msg string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: %s: %s", redact(e.URL), e.Status, e.Msg)
}

// Fetcher downloads artifacts from the daemon.
type Fetcher struct {
	Client *http.Client
	// Header is sent with every request (User-Agent, ...).
	Header http.Header
	// Resumes is how many times a cut transfer is resumed (with a Range
	// request from where it stopped) before the download fails.
	Resumes int
	// Backoff is the wait before resume n (from 1).
	Backoff func(n int) time.Duration
	// Say reports on the console.
	Say func(format string, args ...any)
}

// Download is one artifact's body as it arrives: a reader that resumes a
// cut connection where it stopped and checks the whole body against the
// daemon's sha256 when it reaches the end.
type Download struct {
	f      *Fetcher
	ctx    context.Context
	url    string
	body   io.ReadCloser
	etag   string
	want   string // expected sha256, "" if the daemon gave none
	length int64  // -1 if unknown
	off    int64
	sum    hash.Hash
	broken error // what cut the transfer, until resumed
	err    error // sticky
	// Resumed counts the resumptions.
	Resumed int
	// Net is the time spent waiting for the body's bytes, Hash the time
	// spent hashing them.
	Net, Hash time.Duration
}

// Open starts downloading url. The expected sha256 is the
// X-Checksum-Sha256 header; with etagIsSHA256 (the daemon's image ETag
// is the archive's sha256) an ETag of 64 hex digits serves too. Without
// either, the length and the compression's own checksums guard the
// transfer.
func (f *Fetcher) Open(ctx context.Context, url string, etagIsSHA256 bool) (*Download, error) {
	return f.open(ctx, url, etagIsSHA256, nil)
}

// OpenIfNoneMatch is Open unless the daemon's artifact still has ETag
// etag (the one the caller holds), which it answers with ErrNotModified.
// The expected sha256 is the X-Checksum-Sha256 header alone.
func (f *Fetcher) OpenIfNoneMatch(ctx context.Context, url, etag string) (*Download, error) {
	var h http.Header
	if etag != "" {
		h = http.Header{"If-None-Match": {etag}}
	}
	return f.open(ctx, url, false, h)
}

func (f *Fetcher) open(ctx context.Context, url string, etagIsSHA256 bool, h http.Header) (*Download, error) {
	resp, err := f.get(ctx, url, h)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotModified && h.Get("If-None-Match") != "" {
		resp.Body.Close()
		return nil, ErrNotModified
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, &StatusError{URL: url, Code: resp.StatusCode, Status: resp.Status, Msg: firstLine(resp)}
	}
	d := &Download{f: f, ctx: ctx, url: url, body: resp.Body, etag: resp.Header.Get("ETag"), length: resp.ContentLength, sum: sha256.New()}
	d.want = strings.ToLower(resp.Header.Get(contract.HeaderChecksum))
	if tag := strings.Trim(strings.TrimPrefix(d.etag, "W/"), `"`); d.want == "" && etagIsSHA256 && isSHA256(tag) {
		d.want = strings.ToLower(tag)
	}
	return d, nil
}

// ETag is the artifact's ETag as the daemon gave it, "" if none.
func (d *Download) ETag() string { return d.etag }

// SHA256 is the checksum the download is checked against, "" if none.
func (d *Download) SHA256() string { return d.want }

// Offset is how many bytes of the body have been read.
func (d *Download) Offset() int64 { return d.off }

// Read reads the body; a broken connection is resumed transparently. At
// the end it returns ErrChecksum if the body does not match.
func (d *Download) Read(p []byte) (int, error) {
	for {
		if d.err != nil {
			return 0, d.err
		}
		if d.broken != nil {
			if err := d.resume(d.broken); err != nil {
				d.err = err
				return 0, err
			}
			d.broken = nil
		}
		t0 := time.Now()
		n, err := d.body.Read(p)
		t1 := time.Now()
		d.sum.Write(p[:n])
		d.Net += t1.Sub(t0)
		d.Hash += time.Since(t1)
		d.off += int64(n)
		switch {
		case err == nil:
			return n, nil
		case err == io.EOF && (d.length < 0 || d.off == d.length):
			d.err = d.finish()
			if d.err == nil {
				d.err = io.EOF
			}
			return n, d.err
		case err == io.EOF:
			d.broken = fmt.Errorf("connection closed after %d of %d bytes", d.off, d.length)
		default:
			d.broken = err
		}
		if n > 0 {
			return n, nil // the next Read resumes
		}
	}
}

func (d *Download) finish() error {
	if d.want == "" {
		return nil
	}
	if got := hex.EncodeToString(d.sum.Sum(nil)); got != d.want {
		return fmt.Errorf("GET %s: %w: got %s, the daemon gave %s", redact(d.url), ErrChecksum, got, d.want)
	}
	return nil
}

// resume asks for the rest of the body after cause broke the transfer.
func (d *Download) resume(cause error) error {
	d.body.Close()
	for {
		if d.Resumed >= d.f.Resumes {
			return fmt.Errorf("GET %s: cut after %d bytes, not resumed after %d tries: %w", redact(d.url), d.off, d.Resumed, cause)
		}
		d.Resumed++
		if d.f.Say != nil {
			d.f.Say("download of %s cut after %d bytes (%v); resuming (try %d of %d)", redact(d.url), d.off, cause, d.Resumed, d.f.Resumes)
		}
		if d.f.Backoff != nil {
			select {
			case <-d.ctx.Done():
				return d.ctx.Err()
			case <-time.After(d.f.Backoff(d.Resumed)):
			}
		}
		h := http.Header{"Range": {"bytes=" + strconv.FormatInt(d.off, 10) + "-"}}
		if d.etag != "" {
			h.Set("If-Range", d.etag)
		}
		resp, err := d.f.get(d.ctx, d.url, h)
		if err != nil {
			cause = err
			continue
		}
		if resp.StatusCode != http.StatusPartialContent {
			resp.Body.Close()
			// A 200 answers If-Range when the artifact changed meanwhile:
			// the part already unpacked belongs to the old one.
			return fmt.Errorf("GET %s: resuming at %d: %s (the artifact changed or the server cannot resume)", redact(d.url), d.off, resp.Status)
		}
		start, total, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != d.off || d.length >= 0 && total != d.length {
			resp.Body.Close()
			return fmt.Errorf("GET %s: resuming at %d: got range %q", redact(d.url), d.off, resp.Header.Get("Content-Range"))
		}
		d.body = resp.Body
		return nil
	}
}

// Close ends the download.
func (d *Download) Close() error { return d.body.Close() }

func (f *Fetcher) get(ctx context.Context, url string, h http.Header) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range f.Header {
		req.Header[k] = v
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := f.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", redact(url), redactErr(err))
	}
	return resp, nil
}

// parseContentRange reads "bytes START-END/TOTAL".
func parseContentRange(s string) (start, total int64, ok bool) {
	rest, found := strings.CutPrefix(s, "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(tot, 10, 64)
	return start, total, err1 == nil && err2 == nil
}

func isSHA256(s string) bool {
	if len(s) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

func firstLine(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return line
}

// redact hides the node token and asset key in a URL shown on the
// console.
func redact(u string) string {
	base, q, ok := strings.Cut(u, "?")
	if !ok {
		return u
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		if k, _, ok := strings.Cut(p, "="); ok && (k == contract.QueryToken || k == contract.QueryAssetKey) {
			parts[i] = k + "=..."
		}
	}
	return base + "?" + strings.Join(parts, "&")
}

// redactErr drops the URL a *url.Error repeats (with the token in it).
func redactErr(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) && strings.Contains(err.Error(), "token=") {
		return ue.Unwrap()
	}
	return err
}

// NewClient returns the HTTP client stage one uses: a connection on
// which nothing arrives for stall is broken (and the download resumed),
// so a stalled transfer never hangs the boot. With privileged, each
// connection comes from a source port below 1024, which the daemon takes
// as proof that root on the node made it (warewulf.secure requires it
// for the runtime overlay); a process that may not bind one falls back
// to an ordinary port.
func NewClient(stall time.Duration, privileged bool) *http.Client {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	pd := &privDialer{d: d, next: 1023, enabled: privileged}
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := pd.dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &stallConn{Conn: c, stall: stall}, nil
		},
		ResponseHeaderTimeout: stall,
		DisableCompression:    true,
	}}
}

// privDialer dials from privileged source ports, walking down from 1023
// to 512 and round again, so that a port in TIME_WAIT from an earlier
// connection is not reused soon.
type privDialer struct {
	d       *net.Dialer
	mu      sync.Mutex
	next    int
	enabled bool
}

func (p *privDialer) port() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.enabled {
		return 0, false
	}
	port := p.next
	if p.next--; p.next < 512 {
		p.next = 1023
	}
	return port, true
}

func (p *privDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	for range 16 {
		port, ok := p.port()
		if !ok {
			break
		}
		d := *p.d
		d.LocalAddr = &net.TCPAddr{Port: port}
		c, err := d.DialContext(ctx, network, addr)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
			p.mu.Lock()
			p.enabled = false
			p.mu.Unlock()
		case errors.Is(err, syscall.EADDRINUSE) || errors.Is(err, syscall.EADDRNOTAVAIL):
			continue
		default:
			return nil, err
		}
	}
	return p.d.DialContext(ctx, network, addr)
}

// stallConn fails a Read that waits longer than stall.
type stallConn struct {
	net.Conn
	stall time.Duration
}

func (c *stallConn) Read(p []byte) (int, error) {
	if err := c.Conn.SetReadDeadline(time.Now().Add(c.stall)); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}
