// Command daemon measures the provisioning daemon ("wwctl server") with a
// generated 10,000-node cluster against a plain Go static file server
// (http.FileServer) serving files of the same sizes, measured in the same
// run so that the ratios hold on a shared, noisy machine: iPXE scripts
// per second at 64 keep-alive connections (against a small static file),
// 30 KB system overlays per second (against a static file of that size),
// and the throughput of a 1 GB image to 50 concurrent clients (against
// the same file). It also times the daemon from exec to its first answer
// and reads its peak RSS after the load.
//
// Both servers run as child processes (the static one is this program
// again, with -static); the load generator is a small HTTP/1.1 client in
// this process.
//
// It is run by "make bench" as "go run ./test/bench/daemon". It exits 0
// even when a target is missed (benchmarks report, tests assert) and
// non-zero when a request fails: an answer other than 200 or a body of
// the wrong length.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/test/bench/harness"
)

// Targets, from the issue: ratios to the static server, and absolutes.
const (
	targetIPXE    = 0.5
	targetOverlay = 0.8
	targetImage   = 0.9
	targetStart   = 2 * time.Second
	targetStorm   = 1.5         // boot storm wall ÷ wwctl overlay build of the same nodes
	targetRSS     = 300_000_000 // bytes
)

func main() { harness.Main("daemon", run) }

// options are the command line.
type options struct {
	nodes, conns, imageClients, runs int
	stormNodes                       int
	imageSize, overlaySize           int64
	duration                         time.Duration
	wwctl                            string
	keep                             bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("daemon", flag.ContinueOnError)
	var o options
	fs.IntVar(&o.nodes, "nodes", 10000, "number of nodes of the cluster")
	fs.IntVar(&o.conns, "conns", 64, "keep-alive connections for the script and overlay cases")
	fs.IntVar(&o.imageClients, "image-clients", 50, "concurrent clients of the image case")
	fs.IntVar(&o.runs, "runs", 3, "measurements of each case and server, alternating; the median is reported")
	fs.Int64Var(&o.imageSize, "image-size", 1e9, "bytes of the (random) image archive")
	fs.Int64Var(&o.overlaySize, "overlay-size", 30_000, "approximate bytes of a node's system overlay")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "length of one measurement")
	fs.IntVar(&o.stormNodes, "storm-nodes", 1000, "nodes of the boot storm (all asking at once after a template change); 0 skips it")
	fs.StringVar(&o.wwctl, "wwctl", "", "prebuilt wwctl binary (default: build ./cmd/wwctl)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory and print its path")
	static := fs.String("static", "", "internal: serve this directory with http.FileServer on -listen")
	listen := fs.String("listen", "", "internal: the address of -static")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *static != "" {
		return serveStatic(ctx, *static, *listen)
	}
	if o.nodes < 1 || o.nodes >= 100000 || o.conns < 1 || o.imageClients < 1 || o.runs < 1 || o.imageSize < 1 || o.duration <= 0 {
		return errors.New("-nodes (1 to 99999), -conns, -image-clients, -runs, -image-size and -duration must be positive")
	}
	if o.stormNodes < 0 || o.stormNodes > o.nodes || o.stormNodes > 60000 {
		return errors.New("-storm-nodes must be between 0 and -nodes (at most 60000)")
	}
	tmp, bin, done, err := harness.Workspace(ctx, "wwctl-daemon-", o.wwctl, o.keep, stdout)
	if err != nil {
		return err
	}
	defer done()
	o.wwctl = bin
	b := &bench{o: o, tmp: tmp}
	if err := b.setup(ctx); err != nil {
		return err
	}
	err = b.measure(ctx)
	if b.daemon != nil {
		err = errors.Join(err, b.daemon.stop())
	}
	if b.static != nil {
		err = errors.Join(err, b.static.stop())
	}
	if err != nil {
		return err
	}
	b.report(stdout)
	if b.failures > 0 {
		return fmt.Errorf("%d request(s) failed; first: %s", b.failures, b.firstFailure)
	}
	return nil
}

// bench is the state of the run.
type bench struct {
	o                   options
	tmp, conf           string
	macs                []string
	overlayBuild        time.Duration
	daemon, static      *child
	startup             time.Duration
	scriptLen, overlayN int64
	cases               []*loadCase
	hwm, rss, staticHWM int64
	failures            int64
	firstFailure        string
	storm               *stormResult
}

