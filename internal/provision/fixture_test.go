package provision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
)

const fixtureNodes = `nodeprofiles:
  default:
    image name: rocky
    system overlay: [sys]
    runtime overlay: [rt]
    kernel:
      args: [quiet, crashkernel=no]
nodes:
  n1:
    profiles: [default]
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:01", ipaddr: 10.0.0.1}
  n2:
    profiles: [default]
    asset key: secret
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:02"}
  n3:
    profiles: [default]
    image name: gzonly
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:03"}
  n4:
    profiles: [default]
    tags: {IPXEMenuEntry: initrd_nocompress}
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:04"}
  n5:
    profiles: [default]
    ipxe template: localdisk
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:05"}
`

const (
	kernelBytes = "fake linux kernel 6.1.0-1-amd64\n"
	imageBytes  = "070701 fake uncompressed image archive of rocky\n"
	imageGzip   = "\x1f\x8b fake gzip image archive of rocky\n"
)

type fixture struct {
	root  string
	cfg   *config.Config
	opts  Options
	arp   map[string]string
	clock time.Time
}

// writeArchive writes a fake built archive and its sha256 file.
func writeArchive(t testing.TB, p, content string) string {
	t.Helper()
	sitetest.Write(t, p, content)
	sum := sha256.Sum256([]byte(content))
	h := hex.EncodeToString(sum[:])
	sitetest.Write(t, p+".sha256", h+"  "+filepath.Base(p)+"\n")
	return h
}

func newFixture(t testing.TB, nodes string, secure bool) *fixture {
	t.Helper()
	in := sitetest.New(t, sitetest.DefaultConf+"warewulf:\n  port: 9873\n  secure: "+strconv.FormatBool(secure)+"\n")
	root, cfg := in.Root, in.Config
	in.WriteNodes(t, nodes)
	images := &image.Images{Chroots: cfg.Paths.Wwchrootdir, Provision: cfg.Paths.Wwprovisiondir}
	for _, name := range []string{"rocky", "gzonly"} {
		sitetest.Write(t, filepath.Join(images.RootFS(name), "boot/vmlinuz-6.1.0-1-amd64"), kernelBytes)
		sitetest.Write(t, filepath.Join(images.RootFS(name), "etc/os-release"), "ID=fake\n")
	}
	if err := os.Symlink("/boot/vmlinuz-6.1.0-1-amd64", filepath.Join(images.RootFS("rocky"), "boot/vmlinuz")); err != nil {
		t.Fatal(err)
	}
	writeArchive(t, images.Archive("rocky")+".img", imageBytes)
	writeArchive(t, images.Archive("rocky")+".img.gz", imageGzip)
	writeArchive(t, images.Archive("gzonly")+".img.gz", imageGzip)
	sitetest.Write(t, filepath.Join(cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/static"), "the same for every node\n")
	sitetest.Write(t, filepath.Join(cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/hostname.ww"), "{{.Id}}\n")
	sitetest.Write(t, filepath.Join(cfg.Paths.Wwoverlaydir, "rt/rootfs/etc/motd.ww"), "welcome to {{.Id}}\n")
	f := &fixture{root: root, cfg: cfg, arp: map[string]string{}, clock: time.Unix(1_700_000_000, 0)}
	f.opts = Options{
		Config:     cfg,
		Nodes:      inventory.NewStore(cfg.NodesConf()),
		Overlays:   &overlay.Store{Site: cfg.Paths.Wwoverlaydir, Dist: filepath.Join(root, "share/warewulf/overlays")},
		Images:     images,
		Builder:    &overlay.Builder{Dir: filepath.Join(cfg.Paths.Wwprovisiondir, "overlays"), Workers: 2, NoSync: true},
		StatusFile: filepath.Join(root, "var/warewulf/status.json"),
		Now:        func() time.Time { return f.clock },
		ARP:        func(ip string) string { return f.arp[ip] },
	}
	return f
}

func (f *fixture) server(t *testing.T) *Server {
	t.Helper()
	s, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// get runs a request through h from remote (host:port).
func get(h http.Handler, target, remote string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequestWithContext(context.Background(), http.MethodGet, target, nil)
	if remote != "" {
		r.RemoteAddr = remote
	}
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func contains(s string, subs ...string) string {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}
