package provision

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/overlay"
)

// discardWriter is a ResponseWriter that keeps nothing, for benchmarks.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(int)             {}

// BenchmarkServeSystemOverlay measures the daemon's own work for a
// node's system overlay (no network), cycling through many nodes as a
// boot storm does.
func BenchmarkServeSystemOverlay(b *testing.B) {
	const n = 2000
	f := newFixture(b, manyNodes(n), false)
	f.cfg.Warewulf.AutobuildOverlays = true
	s, err := New(f.opts)
	if err != nil {
		b.Fatal(err)
	}
	snap := s.state.Load().snap
	if _, err := f.opts.Builder.Build(context.Background(), snap, nil, []overlay.ImageKind{overlay.System}, false, nil); err != nil {
		b.Fatal(err)
	}
	h := s.Handler()
	reqs := make([]*http.Request, n)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, "/system/"+loadMAC(i), nil)
		reqs[i].RemoteAddr = "10.0.0.9:40000"
	}
	w := &discardWriter{}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		w.h = http.Header{}
		h.ServeHTTP(w, reqs[i%n])
	}
}

// fetch gets target from h and fails the test unless it is a 200.
func fetch(t *testing.T, h http.Handler, target, remote string) *httptest.ResponseRecorder {
	t.Helper()
	w := get(h, target, remote, nil)
	if w.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", target, w.Code, w.Body)
	}
	return w
}

