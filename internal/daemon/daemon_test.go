package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/site"
)

const testNodes = `nodeprofiles:
  default:
    image name: rocky
    system overlay: [sys]
    runtime overlay: [rt]
nodes:
  n1:
    profiles: [default]
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:01", ipaddr: 10.0.0.1}
`

const kernelBytes = "fake linux kernel 6.1.0-1-amd64\n"

// fixture is an installation in a temporary directory: warewulf.conf
// (DHCP and TFTP external, so nothing but HTTP is opened), nodes.conf,
// an image with its kernel and built archive, and two site overlays.
type fixture struct {
	root, conf string
	cfg        *config.Config
}

func newFixture(t *testing.T, extraConf string) *fixture {
	t.Helper()
	in := sitetest.New(t, sitetest.DefaultConf+"warewulf:\n  port: 9873\n"+
		"dhcp:\n  mode: external\ntftp:\n  mode: external\n"+extraConf)
	f := &fixture{root: in.Root, conf: in.ConfPath, cfg: in.Config}
	in.WriteNodes(t, testNodes)
	st := f.site(t)
	rootfs := st.Images().RootFS("rocky")
	sitetest.Write(t, filepath.Join(rootfs, "boot/vmlinuz-6.1.0-1-amd64"), kernelBytes)
	sitetest.Write(t, filepath.Join(rootfs, "etc/os-release"), "ID=fake\n")
	archive := st.Images().Archive("rocky") + ".img"
	const image = "070701 fake uncompressed image archive of rocky\n"
	sum := sha256.Sum256([]byte(image))
	sitetest.Write(t, archive, image)
	sitetest.Write(t, archive+".sha256", hex.EncodeToString(sum[:])+"  "+filepath.Base(archive)+"\n")
	sitetest.Write(t, filepath.Join(f.cfg.Paths.Wwoverlaydir, "sys/rootfs/etc/hostname.ww"), "{{.Id}}\n")
	sitetest.Write(t, filepath.Join(f.cfg.Paths.Wwoverlaydir, "rt/rootfs/etc/motd.ww"), "welcome to {{.Id}}\n")
	return f
}

func (f *fixture) site(t *testing.T) *site.Site {
	t.Helper()
	st, err := site.Open(site.Options{Config: f.cfg, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// daemon makes a daemon of the fixture listening on a free loopback port.
func (f *fixture) daemon(t *testing.T, stderr io.Writer) *Daemon {
	t.Helper()
	d, err := New(Options{Site: f.site(t), ConfigPath: f.conf, Listen: "127.0.0.1:0", Stderr: stderr})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// lockedBuffer is a bytes.Buffer that Run may write while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// run runs d until the returned stop is called, which returns Run's
// error. The base URL is read from the line Run reports the listener on.
func run(t *testing.T, d *Daemon, stderr *lockedBuffer) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	stop = func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("Run did not return")
			return nil
		}
	}
	const prefix = "wwctl server: HTTP on "
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if out := stderr.String(); strings.HasPrefix(out, prefix) && strings.HasSuffix(out, "\n") {
			if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 1 {
				t.Errorf("reported %q, want one line", out)
			}
			return "http://" + strings.TrimSpace(strings.TrimPrefix(out, prefix)), stop
		}
		if time.Now().After(deadline) {
			stop()
			t.Fatalf("no listener reported: %q", stderr.String())
		}
	}
}

