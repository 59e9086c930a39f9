package provision

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/overlay"
)

// manyNodes returns a nodes.conf of n nodes of the fixture's default
// profile, node i with hardware address loadMAC(i).
func manyNodes(n int) string {
	var b strings.Builder
	head, _, _ := strings.Cut(fixtureNodes, "nodes:\n")
	b.WriteString(head + "nodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  l%04d:\n    profiles: [default]\n    network devices:\n      default: {hwaddr: %q}\n", i, loadMAC(i))
	}
	return b.String()
}

func loadMAC(i int) string { return fmt.Sprintf("02:00:00:00:%02x:%02x", i>>8&255, i&255) }

// serve runs s on a loopback listener until the test ends and returns its
// address.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.ServeListener(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	})
	return ln.Addr().String()
}

// A thousand nodes boot at once: each fetches its iPXE script, kernel,
// image and both overlays (checked up to date on demand) over its own
// connection.
// Every answer must be a 200 with the right length, and the status must
// show every node at its last stage.
func TestLoadThousandNodes(t *testing.T) {
	const n = 1000
	f := newFixture(t, manyNodes(n), false)
	f.cfg.Warewulf.AutobuildOverlays = true
	// The thousand nodes all come from 127.0.0.1.
	f.cfg.Warewulf.MaxClientConnections = n
	f.cfg.Warewulf.IdleClientConnections = n
	// An image big enough to take several writes per answer.
	img := strings.Repeat("0123456789abcdef", 4<<10)
	writeArchive(t, f.opts.Images.Archive("rocky")+".img", img)
	s := f.server(t)
	// Built beforehand, as "wwctl overlay build" would: the daemon only
	// checks them (building a thousand one by one takes seconds).
	snap := s.state.Load().snap
	if _, err := f.opts.Builder.Build(context.Background(), snap, nil,
		[]overlay.ImageKind{overlay.System, overlay.Runtime}, false, nil); err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: n, MaxConnsPerHost: n}}
	defer client.CloseIdleConnections()

	type fetched struct {
		stage string
		size  int64
	}
	var (
		mu       sync.Mutex
		failures []string
		sizes    = map[string][]fetched{} // node MAC -> overlay sizes got
	)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mac := loadMAC(i)
			for _, stage := range []string{"ipxe", "kernel", "image", "system", "runtime"} {
				resp, err := client.Get("http://" + addr + "/" + stage + "/" + mac)
				if err != nil {
					mu.Lock()
					failures = append(failures, fmt.Sprintf("%s %s: %v", stage, mac, err))
					mu.Unlock()
					return
				}
				got, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				var problem string
				switch {
				case err != nil:
					problem = err.Error()
				case resp.StatusCode != http.StatusOK:
					problem = resp.Status
				case stage == "kernel" && got != int64(len(kernelBytes)), stage == "image" && got != int64(len(img)):
					problem = fmt.Sprintf("%d bytes", got)
				case stage == "ipxe" && got == 0:
					problem = "empty script"
				}
				mu.Lock()
				if problem != "" {
					failures = append(failures, fmt.Sprintf("%s %s: %s", stage, mac, problem))
				}
				if stage == "system" || stage == "runtime" {
					sizes[mac] = append(sizes[mac], fetched{stage, got})
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d request(s) failed, first: %s", len(failures), failures[0])
	}

	// The overlays sent are the images built, of the right length.
	for i := range n {
		mac, node := loadMAC(i), fmt.Sprintf("l%04d", i)
		var want []fetched
		for _, k := range []overlay.ImageKind{overlay.System, overlay.Runtime} {
			a, err := f.opts.Builder.Artifact(context.Background(), snap, node, k, compress.None, false)
			if err != nil {
				t.Fatal(err)
			}
			if a.HasSecrets() {
				a = a.Public()
			}
			want = append(want, fetched{string(k), a.Size()})
		}
		if diff := cmp.Diff(want, sizes[mac], cmp.AllowUnexported(fetched{})); diff != "" {
			t.Fatalf("node %s overlays (-built +sent):\n%s", node, diff)
		}
	}
	stages := map[string]int{}
	for _, st := range s.Status() {
		stages[st.Stage]++
	}
	if diff := cmp.Diff(map[string]int{stageRuntime: n}, stages); diff != "" {
		t.Errorf("nodes by last stage (-want +got):\n%s", diff)
	}
}
