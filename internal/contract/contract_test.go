package contract

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestURLs(t *testing.T) {
	tests := []struct {
		name, got, want string
	}{
		{name: "iPXE script", got: IPXEScriptURL("10.0.0.1:9873"),
			want: "http://10.0.0.1:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}"},
		{name: "iPXE script, IPv6", got: IPXEScriptURL("[fd00::1]:9873"),
			want: "http://[fd00::1]:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}"},
		{name: "EFI binary", got: EFIBootURL("10.0.0.1:9873", "snponly.efi"), want: "http://10.0.0.1:9873/efiboot/snponly.efi"},
		{name: "artifact", got: ArtifactURL("https://s:9874/", RouteRuntime, "aa:bb:cc:dd:ee:ff", url.Values{QueryCompress: {"gz"}, QueryAssetKey: {"a b"}}),
			want: "https://s:9874/runtime/aa:bb:cc:dd:ee:ff?assetkey=a+b&compress=gz"},
		{name: "artifact, wwid escaped, no query", got: ArtifactURL("http://s", RouteImage, "a/b?", nil),
			want: "http://s/image/a%2Fb%3F"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRouteStages(t *testing.T) {
	want := map[string]string{
		"ipxe": "IPXE", "grub": "GRUB", "kernel": "KERNEL", "initramfs": "INITRAMFS", "image": "IMAGE", "container": "IMAGE",
		"system": "SYSTEM_OVERLAY", "overlay-system": "SYSTEM_OVERLAY", "runtime": "RUNTIME_OVERLAY", "overlay-runtime": "RUNTIME_OVERLAY",
	}
	if diff := cmp.Diff(want, RouteStages()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestFailed(t *testing.T) {
	for sent, want := range map[string]bool{"BAD_REQUEST": true, "NOT_FOUND": true, "BAD_ASSET": true, "": false, "__RUNTIME__.img.gz": false} {
		if got := Failed(sent); got != want {
			t.Errorf("Failed(%q) = %v, want %v", sent, got, want)
		}
	}
}

// The daemon sets these headers in its map directly, so they must be in
// canonical form.
func TestHeadersCanonical(t *testing.T) {
	for _, h := range []string{HeaderChecksum, HeaderWithheld} {
		if c := http.CanonicalHeaderKey(h); c != h {
			t.Errorf("header %q is not canonical (%q)", h, c)
		}
	}
}
