package nodeclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// artifactServer serves body at every path with Range support. The
// first cuts requests are cut after cutAt bytes (the connection is
// closed mid-body); corrupt flips a byte of what is sent while the
// headers still give the right sha256; changeOnRange answers a range
// request with another ETag's full body, as after a rebuild.
type artifactServer struct {
	body          []byte
	cuts          int32
	cutAt         int
	corrupt       bool
	changeOnRange bool
	etagIsSum     bool
	requests      atomic.Int32
	ranges        atomic.Int32
}

func (a *artifactServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.requests.Add(1)
	sum := sha256.Sum256(a.body)
	hexSum := hex.EncodeToString(sum[:])
	if a.etagIsSum {
		w.Header().Set("ETag", `"`+hexSum+`"`)
	} else {
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Checksum-Sha256", hexSum)
	}
	if r.Header.Get("Range") != "" {
		a.ranges.Add(1)
		if a.changeOnRange {
			w.Header().Set("ETag", `"v2"`)
			w.WriteHeader(http.StatusOK)
			w.Write(a.body)
			return
		}
	}
	body := a.body
	if a.corrupt {
		body = bytes.Clone(body)
		body[len(body)/3] ^= 0x40
	}
	if atomic.AddInt32(&a.cuts, -1) >= 0 {
		// Promise everything asked for, send part, then drop the
		// connection.
		start := 0
		if rg := r.Header.Get("Range"); rg != "" {
			start, _ = strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
			w.Header().Set("Content-Range", "bytes "+strconv.Itoa(start)+"-"+strconv.Itoa(len(body)-1)+"/"+strconv.Itoa(len(body)))
			w.Header().Set("Content-Length", strconv.Itoa(len(body)-start))
			w.WriteHeader(http.StatusPartialContent)
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(http.StatusOK)
		}
		w.Write(body[start : start+a.cutAt])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	http.ServeContent(w, r, "artifact", time.Time{}, bytes.NewReader(body))
}

func randomBody(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

func TestDownload(t *testing.T) {
	body := randomBody(3 << 20)
	tests := []struct {
		name       string
		srv        *artifactServer
		resumes    int
		etagSum    bool
		wantErr    string
		wantIs     error
		wantRanges int32
	}{
		{name: "whole", srv: &artifactServer{body: body}, resumes: 3},
		{name: "cut mid-way, resumed", srv: &artifactServer{body: body, cuts: 1, cutAt: 1 << 20}, resumes: 3, wantRanges: 1},
		{name: "cut twice, resumed twice", srv: &artifactServer{body: body, cuts: 2, cutAt: 100 << 10}, resumes: 3, wantRanges: 2},
		{name: "ETag is the sha256", srv: &artifactServer{body: body, etagIsSum: true, cuts: 1, cutAt: 5000}, etagSum: true, resumes: 3, wantRanges: 1},
		{name: "corrupted body refused", srv: &artifactServer{body: body, corrupt: true}, resumes: 3, wantIs: ErrChecksum},
		{name: "corrupted, ETag as sha256", srv: &artifactServer{body: body, corrupt: true, etagIsSum: true}, etagSum: true, resumes: 3, wantIs: ErrChecksum},
		{name: "changed while resuming", srv: &artifactServer{body: body, cuts: 1, cutAt: 1000, changeOnRange: true}, resumes: 3,
			wantErr: "the artifact changed", wantRanges: 1},
		{name: "too many cuts", srv: &artifactServer{body: body, cuts: 10, cutAt: 1000}, resumes: 2, wantErr: "not resumed after 2 tries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := httptest.NewServer(tt.srv)
			defer ts.Close()
			var said []string
			f := &Fetcher{Client: ts.Client(), Resumes: tt.resumes, Backoff: func(int) time.Duration { return time.Millisecond },
				Say: func(format string, args ...any) { said = append(said, format) }}
			d, err := f.Open(context.Background(), ts.URL+"/image/aa?token=secret", tt.etagSum)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(d)
			d.Close()
			switch {
			case tt.wantIs != nil:
				if !errors.Is(err, tt.wantIs) {
					t.Fatalf("error %v, want %v", err, tt.wantIs)
				}
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, body) {
					t.Fatalf("got %d bytes, not the body", len(got))
				}
				if d.SHA256() == "" {
					t.Errorf("no sha256 checked")
				}
			}
			if tt.wantRanges != 0 && tt.srv.ranges.Load() != tt.wantRanges {
				t.Errorf("%d range requests, want %d", tt.srv.ranges.Load(), tt.wantRanges)
			}
			if err != nil && strings.Contains(err.Error(), "secret") {
				t.Errorf("the error shows the token: %v", err)
			}
		})
	}
}