// setup writes the tree, builds the overlays, starts both servers and
// checks that they answer alike.
func (b *bench) setup(ctx context.Context) error {
	archive, err := b.writeTree()
	if err != nil {
		return err
	}
	start := time.Now()
	if out, err := exec.CommandContext(ctx, b.o.wwctl, "--warewulfconf", b.conf, "overlay", "build").CombinedOutput(); err != nil {
		return fmt.Errorf("wwctl overlay build: %w\n%s", err, out)
	}
	b.overlayBuild = time.Since(start)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	b.daemon, err = startChild(ctx, filepath.Join(b.tmp, "daemon.log"), b.o.wwctl, "--warewulfconf", b.conf, "server", "--listen", addr)
	if err != nil {
		return err
	}
	b.daemon.addr = addr
	// The first answer: a node's iPXE script.
	script, err := b.daemon.waitFor(ctx, "/ipxe/"+b.macs[0], 60*time.Second)
	if err != nil {
		return fmt.Errorf("wwctl server: %w", err)
	}
	b.startup = time.Since(b.daemon.started)
	if !bytes.HasPrefix(script, []byte("#!ipxe")) {
		return fmt.Errorf("wwctl server: the iPXE script of %s does not start with #!ipxe:\n%s", b.macs[0], script)
	}
	overlay, err := get(ctx, addr, "/system/"+b.macs[0])
	if err != nil {
		return fmt.Errorf("wwctl server: %w", err)
	}
	b.scriptLen, b.overlayN = int64(len(script)), int64(len(overlay))

	// The static server's files: a script and an overlay as the daemon
	// sent them, and the image archive itself.
	dir := filepath.Join(b.tmp, "static")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := errors.Join(os.WriteFile(filepath.Join(dir, "script.ipxe"), script, 0o644),
		os.WriteFile(filepath.Join(dir, "system.img"), overlay, 0o644),
		os.Symlink(archive, filepath.Join(dir, "image.img"))); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	saddr, err := freeAddr()
	if err != nil {
		return err
	}
	b.static, err = startChild(ctx, filepath.Join(b.tmp, "static.log"), self, "-static", dir, "-listen", saddr)
	if err != nil {
		return err
	}
	b.static.addr = saddr
	if _, err := b.static.waitFor(ctx, "/script.ipxe", 60*time.Second); err != nil {
		return fmt.Errorf("static server: %w", err)
	}
	return nil
}

// writeTree writes warewulf.conf relocating every path into b.tmp, a
// nodes.conf of b.o.nodes nodes, the two site overlays, an image root
// with a kernel and the image's archive of random bytes; it returns the
// archive's path.
func (b *bench) writeTree() (string, error) {
	port, err := freeAddr()
	if err != nil {
		return "", err
	}
	_, p, _ := net.SplitHostPort(port)
	root := b.tmp
	b.conf = filepath.Join(root, "warewulf.conf")
	// HTTP only: the bench measures the daemon's file serving.
	text := "ipaddr: 127.0.0.1\nnetmask: 255.0.0.0\ndhcp:\n  mode: external\ntftp:\n  mode: external\nwarewulf:\n  port: " + p + "\npaths:\n  sysconfdir: " + filepath.Join(root, "etc") + "\n  hostroot: " + root +
		"\n  localstatedir: " + filepath.Join(root, "var") + "\n  datadir: " + filepath.Join(root, "share") + "\n"
	if err := os.WriteFile(b.conf, []byte(text), 0o644); err != nil {
		return "", err
	}
	cfg, _, err := config.Load(b.conf)
	if err != nil {
		return "", err
	}
	var nodes bytes.Buffer
	b.macs = writeNodesConf(&nodes, b.o.nodes)
	rng := rand.NewChaCha8([32]byte{'w', 'w'})
	blob := make([]byte, max(b.o.overlaySize-1000, 1))
	_, _ = rng.Read(blob)
	rootfs := filepath.Join(cfg.Paths.Wwchrootdir, "bench", "rootfs")
	kernel := make([]byte, 8<<20)
	_, _ = rng.Read(kernel)
	files := []struct {
		path string
		data []byte
	}{
		{cfg.NodesConf(), nodes.Bytes()},
		{filepath.Join(cfg.Paths.Wwoverlaydir, "benchsys", "rootfs", "etc", "bench.data"), blob},
		{filepath.Join(cfg.Paths.Wwoverlaydir, "benchsys", "rootfs", "etc", "hostname.ww"), []byte("{{.Id}}\n")},
		{filepath.Join(cfg.Paths.Wwoverlaydir, "benchrt", "rootfs", "etc", "motd.ww"), []byte("welcome to {{.Id}}\n")},
		{filepath.Join(rootfs, "boot", "vmlinuz-6.1.0-1-amd64"), kernel},
		{filepath.Join(rootfs, "etc", "os-release"), []byte("ID=bench\n")},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(f.path, f.data, 0o644); err != nil {
			return "", err
		}
	}
	archive := filepath.Join(cfg.Paths.Wwprovisiondir, "images", "bench.img")
	if err := writeRandom(archive, b.o.imageSize, rng); err != nil {
		return "", err
	}
	return archive, nil
}

