package provision

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// rawGet sends a request line and headers as given over a new connection
// and returns the answer.
func rawGet(t *testing.T, addr, target string, header string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n", target, addr, header); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", target, err)
	}
	return resp, body
}

func TestHostileHardwareAddresses(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	s := f.server(t)
	addr := serve(t, s)
	before := s.Status()
	tests := []struct{ name, target string }{
		{"word", "/ipxe/not-a-mac"},
		{"too short", "/kernel/aa:bb:cc:dd:ee"},
		{"bad digit", "/image/aa:bb:cc:dd:ee:0g"},
		{"bare odd length", "/system/aabbccddee0"},
		{"mixed separators", "/runtime/aa:bb-cc:dd-ee:01"},
		{"trailing separator", "/kernel/aa:bb:cc:dd:ee:01:"},
		{"NUL", "/kernel/aa:bb:cc:dd:ee:01%00"},
		{"newline", "/kernel/aa:bb:cc:dd:ee:01%0A"},
		{"encoded slash", "/kernel/..%2f..%2fetc%2fpasswd"},
		{"query wwid", "/kernel/?wwid=../../etc/passwd"},
		{"long", "/ipxe/" + strings.Repeat("aa:", 4000) + "aa"},
		{"legacy", "/provision/zz?stage=kernel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawGet(t, addr, tt.target, "")
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("code %d, want 400: %s", resp.StatusCode, body)
			}
		})
	}
	if diff := cmp.Diff(before, s.Status()); diff != "" {
		t.Errorf("status of the nodes changed (-before +after):\n%s", diff)
	}
}

// redirect in a test case's code stands for any 3xx.
const redirect = -1

func TestHostilePaths(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	addr := serve(t, f.server(t))
	tests := []struct {
		name, target string
		code         int    // redirect: any redirect, whose code is the mux's
		location     string // where a redirect points
	}{
		// The mux cleans paths: a redirect out of the routes, then 404.
		{"dot dot", "/kernel/../../etc/passwd", redirect, "/etc/passwd"},
		{"after a MAC", "/image/aa:bb:cc:dd:ee:01/../../", redirect, "/"},
		// Encoded, they are segments no route has.
		{"encoded dot dot", "/kernel/%2e%2e/%2e%2e/etc/passwd", 404, ""},
		{"encoded slashes", "/kernel/aa:bb:cc:dd:ee:01%2f..%2f..%2fetc%2fpasswd", 400, ""},
		{"cleaned target", "/etc/passwd", 404, ""},
		{"root", "/", 404, ""},
		{"extra segment", "/kernel/aa:bb:cc:dd:ee:01/vmlinuz", 404, ""},
		{"compress", "/image/aa:bb:cc:dd:ee:01?compress=../../etc/passwd", 400, ""},
		{"stage", "/provision/aa:bb:cc:dd:ee:01?stage=../../etc/passwd", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := rawGet(t, addr, tt.target, "")
			switch {
			case tt.code == redirect:
				// Which redirect the mux answers with is the standard
				// library's choice (Go 1.24.0 answers 301, 1.26 307): what
				// matters is where it points, and that that is a 404.
				if resp.StatusCode < 300 || resp.StatusCode > 399 {
					t.Errorf("code %d, want a redirect: %s", resp.StatusCode, body)
				}
			case resp.StatusCode != tt.code:
				t.Errorf("code %d, want %d: %s", resp.StatusCode, tt.code, body)
			}
			if got := resp.Header.Get("Location"); got != tt.location {
				t.Errorf("Location %q, want %q", got, tt.location)
			}
			if strings.Contains(string(body), "root:") {
				t.Errorf("body has /etc/passwd:\n%s", body)
			}
			if tt.code == redirect && tt.location != "" {
				if resp, body := rawGet(t, addr, tt.location, ""); resp.StatusCode != http.StatusNotFound {
					t.Errorf("%s: code %d, want 404: %s", tt.location, resp.StatusCode, body)
				}
			}
		})
	}
}