func getCode(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Run saves what was served when it stops, and a new daemon restores it.
func TestRunPersistsStatusOnShutdown(t *testing.T) {
	f := newFixture(t, "")
	var stderr lockedBuffer
	base, stop := run(t, f.daemon(t, &stderr), &stderr)
	if c := getCode(t, base+"/kernel/aa:bb:cc:dd:ee:01"); c != http.StatusOK {
		t.Fatalf("kernel: %d", c)
	}
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := f.daemon(t, nil).srv.Status()["n1"]
	if st.Stage != contract.StageKernel || st.Addr != "127.0.0.1" {
		t.Errorf("status after restart: %+v", st)
	}
}

// TestReloadWhenNodesConfChanges edits nodes.conf under a running daemon:
// the new node's MAC is known without a signal.
func TestReloadWhenNodesConfChanges(t *testing.T) {
	f := newFixture(t, "")
	var stderr lockedBuffer
	base, stop := run(t, f.daemon(t, &stderr), &stderr)
	defer stop()
	url := base + "/kernel/aa:bb:cc:dd:ee:09"
	if c := getCode(t, url); c != http.StatusNotFound {
		t.Fatalf("unknown MAC answered %d", c)
	}
	sitetest.Write(t, f.cfg.NodesConf(), testNodes+"  n9:\n    profiles: [default]\n    network devices:\n      default: {hwaddr: \"aa:bb:cc:dd:ee:09\"}\n")
	// The daemon looks every 2 s; wait for it, not for a set time.
	deadline := time.Now().Add(20 * time.Second)
	for getCode(t, url) != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("the new node was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestReloadReadsWarewulfConf(t *testing.T) {
	f := newFixture(t, "")
	d := f.daemon(t, nil)
	h := d.Handler()
	script := func() string {
		r := httptest.NewRequest(http.MethodGet, "/ipxe/aa:bb:cc:dd:ee:01", nil)
		r.RemoteAddr = "10.0.0.1:40000"
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Body.String()
	}
	if body := script(); !strings.Contains(body, "http://10.0.0.254:9873") {
		t.Fatalf("script before the change:\n%s", body)
	}
	data, err := os.ReadFile(f.conf)
	if err != nil {
		t.Fatal(err)
	}
	const restart = "warewulf.conf changed ports, listeners, connection limits, DHCP/TFTP, grubboot or paths: restart the daemon to apply those; the rest applies now"
	for _, tc := range []struct {
		name, from, to string
		wantWarnings   []string
		wantScript     string
	}{
		{name: "address, applied now", from: "ipaddr: 10.0.0.254", to: "ipaddr: 10.0.0.253", wantScript: "http://10.0.0.253:9873"},
		{name: "port, needs a restart", from: "port: 9873", to: "port: 9874", wantWarnings: []string{restart}, wantScript: "http://10.0.0.253:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := string(data)
			data = []byte(strings.Replace(s, tc.from, tc.to, 1))
			sitetest.Write(t, f.conf, string(data))
			warnings, err := d.Reload()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantWarnings, warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			if body := script(); !strings.Contains(body, tc.wantScript) {
				t.Errorf("script after the change lacks %q:\n%s", tc.wantScript, body)
			}
		})
	}
	sitetest.Write(t, f.conf, "warewulf: {port: nonsense}\n")
	if _, err := d.Reload(); err == nil || !strings.Contains(err.Error(), "warewulf.conf") {
		t.Errorf("a broken warewulf.conf reloaded with %v, want an error naming it", err)
	}
	if body := script(); !strings.Contains(body, "http://10.0.0.253:") {
		t.Errorf("a failed reload changed what is served:\n%s", body)
	}
}

func TestRestartNeeded(t *testing.T) {
	tests := []struct {
		name   string
		change func(c *config.Config)
		want   bool
	}{
		{"nothing", func(*config.Config) {}, false},
		{"server address", func(c *config.Config) { c.Ipaddr = "10.0.0.9" }, false},
		{"update interval", func(c *config.Config) { c.Warewulf.UpdateInterval++ }, false},
		{"port", func(c *config.Config) { c.Warewulf.Port++ }, true},
		{"TLS", func(c *config.Config) { c.Warewulf.TLS = !c.Warewulf.TLS }, true},
		{"max connections", func(c *config.Config) { c.Warewulf.MaxConnections++ }, true},
		{"idle timeout", func(c *config.Config) { c.Warewulf.IdleTimeout++ }, true},
		{"DHCP range", func(c *config.Config) { c.Dhcp.RangeEnd = "10.0.0.99" }, true},
		{"TFTP mode", func(c *config.Config) { c.Tftp.Mode = config.ModeExternal }, true},
		{"grubboot", func(c *config.Config) { c.Warewulf.GrubBoot = !c.Warewulf.GrubBoot }, true},
		{"shim of an architecture", func(c *config.Config) { c.Tftp.ShimBinaries = map[string]string{"00:07": "/srv/shimx64.efi"} }, true},
		{"GRUB of an architecture", func(c *config.Config) { c.Tftp.GrubBinaries = map[string]string{"00:07": "/srv/grubx64.efi"} }, true},
		{"iPXE binary", func(c *config.Config) { c.Tftp.IpxeBinaries = map[string]string{"00:00": "/srv/undionly.kpxe"} }, true},
		{"TFTP transfers", func(c *config.Config) { c.Tftp.MaxTransfers++ }, true},
		{"paths", func(c *config.Config) { c.Paths.Localstatedir = "/elsewhere" }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			was, now := config.Default(), config.Default()
			tc.change(now)
			if got := restartNeeded(was, now); got != tc.want {
				t.Errorf("restartNeeded = %v, want %v", got, tc.want)
			}
		})
	}
}