// writeRandom writes size random (incompressible) bytes to path and its
// sha256 file, as an image build would.
func writeRandom(path string, size int64, rng io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.CopyN(io.MultiWriter(f, h), rng, size)
	if err = errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	sum := hex.EncodeToString(h.Sum(nil)) + "  " + filepath.Base(path) + "\n"
	return os.WriteFile(path+".sha256", []byte(sum), 0o644)
}

// writeNodesConf writes a profile and nodes n00001..n<n> using the bench
// image and overlays, each with one network device, and returns their
// hardware addresses: 02:00:00 plus i in 3 bytes, unique for n < 2^24.
func writeNodesConf(w *bytes.Buffer, n int) []string {
	w.WriteString("# nodes.conf generated by test/bench/daemon.\nnodeprofiles:\n  default:\n    image name: bench\n" +
		"    system overlay:\n      - benchsys\n    runtime overlay:\n      - benchrt\n" +
		"    kernel:\n      args:\n        - quiet\n        - crashkernel=no\nnodes:\n")
	macs := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		mac := fmt.Sprintf("02:00:00:%02x:%02x:%02x", i>>16&255, i>>8&255, i&255)
		a := 10<<24 | i
		fmt.Fprintf(w, "  n%05d:\n    profiles:\n      - default\n    network devices:\n      default:\n"+
			"        device: eth0\n        hwaddr: %q\n        ipaddr: %d.%d.%d.%d\n        netmask: 255.0.0.0\n",
			i, mac, a>>24, a>>16&255, a>>8&255, a&255)
		macs = append(macs, mac)
	}
	return macs
}

// measure runs every case runs times, alternating the servers so that a
// burst of noise hits both alike, then reads the daemon's memory.
func (b *bench) measure(ctx context.Context) error {
	paths := func(prefix string) []string {
		ps := make([]string, len(b.macs))
		for i, m := range b.macs {
			ps[i] = prefix + m
		}
		return ps
	}
	b.cases = []*loadCase{
		{name: fmt.Sprintf("iPXE script, %d conns", b.o.conns), unit: "req/s", conns: b.o.conns, target: targetIPXE,
			daemonPaths: paths("/ipxe/"), staticPaths: []string{"/script.ipxe"}},
		{name: fmt.Sprintf("%.0f kB overlay, %d conns", float64(b.overlayN)/1e3, b.o.conns), unit: "req/s", conns: b.o.conns, target: targetOverlay,
			daemonPaths: paths("/system/"), staticPaths: []string{"/system.img"}, size: b.overlayN},
		{name: fmt.Sprintf("%s image, %d clients", fmtBytes(b.o.imageSize), b.o.imageClients), unit: "B/s", conns: b.o.imageClients, target: targetImage,
			daemonPaths: paths("/image/"), staticPaths: []string{"/image.img"}, size: b.o.imageSize, bytes: true},
	}
	for _, c := range b.cases {
		for range b.o.runs {
			for _, srv := range []*child{b.static, b.daemon} {
				if err := ctx.Err(); err != nil {
					return err
				}
				paths := c.staticPaths
				if srv == b.daemon {
					paths = c.daemonPaths
				}
				res := load(ctx, srv.addr, paths, c.conns, c.size, b.o.duration)
				v := float64(res.requests)
				if c.bytes {
					v = float64(res.bytes)
				}
				v /= res.elapsed.Seconds()
				if srv == b.daemon {
					c.daemon = append(c.daemon, v)
				} else {
					c.static = append(c.static, v)
				}
				if res.failures > 0 {
					if b.failures == 0 {
						b.firstFailure = res.first
					}
					b.failures += res.failures
				}
			}
		}
	}
	var err error
	b.hwm, b.rss, err = memory(b.daemon.cmd.Process.Pid)
	if err != nil {
		return err
	}
	b.staticHWM, _, err = memory(b.static.cmd.Process.Pid)
	if err != nil || b.o.stormNodes == 0 {
		return err
	}
	b.storm, err = b.bootStorm(ctx)
	return err
}