func TestNoChecksumFromTheDaemon(t *testing.T) {
	// An overlay's ETag is no sha256 of the body: only the length and
	// the compression's checksums guard it.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"`)
		w.Write([]byte("overlay"))
	}))
	defer ts.Close()
	d, err := (&Fetcher{Client: ts.Client()}).Open(context.Background(), ts.URL, false)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if b, err := io.ReadAll(d); err != nil || string(b) != "overlay" || d.SHA256() != "" {
		t.Errorf("%q, %v, sha256 %q", b, err, d.SHA256())
	}
}

// TestNewClientPrivilegedPort: root connects from a port below 1024,
// anyone else falls back to an ordinary port; both get the answer.
func TestNewClientPrivilegedPort(t *testing.T) {
	ports := make(chan int, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, p, _ := strings.Cut(r.RemoteAddr, "]:")
		if !strings.Contains(r.RemoteAddr, "]") {
			_, p, _ = strings.Cut(r.RemoteAddr, ":")
		}
		n, _ := strconv.Atoi(p)
		ports <- n
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	tests := []struct {
		name       string
		privileged bool
		wantLow    bool
	}{
		{name: "privileged as root", privileged: true, wantLow: os.Geteuid() == 0},
		{name: "ordinary", privileged: false, wantLow: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(5*time.Second, tt.privileged)
			defer c.CloseIdleConnections()
			for i := range 2 {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "ok" {
					t.Fatalf("body %q", body)
				}
				port := <-ports
				if low := port < 1024; low != tt.wantLow {
					t.Errorf("request %d came from port %d; want privileged=%v", i, port, tt.wantLow)
				}
				c.CloseIdleConnections() // the next request dials again
			}
		})
	}
}

// OpenIfNoneMatch is how wwclient asks for its runtime overlay: the
// ETag it holds, 304 when unchanged, the body checked against the
// daemon's sha256 otherwise, the answer's code on refusal.
func TestOpenIfNoneMatch(t *testing.T) {
	body := []byte("runtime overlay")
	sum := sha256.Sum256(body)
	var gotAgent atomic.Value
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAgent.Store(r.Header.Get("User-Agent"))
		switch {
		case strings.HasPrefix(r.URL.Path, "/refused"):
			http.Error(w, "wrong asset key\nmore", http.StatusUnauthorized)
			return
		case r.Header.Get("If-None-Match") == `"v1"`:
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("X-Checksum-Sha256", hex.EncodeToString(sum[:]))
		if strings.HasPrefix(r.URL.Path, "/corrupt") {
			w.Write([]byte("runtime overlaY"))
			return
		}
		w.Write(body)
	}))
	defer ts.Close()
	tests := []struct {
		name, path, etag string
		want             string
		wantETag         string
		wantErr          error
		wantCode         int
	}{
		{name: "first contact", path: "/runtime/aa", want: "runtime overlay", wantETag: `"v1"`},
		{name: "changed", path: "/runtime/aa", etag: `"v0"`, want: "runtime overlay", wantETag: `"v1"`},
		{name: "unchanged", path: "/runtime/aa", etag: `"v1"`, wantErr: ErrNotModified},
		{name: "damaged", path: "/corrupt/aa", wantErr: ErrChecksum},
		{name: "refused", path: "/refused/aa", wantCode: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &Fetcher{Client: ts.Client(), Header: http.Header{"User-Agent": {"wwclient"}}}
			d, err := f.OpenIfNoneMatch(context.Background(), ts.URL+tt.path, tt.etag)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(d)
				d.Close()
			}
			var se *StatusError
			switch {
			case tt.wantCode != 0:
				if !errors.As(err, &se) || se.Code != tt.wantCode || se.Msg != "wrong asset key" {
					t.Fatalf("error %v, want a StatusError %d with the body's first line", err, tt.wantCode)
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case err == nil && (string(got) != tt.want || d.ETag() != tt.wantETag):
				t.Errorf("got %q with ETag %s, want %q with %s", got, d.ETag(), tt.want, tt.wantETag)
			}
			if a := gotAgent.Load(); a != "wwclient" {
				t.Errorf("User-Agent %v, want wwclient", a)
			}
		})
	}
}
