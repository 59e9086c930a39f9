package provision

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/bootstrap"
	"github.com/wwboot/wwboot/internal/compress"
)

func TestInitramfsServesBootstrap(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	write(t, filepath.Join(f.opts.Images.RootFS("rocky"), "boot/initrd.img-6.1.0-1-amd64"), "initramfs of rocky\n")
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