// loadCase is one row: what is asked of each server and the rates found.
type loadCase struct {
	name, unit               string
	conns                    int
	target                   float64
	daemonPaths, staticPaths []string
	size                     int64 // body length every answer must have; 0: any
	bytes                    bool  // rate of bytes, not of requests
	daemon, static           []float64
}

func (b *bench) report(stdout io.Writer) {
	fmt.Fprintf(stdout, "wwctl server: %d nodes, %d CPUs, %d run(s) of %s per case and server (median shown)\n"+
		"overlay build of the cluster: %s; iPXE script %d B, system overlay %d B, image %s (random)\n\n",
		b.o.nodes, runtime.NumCPU(), b.o.runs, b.o.duration, harness.FmtDur(b.overlayBuild), b.scriptLen, b.overlayN, fmtBytes(b.o.imageSize))
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tDAEMON\tSTATIC\tDAEMON ÷ STATIC\tTARGET\tRESULT")
	for _, c := range b.cases {
		d, s := harness.Median(c.daemon), harness.Median(c.static)
		ratio := d / s
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2fx\t≥ %.2gx\t%s\n", c.name, fmtRate(d, c.unit), fmtRate(s, c.unit), ratio, c.target, harness.Verdict(ratio >= c.target))
	}
	if st := b.storm; st != nil {
		ratio := float64(st.wall) / float64(st.build)
		fmt.Fprintf(tw, "boot storm, %d stale nodes at once\t%s (%d/%d answered)\t%s (wwctl overlay build)\t%.2fx\t≤ %.2gx\t%s\n",
			st.nodes, harness.FmtDur(st.wall), st.answered, st.nodes, harness.FmtDur(st.build), ratio, targetStorm,
			harness.Verdict(ratio <= targetStorm && st.answered == st.nodes))
	}
	fmt.Fprintf(tw, "start to first answer\t%s\t\t\t< %s\t%s\n", harness.FmtDur(b.startup), harness.FmtDur(targetStart), harness.Verdict(b.startup < targetStart))
	fmt.Fprintf(tw, "peak RSS after the load\t%s\t%s\t\t< %s\t%s\n", fmtBytes(b.hwm), fmtBytes(b.staticHWM), fmtBytes(targetRSS), harness.Verdict(b.hwm < targetRSS))
	_ = tw.Flush()
	fmt.Fprintf(stdout, "\nDAEMON asks for each node in turn (/ipxe/<mac>, /system/<mac>, /image/<mac>); STATIC is\n"+
		"http.FileServer serving a copy of one script and one overlay and the image archive itself.\n"+
		"Both are child processes; the load generator (keep-alive HTTP/1.1) runs in this one and takes\n"+
		"its share of the CPUs, which narrows the gaps. Start is exec to the first 200 of /ipxe/<mac>;\n"+
		"peak RSS is VmHWM (daemon's current RSS %s). The boot storm edits a system overlay template\n"+
		"so that every image is stale, times \"wwctl overlay build\" of the storm's nodes (STATIC column),\n"+
		"edits it again, waits for the daemon to reload, and has every node ask for /system/<mac> at once,\n"+
		"each on its own connection from its own 127.x address; DAEMON is until the last answer.\n", fmtBytes(b.rss))
	if b.failures > 0 {
		fmt.Fprintf(stdout, "FAILED: %d request(s); first: %s\n", b.failures, b.firstFailure)
	}
}

// result is one measurement.
type result struct {
	requests, bytes, failures int64
	first                     string
	elapsed                   time.Duration
}