// partsContent is what the artifact's parts hold on disk.
func partsContent(t *testing.T, a *overlay.Artifact) string {
	t.Helper()
	var b strings.Builder
	for _, p := range a.Parts {
		data, err := p.Read()
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}

// A rebuilt overlay is sent as rebuilt, never from the bytes held for
// the previous build, both when wwctl overlay build rebuilds it (and the
// daemon reloads, as it does on a change of the overlays) and when the
// daemon builds it on demand.
func TestOverlayFromMemoryAfterRebuild(t *testing.T) {
	for _, byDaemon := range []bool{false, true} {
		t.Run(map[bool]string{false: "wwctl overlay build", true: "autobuild"}[byDaemon], func(t *testing.T) {
			f := newFixture(t, fixtureNodes, false)
			f.cfg.Warewulf.AutobuildOverlays = byDaemon
			s := f.server(t)
			h := s.Handler()
			build := func() {
				t.Helper()
				if _, err := f.opts.Builder.Build(context.Background(), s.state.Load().snap, nil,
					[]overlay.ImageKind{overlay.System}, false, nil); err != nil {
					t.Fatal(err)
				}
			}
			if !byDaemon {
				build()
			}
			first := fetch(t, h, "/system/aa:bb:cc:dd:ee:01", priv)
			if entries, _ := s.archives.MemoryStats(); entries == 0 {
				t.Fatal("nothing kept in memory after sending the overlay")
			}
			// Sent again from memory: the same.
			if again := fetch(t, h, "/system/aa:bb:cc:dd:ee:01", priv); again.Body.String() != first.Body.String() {
				t.Fatal("the second answer differs from the first")
			}

			sitetest.Write(t, filepath.Join(f.cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/hostname.ww"), "host {{.Id}} rebuilt\n")
			sitetest.Write(t, filepath.Join(f.cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/static"), "the same for every node, rebuilt\n")
			if err := s.Reload(); err != nil {
				t.Fatal(err)
			}
			if !byDaemon {
				build()
			}
			second := fetch(t, h, "/system/aa:bb:cc:dd:ee:01", priv)
			a, err := f.opts.Builder.Artifact(context.Background(), s.state.Load().snap, "n1", overlay.System, compress.None, false)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(partsContent(t, a), second.Body.String()); diff != "" {
				t.Errorf("after the rebuild (-built +sent):\n%s", diff)
			}
			for _, want := range []string{"n1 rebuilt", "every node, rebuilt"} {
				if !strings.Contains(second.Body.String(), want) {
					t.Errorf("the rebuilt overlay sent lacks %q", want)
				}
			}
			if got, old := second.Header().Get("ETag"), first.Header().Get("ETag"); got != `"`+a.ETag+`"` || got == old {
				t.Errorf("ETag %s after the rebuild (before %s), want %q", got, old, a.ETag)
			}
			if got := second.Header().Get("Content-Length"); got != strconv.Itoa(second.Body.Len()) {
				t.Errorf("Content-Length %s for %d bytes", got, second.Body.Len())
			}
		})
	}
}

// An archive replaced on disk by another file (by hand, or a build
// interrupted and run again) is read again at the next check, not sent
// from memory.
func TestOverlayFromMemoryFollowsTheFile(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	s := f.server(t)
	h := s.Handler()
	fetch(t, h, "/system/aa:bb:cc:dd:ee:01", priv)
	a, err := f.opts.Builder.Artifact(context.Background(), s.state.Load().snap, "n1", overlay.System, compress.None, false)
	if err != nil {
		t.Fatal(err)
	}
	// The node's own archive, changed in its pack, which is replaced.
	own := a.Parts[len(a.Parts)-1]
	data, err := own.Read()
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.ToUpper(data)
	pack, err := os.ReadFile(own.Path)
	if err != nil {
		t.Fatal(err)
	}
	copy(pack[own.Offset:], changed)
	if err := os.WriteFile(own.Path+".new", pack, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(own.Path+".new", own.Path); err != nil {
		t.Fatal(err)
	}
	// A new load checks the artifact again.
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if body := fetch(t, h, "/system/aa:bb:cc:dd:ee:01", priv).Body.String(); !strings.HasSuffix(body, string(changed)) {
		t.Error("the archive replaced on disk was not sent as it is now")
	}
}

// Secret archives are not kept in memory, and what is kept never lets
// the secret reach a request that did not prove it comes from the node,
// whichever comes first.
func TestOverlayFromMemorySecrets(t *testing.T) {
	for _, provenFirst := range []bool{false, true} {
		t.Run(map[bool]string{false: "public first", true: "proven first"}[provenFirst], func(t *testing.T) {
			f := secretFixture(t)
			s := f.server(t)
			h := s.Handler()
			order := []string{"10.9.9.9:40000", priv}
			if provenFirst {
				order = []string{priv, "10.9.9.9:40000", priv, "10.9.9.9:40000"}
			}
			etags := map[bool]string{}
			for _, remote := range order {
				w := fetch(t, h, "/system/aa:bb:cc:dd:ee:01", remote)
				proven := remote == priv
				body := w.Body.String()
				if got := strings.Contains(body, secretBytes); got != proven {
					t.Errorf("from %s: secret sent = %v", remote, got)
				}
				if withheld := w.Header().Get("X-Wwboot-Withheld"); (withheld != "") == proven {
					t.Errorf("from %s: X-Wwboot-Withheld %q", remote, withheld)
				}
				if got := w.Header().Get("Content-Length"); got != strconv.Itoa(len(body)) {
					t.Errorf("from %s: Content-Length %s for %d bytes", remote, got, len(body))
				}
				if prev, ok := etags[proven]; ok && prev != w.Header().Get("ETag") {
					t.Errorf("from %s: ETag %s, before %s", remote, w.Header().Get("ETag"), prev)
				}
				etags[proven] = w.Header().Get("ETag")
			}
			if etags[true] == etags[false] {
				t.Errorf("the same ETag %s with and without the secret", etags[true])
			}
			if entries, _ := s.archives.MemoryStats(); entries == 0 {
				t.Error("nothing kept in memory")
			}
		})
	}
}

// With no memory for overlays, they are sent from their files.
func TestOverlayWithoutMemory(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	f.opts.OverlayMemory = -1
	s := f.server(t)
	h := s.Handler()
	w := fetch(t, h, "/system/aa:bb:cc:dd:ee:01", priv)
	a, err := f.opts.Builder.Artifact(context.Background(), s.state.Load().snap, "n1", overlay.System, compress.None, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(partsContent(t, a), w.Body.String()); diff != "" {
		t.Errorf("(-built +sent):\n%s", diff)
	}
	if entries, _ := s.archives.MemoryStats(); entries != 0 {
		t.Errorf("%d archives in memory with OverlayMemory -1", entries)
	}
}
