package agent

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/provision"
)

const testWWID = "aa:bb:cc:dd:ee:01"

// daemon is a real provisioning server (wwctl server) on loopback with
// one node, n1, whose runtime overlay is the site overlay "rt".
type daemon struct {
	srv    *provision.Server
	site   string // the rt overlay's rootfs
	built  string // the built overlay images' directory
	addr   string
	cancel context.CancelFunc
	done   chan error
}

func newDaemon(t *testing.T, secure bool) *daemon {
	t.Helper()
	in := sitetest.New(t, "ipaddr: 127.0.0.1\nnetmask: 255.0.0.0\nwarewulf:\n  port: 9873\n  secure: "+
		strconv.FormatBool(secure)+"\n  update interval: 1\n")
	root, cfg := in.Root, in.Config
	sitetest.WriteMode(t, cfg.NodesConf(), "nodes:\n  n1:\n    runtime overlay: [rt]\n    network devices:\n      default: {hwaddr: \""+
		testWWID+"\", ipaddr: 127.0.0.1}\n", 0o644)
	d := &daemon{site: filepath.Join(cfg.Paths.Wwoverlaydir, "rt", "rootfs"), built: filepath.Join(cfg.Paths.Wwprovisiondir, "overlays")}
	d.put(t, "etc/motd.ww", "welcome to {{.Id}}\n", 0o644)
	d.put(t, "etc/keep", "v1\n", 0o644)
	d.put(t, "etc/secret", "s3cret\n", 0o600)
	if err := os.Symlink("motd", filepath.Join(d.site, "etc/link")); err != nil {
		t.Fatal(err)
	}
	srv, err := provision.New(provision.Options{
		Config:   cfg,
		Nodes:    inventory.NewStore(cfg.NodesConf()),
		Overlays: &overlay.Store{Site: cfg.Paths.Wwoverlaydir, Dist: filepath.Join(root, "share/warewulf/overlays")},
		Images:   &image.Images{Chroots: cfg.Paths.Wwchrootdir, Provision: cfg.Paths.Wwprovisiondir},
		Builder:  &overlay.Builder{Dir: d.built, Workers: 1, NoSync: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	d.srv = srv
	d.start(t, "127.0.0.1:0")
	t.Cleanup(d.stop)
	return d
}

func (d *daemon) put(t *testing.T, rel, content string, mode os.FileMode) {
	t.Helper()
	sitetest.WriteMode(t, filepath.Join(d.site, rel), content, mode)
}

// change edits the overlay and has the server load it now, as it would
// on its own within 2 s.
func (d *daemon) change(t *testing.T, edit func()) {
	t.Helper()
	edit()
	if err := d.srv.Reload(); err != nil {
		t.Fatal(err)
	}
}

func (d *daemon) start(t *testing.T, addr string) {
	t.Helper()
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ { // the old listener's port may take a moment to free
		if ln, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d.addr, d.cancel, d.done = ln.Addr().String(), cancel, make(chan error, 1)
	go func() { d.done <- d.srv.ServeListener(ctx, ln) }()
}

func (d *daemon) stop() {
	if d.cancel == nil {
		return
	}
	d.cancel()
	<-d.done
	d.cancel = nil
}

func (d *daemon) port(t *testing.T) int {
	_, p, _ := net.SplitHostPort(d.addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (d *daemon) status() contract.NodeStatus { return d.srv.Status()["n1"] }

// logBuffer collects an agent's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: binds a privileged source port")
	}
}

// runAgent runs an agent for d's node against root until the test ends.
func runAgent(t *testing.T, d *daemon, root string, interval time.Duration) *logBuffer {
	t.Helper()
	logs := &logBuffer{}
	a, err := New(Options{
		// Secure: a privileged source port proves the agent is the node,
		// so the server also sends the files only the node may read.
		Config: &Config{Server: "127.0.0.1", Port: d.port(t), Interval: interval, WWID: testWWID, Secure: true},
		Root:   root,
		Log:    slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return logs
}

// waitFor polls cond until it holds or timeout passes, and returns how
// long it took.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > timeout {
			t.Fatalf("%s: not within %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start)
}

func fileIs(p, want string) func() bool {
	return func() bool {
		data, err := os.ReadFile(p)
		return err == nil && string(data) == want
	}
}

func gone(p string) func() bool {
	return func() bool {
		_, err := os.Lstat(p)
		return os.IsNotExist(err)
	}
}

// leftovers lists temporary files an apply left behind below root.
func leftovers(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, e os.DirEntry, err error) error {
		if err == nil && strings.Contains(e.Name(), ".wwclient-") {
			out = append(out, p)
		}
		return nil
	})
	return out
}
