package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/wwboot/wwboot/internal/bootstrap"
	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/nodeclient"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/stage1"
)

func TestInitramfsServesBootstrap(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	sitetest.Write(t, filepath.Join(f.opts.Images.RootFS("rocky"), "boot/initrd.img-6.1.0-1-amd64"), "initramfs of rocky\n")
	sum := writeArchive(t, bootstrap.OutName(f.opts.Images.Archive("rocky"), "6.1.0-1-amd64", compress.Gzip), "bootstrap of rocky\n")
	// A bootstrap for another kernel is not the node's.
	writeArchive(t, bootstrap.OutName(f.opts.Images.Archive("gzonly"), "5.14.0", compress.Gzip), "bootstrap of another kernel\n")
	s := f.server(t)
	h := s.Handler()
	for _, tc := range []struct {
		name, target string
		code         int
		body         string
		checksum     string
	}{
		{"bootstrap when built", "/initramfs/aa:bb:cc:dd:ee:01", http.StatusOK, "bootstrap of rocky\n", sum},
		{"own=1 forces the image's own", "/initramfs/aa:bb:cc:dd:ee:01?own=1", http.StatusOK, "initramfs of rocky\n", ""},
		{"no bootstrap for the node's kernel", "/initramfs/aa:bb:cc:dd:ee:03", http.StatusNotFound, "no bootstrap (wwctl image bootstrap gzonly)", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(h, tc.target, "10.0.0.1:40000", nil)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Fatalf("%d %q, want %d with %q", w.Code, w.Body, tc.code, tc.body)
			}
			if got := w.Header().Get("X-Checksum-Sha256"); got != tc.checksum {
				t.Errorf("X-Checksum-Sha256 %q, want %q", got, tc.checksum)
			}
			if tc.checksum != "" && w.Header().Get("ETag") != `"`+tc.checksum+`"` {
				t.Errorf("ETag %q, want the sha256", w.Header().Get("ETag"))
			}
		})
	}
	// Stage one resumes a cut download with a range.
	w := get(h, "/initramfs/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", http.Header{"Range": {"bytes=13-"}})
	if w.Code != http.StatusPartialContent || w.Body.String() != "rocky\n" {
		t.Errorf("range: %d %q", w.Code, w.Body)
	}
}

func TestTwoStageMethod(t *testing.T) {
	// n1 asks from its own address, so its script carries a token.
	f := newFixture(t, strings.Replace(fixtureNodes, "  n1:\n    profiles: [default]\n", "  n1:\n    profiles: [default]\n    tags: {IPXEMenuEntry: twostage}\n", 1), false)
	h := f.server(t).Handler()
	script := get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Body.String()
	if miss := contains(script, "goto twostage", "\n:twostage\n", "initrd --name initramfs ${base}/initramfs/${mac}?${args} ||",
		"boot kernel initrd=initramfs rdinit=/init wwid=${mac} wwserver=${base} wwassetkey=${asset:uristring} wwuuid=${uuid} wwtoken=",
		" wwroot=initramfs quiet crashkernel=no", "initramfs/${mac}?${args}&own=1"); miss != "" {
		t.Errorf("script lacks %q:\n%s", miss, script)
	}
}

