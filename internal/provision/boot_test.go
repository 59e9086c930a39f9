package provision

import (
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

func TestInitramfsAndEFIBoot(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	sitetest.Write(t, filepath.Join(f.opts.Images.RootFS("rocky"), "boot/initrd.img-6.1.0-1-amd64"), "initramfs of rocky\n")
	efi := filepath.Join(f.root, "ipxe/snponly.efi")
	sitetest.Write(t, efi, "iPXE EFI binary\n")
	f.opts.EFIBoot = map[string]string{"snponly.efi": efi}
	s := f.server(t)
	h := s.Handler()
	for _, tc := range []struct {
		name, target string
		code         int
		body         string
	}{
		{"initramfs", "/initramfs/aa:bb:cc:dd:ee:01", http.StatusOK, "initramfs of rocky\n"},
		{"legacy stage", "/provision/aa:bb:cc:dd:ee:01?stage=initramfs", http.StatusOK, "initramfs of rocky\n"},
		{"image without an initramfs", "/initramfs/aa:bb:cc:dd:ee:03", http.StatusNotFound, "no initramfs for kernel 6.1.0-1-amd64"},
		{"efiboot", "/efiboot/snponly.efi", http.StatusOK, "iPXE EFI binary\n"},
		{"efiboot unknown", "/efiboot/ipxe.efi", http.StatusNotFound, "no boot loader"},
		{"efiboot traversal", "/efiboot/..%2fsnponly.efi", http.StatusNotFound, "no boot loader"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(h, tc.target, "10.0.0.1:40000", nil)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Errorf("%d %q, want %d with %q", w.Code, w.Body, tc.code, tc.body)
			}
		})
	}
	if st := s.Status()["n1"]; st.Stage != stageInitramfs || st.Sent != "initrd.img-6.1.0-1-amd64" {
		t.Errorf("n1 status %+v", st)
	}
}

func TestDracutMethod(t *testing.T) {
	f := newFixture(t, strings.Replace(fixtureNodes, "tags: {IPXEMenuEntry: initrd_nocompress}", "tags: {IPXEMenuEntry: dracut}", 1), false)
	h := f.server(t).Handler()
	script := get(h, "/ipxe/aa:bb:cc:dd:ee:04", "10.0.0.4:40000", nil).Body.String()
	if miss := contains(script, "goto dracut", "initrd --name initramfs ${base}/initramfs/${mac}?${args}",
		"root=wwinit:tmpfs wwinit.server=${base}", "init=/warewulf/wwinit wwid=${mac} quiet crashkernel=no"); miss != "" {
		t.Errorf("script lacks %q:\n%s", miss, script)
	}
}

func TestOverlayConditionalAndRange(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	h := f.server(t).Handler()
	const target = "/system/aa:bb:cc:dd:ee:01"
	full := get(h, target, "10.0.0.1:40000", nil)
	etag, body := full.Header().Get("ETag"), full.Body.String()
	if full.Code != http.StatusOK || etag == "" || full.Header().Get("Content-Length") != strconv.Itoa(len(body)) {
		t.Fatalf("%d, ETag %q, Content-Length %q for %d bytes", full.Code, etag, full.Header().Get("Content-Length"), len(body))
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		code   int
		body   string
	}{
		{"matching ETag", http.Header{"If-None-Match": {etag}}, http.StatusNotModified, ""},
		{"weak and listed", http.Header{"If-None-Match": {`"x", W/` + etag}}, http.StatusNotModified, ""},
		{"star", http.Header{"If-None-Match": {"*"}}, http.StatusNotModified, ""},
		{"other ETag", http.Header{"If-None-Match": {`"x"`}}, http.StatusOK, body},
		{"range across parts", http.Header{"Range": {"bytes=10-"}}, http.StatusPartialContent, body[10:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := get(h, target, "10.0.0.1:40000", tc.header)
			if w.Code != tc.code || w.Body.String() != tc.body {
				t.Errorf("%d with %d bytes, want %d with %d", w.Code, w.Body.Len(), tc.code, len(tc.body))
			}
		})
	}
}
