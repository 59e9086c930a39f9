package provision

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/nodeclient"
	"github.com/wwboot/wwboot/internal/stage1"
)

const (
	imageShadow = "root:$6$salt$IMAGESHADOWHASH0123456789:19000:0:99999:7:::\n"
	imageKey    = "-----BEGIN OPENSSH PRIVATE KEY----- the image's own key\n"
)

// imageSecretFixture builds the image rocky for real, with an
// /etc/shadow (0640) and a 0600 ssh key, in every format.
func imageSecretFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t, fixtureNodes, false)
	root := f.opts.Images.RootFS("rocky")
	for name, body := range map[string]string{"etc/shadow": imageShadow, "etc/ssh/ssh_host_rsa_key": imageKey} {
		p := filepath.Join(root, name)
		sitetest.Write(t, p, body)
		if err := os.Chmod(p, map[string]os.FileMode{"etc/shadow": 0o640}[name]|0o600); err != nil {
			t.Fatal(err)
		}
	}
	_, err := image.Build(context.Background(), root, f.opts.Images.Archive("rocky"), image.BuildOptions{
		Formats: []compress.Format{compress.None, compress.Gzip, compress.Zstd},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// unpacked is the decompressed stream of a body: every gzip member or
// zstd frame in turn, as the kernel reads its initrds.
func unpacked(t *testing.T, body []byte, f compress.Format) []byte {
	t.Helper()
	zr, err := compress.NewReader(bytes.NewReader(body), f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	data, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestImageSecretsOnlyToTheirNode: the image's own secret files reach a
// request with the node's token, never a MAC-only one, in every format
// and with Range; X-Checksum-Sha256 is the sum of the very body sent.
func TestImageSecretsOnlyToTheirNode(t *testing.T) {
	f := imageSecretFixture(t)
	h := f.server(t).Handler()
	m := tokenRE.FindStringSubmatch(get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Body.String())
	if m == nil {
		t.Fatal("the node's iPXE script has no token")
	}
	token := m[1]
	out := f.opts.Images.Archive("rocky")
	for _, format := range []compress.Format{compress.None, compress.Gzip, compress.Zstd} {
		public, err := os.ReadFile(out + ".img" + format.Ext())
		if err != nil {
			t.Fatal(err)
		}
		secret, err := os.ReadFile(image.SecretArchive(out, format))
		if err != nil {
			t.Fatal(err)
		}
		whole := append(append([]byte(nil), public...), secret...)
		query := "compress=" + string(format)
		tests := []struct {
			name, target, remote string
			rng                  int64 // Range: bytes=rng-, when > 0
			proven               bool
		}{
			{"MAC only", "/image/aa:bb:cc:dd:ee:01?" + query, "10.9.9.9:40000", 0, false},
			{"MAC only from the node's address", "/image/aa:bb:cc:dd:ee:01?" + query, "10.0.0.1:40000", 0, false},
			{"MAC only, Range", "/image/aa:bb:cc:dd:ee:01?" + query, "10.9.9.9:40000", int64(len(public) / 2), false},
			{"wrong token", "/image/aa:bb:cc:dd:ee:01?token=00112233445566778899aabbccddeeff&" + query, "10.0.0.1:40000", 0, false},
			{"token", "/image/aa:bb:cc:dd:ee:01?token=" + token + "&" + query, "10.0.0.1:40000", 0, true},
			{"token, Range across both archives", "/image/aa:bb:cc:dd:ee:01?token=" + token + "&" + query, "10.0.0.1:40000", int64(len(public) / 2), true},
			{"token, Range in the secret archive", "/image/aa:bb:cc:dd:ee:01?token=" + token + "&" + query, "10.0.0.1:40000", int64(len(public) + 1), true},
			{"asset key", "/image/aa:bb:cc:dd:ee:02?assetkey=secret&" + query, "10.9.9.9:40000", 0, true},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/%s", format, tc.name), func(t *testing.T) {
				want := public
				if tc.proven {
					want = whole
				}
				var hdr http.Header
				if tc.rng > 0 {
					hdr = http.Header{"Range": {"bytes=" + strconv.FormatInt(tc.rng, 10) + "-"}}
				}
				w := get(h, tc.target, tc.remote, hdr)
				body := w.Body.Bytes()
				if tc.rng > 0 {
					if w.Code != http.StatusPartialContent {
						t.Fatalf("%d %s", w.Code, body)
					}
					wantRange := fmt.Sprintf("bytes %d-%d/%d", tc.rng, len(want)-1, len(want))
					if got := w.Header().Get("Content-Range"); got != wantRange {
						t.Errorf("Content-Range %q, want %q", got, wantRange)
					}
					if !bytes.Equal(body, want[tc.rng:]) {
						t.Errorf("partial body of %d bytes is not bytes %d- of the %d bytes of the variant", len(body), tc.rng, len(want))
					}
					body = want // what the whole answer is
				} else {
					if w.Code != http.StatusOK {
						t.Fatalf("%d %s", w.Code, body)
					}
					if !bytes.Equal(body, want) {
						t.Errorf("body of %d bytes, want the %d bytes of the public archive%s", len(body), len(want),
							map[bool]string{true: " followed by the secret one"}[tc.proven])
					}
				}
				data := unpacked(t, body, format)
				for _, s := range []string{imageShadow, imageKey} {
					if got := bytes.Contains(data, []byte(s)); got != tc.proven {
						t.Errorf("%q sent = %v, want %v", s, got, tc.proven)
					}
				}
				if !bytes.Contains(data, []byte("ID=fake\n")) {
					t.Error("the public files of the image are missing")
				}
				if got := w.Header().Get("X-Checksum-Sha256"); got != sha256Hex(body) {
					t.Errorf("X-Checksum-Sha256 %s, want the sum of the body %s", got, sha256Hex(body))
				}
				if got := w.Header().Get("ETag"); got != `"`+sha256Hex(body)+`"` {
					t.Errorf("ETag %s, want the body's sha256 %s", got, sha256Hex(body))
				}
				if withheld := w.Header().Get("X-Wwboot-Withheld") != ""; withheld == tc.proven {
					t.Errorf("X-Wwboot-Withheld %q with the secrets sent %v", w.Header().Get("X-Wwboot-Withheld"), tc.proven)
				}
			})
		}
	}

	// Resuming with the ETag of the whole body gets the rest of it; the
	// ETag of the public archive is another artifact: the whole again.
	full := get(h, "/image/aa:bb:cc:dd:ee:01?compress=gz&token="+token, "10.0.0.1:40000", nil)
	pub := get(h, "/image/aa:bb:cc:dd:ee:01?compress=gz", "10.0.0.1:40000", nil)
	for _, tc := range []struct {
		name, ifRange string
		want          int
	}{
		{"same ETag", full.Header().Get("ETag"), http.StatusPartialContent},
		{"public ETag", pub.Header().Get("ETag"), http.StatusOK},
	} {
		w := get(h, "/image/aa:bb:cc:dd:ee:01?compress=gz&token="+token, "10.0.0.1:40000",
			http.Header{"Range": {"bytes=100-"}, "If-Range": {tc.ifRange}})
		if diff := cmp.Diff(tc.want, w.Code); diff != "" {
			t.Errorf("If-Range %s: status (-want +got):\n%s", tc.name, diff)
		}
	}
	// A cached public answer never stands for the whole one.
	w := get(h, "/image/aa:bb:cc:dd:ee:01?compress=gz&token="+token, "10.0.0.1:40000",
		http.Header{"If-None-Match": {pub.Header().Get("ETag")}})
	if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), full.Body.Bytes()) {
		t.Errorf("If-None-Match with the public ETag: %d, %d bytes; want 200 and the whole body", w.Code, w.Body.Len())
	}
}