func TestHugeHeader(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	addr := serve(t, f.server(t))
	for _, size := range []int{100 << 10, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			resp, _ := rawGet(t, addr, "/kernel/aa:bb:cc:dd:ee:01", "X-Junk: "+strings.Repeat("x", size)+"\r\n")
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("code %d, want 431", resp.StatusCode)
			}
			resp, body := rawGet(t, addr, "/kernel/aa:bb:cc:dd:ee:01", "")
			if resp.StatusCode != http.StatusOK || string(body) != kernelBytes {
				t.Errorf("next client: code %d body %q", resp.StatusCode, body)
			}
		})
	}
}

// Connections that send nothing, or half a header, are closed after the
// header timeout, and others are served meanwhile.
func TestSilentClients(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	s := f.server(t)
	s.readHeaderTimeout = 200 * time.Millisecond
	addr := serve(t, s)
	var conns []net.Conn
	for i := range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if i%2 == 1 {
			fmt.Fprintf(c, "GET /kernel/aa:bb:cc:dd:ee:01 HTTP/1.1\r\nHost: x\r\n")
		}
		conns = append(conns, c)
	}
	resp, body := rawGet(t, addr, "/kernel/aa:bb:cc:dd:ee:01", "")
	if resp.StatusCode != http.StatusOK || string(body) != kernelBytes {
		t.Errorf("client among silent ones: code %d body %q", resp.StatusCode, body)
	}
	for i, c := range conns {
		// A deadline far beyond the header timeout only keeps a broken
		// server from hanging the test.
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		data, err := io.ReadAll(c)
		if err != nil {
			t.Errorf("silent connection %d: not closed by the server: %v", i, err)
		}
		// A half-sent request may get a 408 before the close.
		if len(data) > 0 && !strings.HasPrefix(string(data), "HTTP/1.1 408") {
			t.Errorf("silent connection %d got %q", i, data)
		}
	}
}

// A client that stops reading an image holds only its own connection:
// others download the whole image meanwhile.
func TestStalledReader(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	p := f.opts.Images.Archive("rocky") + ".img"
	const size = 64 << 20 // well beyond the socket buffers
	if err := os.Remove(p + ".sha256"); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, size); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, f.server(t))

	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fmt.Fprintf(stalled, "GET /image/aa:bb:cc:dd:ee:01 HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	br := bufio.NewReader(stalled)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("stalled client: %v %v", resp, err)
	}
	if _, err := io.ReadFull(resp.Body, make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	// It reads no more.

	var wg sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get("http://" + addr + "/image/aa:bb:cc:dd:ee:01")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			got[i], err = io.Copy(io.Discard, resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Errorf("client %d: %s, %v", i, resp.Status, err)
			}
		}()
	}
	wg.Wait()
	want := []int64{size, size, size, size, size, size, size, size}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bytes per client (-want +got):\n%s", diff)
	}
}

func TestHead(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	addr := serve(t, f.server(t))
	for _, stage := range []string{"ipxe", "kernel", "image", "container", "system", "runtime"} {
		for _, c := range []string{"", "gz"} {
			if stage == "kernel" && c != "" || stage == "ipxe" && c != "" {
				continue
			}
			target := "/" + stage + "/aa:bb:cc:dd:ee:01?compress=" + c
			t.Run(stage+"/"+c, func(t *testing.T) {
				get, err := http.Get("http://" + addr + target)
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(get.Body)
				get.Body.Close()
				if err != nil || get.StatusCode != http.StatusOK {
					t.Fatalf("GET: %s %v", get.Status, err)
				}
				head, err := http.Head("http://" + addr + target)
				if err != nil {
					t.Fatal(err)
				}
				hbody, err := io.ReadAll(head.Body)
				head.Body.Close()
				if err != nil {
					t.Fatal(err)
				}
				type answer struct {
					Code          int
					ContentLength int64
					ETag          string
					Body          int
				}
				want := answer{200, int64(len(body)), get.Header.Get("ETag"), 0}
				if diff := cmp.Diff(want, answer{head.StatusCode, head.ContentLength, head.Header.Get("ETag"), len(hbody)}); diff != "" {
					t.Errorf("HEAD (-want +got):\n%s", diff)
				}
			})
		}
	}
}