func TestOverlayCarriesItsSHA256(t *testing.T) {
	f := secretFixture(t)
	h := f.server(t).Handler()
	token := tokenRE.FindStringSubmatch(get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Body.String())[1]
	sumOf := func(b []byte) string {
		s := sha256.Sum256(b)
		return hex.EncodeToString(s[:])
	}
	for _, tc := range []struct {
		name, target string
		withheld     bool
	}{
		{"system, uncompressed", "/system/aa:bb:cc:dd:ee:01?token=" + token, false},
		{"system, gzip", "/system/aa:bb:cc:dd:ee:01?compress=gz&token=" + token, false},
		{"system, zstd", "/system/aa:bb:cc:dd:ee:01?compress=zstd&token=" + token, false},
		{"system, secret withheld", "/system/aa:bb:cc:dd:ee:01?compress=zstd", true},
		{"runtime", "/runtime/aa:bb:cc:dd:ee:01?compress=gz&token=" + token, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(h, tc.target, "10.0.0.1:40000", nil)
			body := w.Body.Bytes()
			if w.Code != http.StatusOK {
				t.Fatalf("%d %s", w.Code, body)
			}
			if withheld := w.Header().Get("X-Wwboot-Withheld") != ""; withheld != tc.withheld {
				t.Errorf("secret files withheld = %v, want %v", withheld, tc.withheld)
			}
			sum := w.Header().Get("X-Checksum-Sha256")
			if sum == "" || sum != sumOf(body) {
				t.Fatalf("X-Checksum-Sha256 %q, body's sha256 %s", sum, sumOf(body))
			}
			// A resumed download is checked as a whole: a range carries
			// the whole body's sum.
			r := get(h, tc.target, "10.0.0.1:40000", http.Header{"Range": {"bytes=7-"}})
			if r.Code != http.StatusPartialContent || !bytes.Equal(r.Body.Bytes(), body[7:]) {
				t.Fatalf("range: %d, %d bytes of %d", r.Code, r.Body.Len(), len(body))
			}
			if got := r.Header().Get("X-Checksum-Sha256"); got != sum {
				t.Errorf("range: X-Checksum-Sha256 %q, want the whole body's %s", got, sum)
			}
		})
	}
}

// TestStageOneRefusesADamagedOverlay runs stage one's downloader against
// the daemon: an overlay archive damaged on the server's disk after the
// build goes out with the sha256 the build recorded, and stage one
// refuses it; a form the pack does not hold (zstd, gzip), made from a
// damaged uncompressed archive, is refused by the daemon, which checks
// the uncompressed archive's sha256 before making it.
func TestStageOneRefusesADamagedOverlay(t *testing.T) {
	for _, tc := range []struct {
		name    string
		format  compress.Format // asked for
		damaged compress.Format // the form damaged in the pack
		wantErr func(error) bool
	}{
		{"the form the pack holds", compress.None, compress.None,
			func(err error) bool { return errors.Is(err, nodeclient.ErrChecksum) }},
		{"a form made on demand", compress.Zstd, compress.None,
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "damaged") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, fixtureNodes, false)
			target := "/system/aa:bb:cc:dd:ee:01"
			if tc.format != compress.None {
				target += "?compress=" + string(tc.format)
			}
			fetch := func(s *Server) (*nodeclient.Download, error) {
				t.Helper()
				ts := httptest.NewServer(s.Handler())
				defer ts.Close()
				fe := &nodeclient.Fetcher{Client: ts.Client(), Say: t.Logf}
				d, err := fe.Open(context.Background(), ts.URL+target, false)
				if err != nil {
					return nil, err
				}
				defer d.Close()
				_, xerr := (&stage1.Extractor{}).Extract(d, t.TempDir())
				// As stage one does: reading to the end checks the sha256,
				// which says more than a failed unpacking.
				if _, err = io.Copy(io.Discard, d); err == nil {
					err = xerr
				}
				return d, err
			}
			// The first request builds the image.
			d, err := fetch(f.server(t))
			if err != nil || d.SHA256() == "" {
				t.Fatalf("intact overlay: %v", err)
			}
			// Damage the node's own archive in its pack.
			a, err := f.opts.Builder.Artifact(context.Background(), f.server(t).state.Load().snap, "n1", overlay.System, tc.damaged, false)
			if err != nil {
				t.Fatal(err)
			}
			own := a.Parts[len(a.Parts)-1]
			if own.Secret || own.Data != nil || !strings.HasSuffix(own.Path, ".pack") {
				t.Fatalf("last part %+v, want the node's own archive in its pack", own)
			}
			data, err := os.ReadFile(own.Path)
			if err != nil {
				t.Fatal(err)
			}
			data[own.Offset+own.Size/2] ^= 0xff
			sitetest.Write(t, own.Path, string(data))
			// A daemon started afresh holds nothing in memory: it reads the
			// damaged file.
			if _, err := fetch(f.server(t)); !tc.wantErr(err) {
				t.Fatalf("damaged overlay: %v", err)
			}
		})
	}
}