// TestStageOneGetsImageSecrets fetches the image as stage one of
// two-stage boot does, from a real server on loopback: with the token of
// its kernel command line the body (public then secret archive) unpacks
// to a root with /etc/shadow and passes the sha256 check; without, the
// root has no /etc/shadow and the public body passes its own check.
func TestStageOneGetsImageSecrets(t *testing.T) {
	f := imageSecretFixture(t)
	h := f.server(t).Handler()
	token := tokenRE.FindStringSubmatch(get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Body.String())[1]
	ts := httptest.NewServer(h)
	defer ts.Close()
	for _, tc := range []struct {
		name, query string
		want        map[string]string // files of the root, by name; "" for absent
	}{
		{"token", "?token=" + token + "&compress=zst", map[string]string{"etc/shadow": imageShadow, "etc/ssh/ssh_host_rsa_key": imageKey, "etc/os-release": "ID=fake\n"}},
		{"token, gzip", "?token=" + token + "&compress=gz", map[string]string{"etc/shadow": imageShadow, "etc/ssh/ssh_host_rsa_key": imageKey, "etc/os-release": "ID=fake\n"}},
		{"MAC only", "?compress=zst", map[string]string{"etc/shadow": "", "etc/ssh/ssh_host_rsa_key": "", "etc/os-release": "ID=fake\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fetcher := &nodeclient.Fetcher{Client: ts.Client(), Resumes: 1}
			d, err := fetcher.Open(context.Background(), ts.URL+"/image/aa:bb:cc:dd:ee:01"+tc.query, true)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			dir := t.TempDir()
			if _, err := (&stage1.Extractor{}).Extract(d, dir); err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, d); err != nil {
				t.Fatalf("after unpacking: %v", err) // the sha256 check
			}
			if d.SHA256() == "" {
				t.Error("the body was not checked against a sha256")
			}
			got := map[string]string{}
			for name := range tc.want {
				data, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil && !errors.Is(err, fs.ErrNotExist) {
					t.Fatal(err)
				}
				got[name] = string(data)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("unpacked root (-want +got):\n%s", diff)
			}
		})
	}
}

// TestScriptSendsTokenForImage: the default iPXE script of a node that
// proved itself asks for the image with its token, in each method that
// loads the image from iPXE, so the node gets the image's secrets.
func TestScriptSendsTokenForImage(t *testing.T) {
	f := newFixture(t, fixtureNodes, false)
	h := f.server(t).Handler()
	script := get(h, "/ipxe/aa:bb:cc:dd:ee:01", "10.0.0.1:40000", nil).Body.String()
	m := tokenRE.FindStringSubmatch(script)
	if m == nil {
		t.Fatalf("no token in the script:\n%s", script)
	}
	var args string
	var images []string
	for _, line := range strings.Split(script, "\n") {
		if v, ok := strings.CutPrefix(line, "set args "); ok {
			args = v
		}
		if strings.HasPrefix(line, "initrd --name image ") {
			images = append(images, line)
		}
	}
	if !strings.Contains(args, "token="+m[1]) {
		t.Errorf("set args %q lacks the token", args)
	}
	if len(images) != 2 {
		t.Fatalf("image lines %q, want one for initrd and one for initrd_nocompress", images)
	}
	for _, line := range images {
		if !strings.Contains(line, "?${args}") {
			t.Errorf("%q asks for the image without ${args} (and so without the token)", line)
		}
	}
}