// load has conns connections ask addr for paths in turn (each starting at
// its own place in the list) for d and counts the complete answers and
// every body byte received. An answer other than 200, or a body length
// other than size (when size is set), is a failure; so is a connection
// error before the end.
func load(ctx context.Context, addr string, paths []string, conns int, size int64, d time.Duration) result {
	var (
		res  result
		mu   sync.Mutex
		reqs atomic.Int64
		got  atomic.Int64
		wg   sync.WaitGroup
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		if res.failures == 0 {
			res.first = fmt.Sprintf(format, args...)
		}
		res.failures++
		mu.Unlock()
	}
	start := time.Now()
	end := start.Add(d)
	for w := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 256<<10)
			var conn net.Conn
			var br *bufio.Reader
			defer func() {
				if conn != nil {
					conn.Close()
				}
			}()
			for i := w * len(paths) / conns; time.Now().Before(end) && ctx.Err() == nil; i++ {
				if conn == nil {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						fail("dial %s: %v", addr, err)
						return
					}
					conn, br = c, bufio.NewReaderSize(c, 64<<10)
					_ = conn.SetDeadline(end)
				}
				p := paths[i%len(paths)]
				if _, err := io.WriteString(conn, "GET "+p+" HTTP/1.1\r\nHost: "+addr+"\r\nUser-Agent: iPXE/1.21.1\r\n\r\n"); err != nil {
					if time.Now().Before(end) {
						fail("GET %s: %v", p, err)
					}
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					if time.Now().Before(end) {
						fail("GET %s: %v", p, err)
					}
					return
				}
				n, err := io.CopyBuffer(io.Discard, resp.Body, buf)
				resp.Body.Close()
				got.Add(n)
				if err != nil {
					if !errors.Is(err, os.ErrDeadlineExceeded) {
						fail("GET %s: body after %d bytes: %v", p, n, err)
					}
					return
				}
				switch {
				case resp.StatusCode != http.StatusOK:
					fail("GET %s: %s", p, resp.Status)
				case size > 0 && n != size:
					fail("GET %s: %d bytes, want %d", p, n, size)
				default:
					reqs.Add(1)
				}
				if resp.Close {
					conn.Close()
					conn = nil
				}
			}
		}()
	}
	wg.Wait()
	res.elapsed = min(time.Since(start), d)
	res.requests, res.bytes = reqs.Load(), got.Load()
	return res
}

// child is a server process.
type child struct {
	cmd     *exec.Cmd
	addr    string
	started time.Time
	log     string
	exited  chan error
}

func startChild(ctx context.Context, logPath string, argv ...string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	c := &child{cmd: cmd, log: logPath, exited: make(chan error, 1)}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	go func() {
		c.exited <- cmd.Wait()
		logf.Close()
	}()
	return c, nil
}

// waitFor asks the child for path until it answers 200, and returns the
// body; it gives up when the child exits or after limit.
func (c *child) waitFor(ctx context.Context, path string, limit time.Duration) ([]byte, error) {
	deadline := time.Now().Add(limit)
	for {
		body, err := get(ctx, c.addr, path)
		if err == nil {
			return body, nil
		}
		select {
		case err := <-c.exited:
			c.exited <- err
			return nil, fmt.Errorf("exited (%v) before answering; log %s:\n%s", err, c.log, harness.TailFile(c.log))
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no answer to %s within %s (last: %v); log:\n%s", path, limit, err, harness.TailFile(c.log))
		}
	}
}

// stop ends the child with SIGTERM, as a service manager would.
func (c *child) stop() error {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-c.exited:
		if err != nil {
			return fmt.Errorf("%s: %w\n%s", c.cmd.Path, err, harness.TailFile(c.log))
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		return fmt.Errorf("%s did not stop within 30 s of SIGTERM", c.cmd.Path)
	}
}

// get asks addr for path on a fresh connection and returns the body of a
// 200 answer.
func get(ctx context.Context, addr, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return nil, err
	}
	req.Close = true
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return body, nil
}

// serveStatic is the reference: http.FileServer with the daemon's
// timeouts.
func serveStatic(ctx context.Context, dir, addr string) error {
	srv := &http.Server{Addr: addr, Handler: http.FileServer(http.Dir(dir)),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// memory returns the peak and current resident set of process pid.
func memory(pid int) (hwm, rss int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmHWM:":
			hwm = v << 10
		case "VmRSS:":
			rss = v << 10
		}
	}
	if hwm == 0 {
		return 0, 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
	}
	return hwm, rss, nil
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func fmtRate(v float64, unit string) string {
	if unit == "B/s" {
		return fmtBytes(int64(v)) + "/s"
	}
	return fmt.Sprintf("%.0f %s", v, unit)
}

// fmtBytes prints b in decimal GB, MB or kB.
func fmtBytes(b int64) string {
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f GB", float64(b)/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.1f kB", float64(b)/1e3)
}
