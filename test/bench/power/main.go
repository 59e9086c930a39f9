// Command power measures "wwctl power status" of 2,000 nodes, each with
// its own BMC speaking IPMI v2.0 RMCP+ (lanplus) on its own UDP port of
// 127.0.0.1, at --fanout 64 and 256: wall time, and the CPU time (user +
// system) of the wwctl process per node. The reference, measured in the
// same run against the same BMCs, is Warewulf's way: one
// "/bin/sh -c 'ipmitool -I lanplus ... chassis power status'" process
// per node, at most --fanout at once; each costs 60 to 80 ms of CPU, so
// it asks -ref-nodes of the BMCs (500), spread over all, and its figures
// are scaled to every node. A last row gives one node's BMC a
// wrong password in nodes.conf: that node must fail with the BMC's
// refusal, not a timeout, while the other nodes answer.
//
// The BMCs are go-ipmi's reference BMC server (pkg/server, with the
// in-memory HAL of pkg/hal/mock), run by this program again with -bmcs
// N as a child process, so that wwctl's CPU time is wwctl's alone.
// wwctl is the real binary, built into a temporary directory.
//
// It is run by "make bench" as "go run ./test/bench/power". It exits 0
// even when the target is missed (benchmarks report, tests assert) and
// non-zero when wwctl's answer is wrong: a node not "on", a missing node,
// or the wrong-password node not refused. An ipmitool that fails (its
// 1 s retries can run out on a loaded machine) is counted and reported.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/test/bench/harness"
)

// The target: 2,000 nodes in at most 10 s at fanout 256.
const (
	targetNodes  = 2000
	targetFanout = 256
	targetWall   = 10 * time.Second
)

func main() { harness.Main("power", run) }

// options are the command line.
type options struct {
	nodes, timeout, runs, bad int
	refNodes, refRuns         int
	fanouts                   []int
	wwctl, ipmitool           string
	keep                      bool
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("power", flag.ContinueOnError)
	var o options
	fanouts := fs.String("fanouts", "64,256", "the --fanout values measured, comma-separated")
	fs.IntVar(&o.nodes, "nodes", targetNodes, "number of nodes, each with its own BMC")
	fs.IntVar(&o.refNodes, "ref-nodes", 500, "BMCs the ipmitool reference asks (spread over all; its wall time is scaled to -nodes): each ipmitool costs about 60 ms of CPU")
	fs.IntVar(&o.timeout, "timeout", 10, "warewulf.conf's ipmi.timeout (seconds) for wwctl")
	fs.IntVar(&o.runs, "runs", 3, "measurements of each case by wwctl; the median is reported")
	fs.IntVar(&o.refRuns, "ref-runs", 1, "measurements of each case by the reference (alternating with wwctl's)")
	fs.IntVar(&o.bad, "bad-node", 0, "the node (1 to -nodes) whose nodes.conf password is wrong in the last row (default: the middle one)")
	fs.StringVar(&o.wwctl, "wwctl", "", "prebuilt wwctl binary (default: build ./cmd/wwctl)")
	fs.StringVar(&o.ipmitool, "ipmitool", "ipmitool", "the reference's ipmitool")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory and print its path")
	serve := fs.Int("bmcs", 0, "internal: serve this many fake BMCs and print their ports")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *serve > 0 {
		return serveBMCs(ctx, *serve, os.Stdin, stdout)
	}
	for _, f := range strings.Split(*fanouts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("-fanouts %q: want positive numbers separated by commas", *fanouts)
		}
		o.fanouts = append(o.fanouts, n)
	}
	if o.bad == 0 {
		o.bad = (o.nodes + 1) / 2
	}
	if o.nodes < 1 || o.nodes > 20000 || o.timeout < 1 || o.runs < 1 || o.refRuns < 1 || o.bad < 1 || o.bad > o.nodes || o.refNodes < 1 {
		return errors.New("-nodes (1 to 20000), -timeout, -runs, -ref-runs and -ref-nodes must be positive, -bad-node between 1 and -nodes")
	}
	o.refNodes = min(o.refNodes, o.nodes)
	ipmitool, err := exec.LookPath(o.ipmitool)
	if err != nil {
		return fmt.Errorf("the reference needs ipmitool: %w", err)
	}
	o.ipmitool = ipmitool
	tmp, bin, done, err := harness.Workspace(ctx, "wwctl-power-", o.wwctl, o.keep, stdout)
	if err != nil {
		return err
	}
	defer done()
	o.wwctl = bin
	bmcs, err := startBMCs(ctx, o.nodes, filepath.Join(tmp, "bmcs.log"))
	if err != nil {
		return err
	}
	b := &bench{o: o, tmp: tmp, bmcs: bmcs}
	err = b.measure(ctx)
	err = errors.Join(err, bmcs.stop())
	if err != nil {
		return err
	}
	b.report(stdout)
	return nil
}

// bench is the state of the run.
type bench struct {
	o                 options
	tmp               string
	bmcs              *bmcProcess
	good, bad         string // warewulf.conf of the site, and of the site with one wrong password
	cases             []*powerCase
	suite             string // the cipher suite ipmitool negotiated
	badNode, badCause string
}

// powerCase is one row: a fan-out, with or without the wrong password.
type powerCase struct {
	fanout            int
	wrongPassword     bool
	wwctl, ipmitool   []measure
	wwctlBMC, toolBMC []time.Duration // the fake BMCs' CPU time
	toolFailed        int             // ipmitool processes that failed, over the runs
	toolFirst         string          // the first one's node and output
}

// measure is one run of one tool over every node.
type measure struct {
	wall, cpu time.Duration
}

func (b *bench) measure(ctx context.Context) error {
	if err := b.writeSites(); err != nil {
		return err
	}
	suite, err := b.probeIpmitool(ctx)
	if err != nil {
		return err
	}
	b.suite = suite
	for _, f := range b.o.fanouts {
		b.cases = append(b.cases, &powerCase{fanout: f})
	}
	b.cases = append(b.cases, &powerCase{fanout: b.o.fanouts[len(b.o.fanouts)-1], wrongPassword: true})
	for _, c := range b.cases {
		for run := range max(b.o.runs, b.o.refRuns) {
			var tools []func(context.Context, *powerCase) error
			if run < b.o.runs {
				tools = append(tools, b.runWwctl)
			}
			// The wrong password's row is about wwctl's handling of a
			// refusal.
			if run < b.o.refRuns && !c.wrongPassword {
				tools = append(tools, b.runIpmitool)
			}
			// Alternate which tool goes first, so that a burst of load
			// hits both alike.
			if run%2 == 1 && len(tools) == 2 {
				tools[0], tools[1] = tools[1], tools[0]
			}
			for _, t := range tools {
				if err := t(ctx, c); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func nodeName(i int) string { return fmt.Sprintf("n%05d", i) }

// nodesConf is a profile with the BMCs' user, password and interface
// (lanplus), and a node per port, its BMC on 127.0.0.1 and that port;
// node bad (1-based; 0: none) has a wrong password.
func nodesConf(ports []int, bad int) []byte {
	var w bytes.Buffer
	fmt.Fprintf(&w, "# nodes.conf generated by test/bench/power.\nnodeprofiles:\n  default:\n    ipmi:\n"+
		"      username: %s\n      password: %s\n      interface: lanplus\nnodes:\n", bmcUser, bmcPassword)
	for i, port := range ports {
		fmt.Fprintf(&w, "  %s:\n    profiles:\n      - default\n    ipmi:\n      ipaddr: 127.0.0.1\n      port: \"%d\"\n", nodeName(i+1), port)
		if i+1 == bad {
			w.WriteString("      password: wrong\n")
		}
	}
	return w.Bytes()
}

// writeSites writes two warewulf.conf files sharing every path but
// sysconfdir, and their nodes.conf: every node's BMC on 127.0.0.1 and its
// own port (nodesConf); in the second, the bad node's password is
// wrong.
func (b *bench) writeSites() error {
	for _, site := range []struct {
		conf *string
		name string
		bad  int
	}{{&b.good, "good", 0}, {&b.bad, "bad", b.o.bad}} {
		*site.conf = filepath.Join(b.tmp, site.name+".conf")
		text := fmt.Sprintf("ipaddr: 127.0.0.1\nnetmask: 255.0.0.0\ndhcp:\n  mode: external\ntftp:\n  mode: external\n"+
			"ipmi:\n  timeout: %d\npaths:\n  sysconfdir: %s\n  hostroot: %s\n  localstatedir: %s\n  datadir: %s\n",
			b.o.timeout, filepath.Join(b.tmp, site.name, "etc"), filepath.Join(b.tmp, site.name), filepath.Join(b.tmp, "var"), filepath.Join(b.tmp, "share"))
		if err := os.WriteFile(*site.conf, []byte(text), 0o644); err != nil {
			return err
		}
		cfg, _, err := config.Load(*site.conf)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(cfg.NodesConf()), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(cfg.NodesConf(), nodesConf(b.bmcs.ports, site.bad), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ipmitoolArgs is Warewulf's ipmitool template's command for node i
// (1-based): interface, address, port, user, password.
func (b *bench) ipmitoolArgs(i int, password string, extra ...string) []string {
	args := []string{b.o.ipmitool, "-I", "lanplus", "-H", "127.0.0.1", "-p", strconv.Itoa(b.bmcs.ports[i-1]), "-U", bmcUser, "-P", password}
	return append(append(args, extra...), "chassis", "power", "status")
}

// probeIpmitool checks that ipmitool and the fake BMCs agree, as Warewulf
// runs it (no -C: ipmitool's default cipher suite), and returns the
// cipher suite the verbose session setup names.
func (b *bench) probeIpmitool(ctx context.Context) (string, error) {
	args := b.ipmitoolArgs(1, bmcPassword, "-vv")
	out, err := command(ctx, args...).CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("Chassis Power is on")) {
		return "", fmt.Errorf("%s: %v; the reference cannot talk to the fake BMCs:\n%s", strings.Join(args, " "), err, harness.Tail(out))
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); strings.Contains(strings.ToLower(l), "cipher suite") {
			return l, nil
		}
	}
	return "ipmitool's default (not named by -vv)", nil
}

// powerRow is a node's line of "wwctl power status -j".
type powerRow struct {
	Node  string `json:"node"`
	Power string `json:"power"`
	Error string `json:"error"`
}

// runWwctl runs "wwctl power status" over every node and checks that
// each answered "on" (and, with the wrong password, that exactly the bad
// node failed, refused).
func (b *bench) runWwctl(ctx context.Context, c *powerCase) error {
	conf := b.good
	if c.wrongPassword {
		conf = b.bad
	}
	pattern := fmt.Sprintf("n[%05d-%05d]", 1, b.o.nodes)
	cmd := command(ctx, b.o.wwctl, "--warewulfconf", conf, "power", "status", "--fanout", strconv.Itoa(c.fanout), "-j", pattern)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	bmc0 := b.bmcs.cpu()
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	c.wwctlBMC = append(c.wwctlBMC, b.bmcs.cpu()-bmc0)
	what := fmt.Sprintf("wwctl power status --fanout %d", c.fanout)
	var exit *exec.ExitError
	if err != nil && (!c.wrongPassword || !errors.As(err, &exit)) {
		return fmt.Errorf("%s: %w\n%s", what, err, harness.Tail(stderr.Bytes()))
	}
	if c.wrongPassword && err == nil {
		return fmt.Errorf("%s: exit 0 with a wrong password for %s", what, nodeName(b.o.bad))
	}
	var rows []powerRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		return fmt.Errorf("%s: output: %w\n%s", what, err, harness.Tail(out.Bytes()))
	}
	if len(rows) != b.o.nodes {
		return fmt.Errorf("%s: %d nodes in the output, want %d", what, len(rows), b.o.nodes)
	}
	for i, r := range rows {
		name := nodeName(i + 1)
		switch {
		case r.Node != name:
			return fmt.Errorf("%s: row %d is %q, want %s", what, i+1, r.Node, name)
		case c.wrongPassword && i+1 == b.o.bad:
			// A refusal, named as such; a timeout here would mean the
			// library searched or waited instead of reporting it.
			if !strings.Contains(r.Error, "password refused") {
				return fmt.Errorf("%s: %s (wrong password): %q, want the BMC's refusal", what, name, r.Error)
			}
			b.badNode, b.badCause = name, r.Error
		case r.Error != "" || r.Power != "on":
			return fmt.Errorf("%s: %s: power %q, error %q; want on", what, name, r.Power, r.Error)
		}
	}
	c.wwctl = append(c.wwctl, measure{wall, cpuOf(cmd.ProcessState)})
	return nil
}

// refSample is the nodes (1-based) the reference asks: o.refNodes of
// them, spread evenly over all.
func (b *bench) refSample() []int {
	sample := make([]int, b.o.refNodes)
	for k := range sample {
		sample[k] = 1 + k*b.o.nodes/b.o.refNodes
	}
	return sample
}

// runIpmitool runs one "/bin/sh -c 'ipmitool ...'" per node of the
// sample, at most c.fanout at once, as Warewulf does, and checks each
// answer. Its wall time is scaled from the sample to every node:
// ipmitool's CPU bounds it, so it grows with the node count.
func (b *bench) runIpmitool(ctx context.Context, c *powerCase) error {
	var (
		mu     sync.Mutex
		cpu    time.Duration
		failed int
		first  string
	)
	sample := b.refSample()
	slots := make(chan struct{}, c.fanout)
	var wg sync.WaitGroup
	bmc0 := b.bmcs.cpu()
	start := time.Now()
	for _, i := range sample {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			cmd := command(ctx, "/bin/sh", "-c", shellQuote(b.ipmitoolArgs(i, bmcPassword)))
			out, err := cmd.CombinedOutput()
			mu.Lock()
			defer mu.Unlock()
			if cmd.ProcessState != nil {
				cpu += cpuOf(cmd.ProcessState)
			}
			if err != nil || !bytes.Contains(out, []byte("Chassis Power is on")) {
				if failed++; first == "" {
					first = fmt.Sprintf("%s: %v: %s", nodeName(i), err, oneLine(string(out)))
				}
			}
		})
	}
	wg.Wait()
	scale := func(d time.Duration) time.Duration { return d * time.Duration(b.o.nodes) / time.Duration(len(sample)) }
	wall := time.Since(start)
	c.toolBMC = append(c.toolBMC, scale(b.bmcs.cpu()-bmc0))
	if err := ctx.Err(); err != nil {
		return err
	}
	if failed == len(sample) {
		return fmt.Errorf("ipmitool failed on every node; first: %s", first)
	}
	// The reference's own failures (on a loaded machine, ipmitool's 1 s
	// wait for an answer can run out) are its result, reported.
	c.toolFailed, c.toolFirst = c.toolFailed+failed, cmp.Or(c.toolFirst, first)
	c.ipmitool = append(c.ipmitool, measure{scale(wall), scale(cpu)})
	return nil
}

func (b *bench) report(stdout io.Writer) {
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(stdout, "wwctl power status: %d nodes, each with its own fake BMC (go-ipmi's server, lanplus, in another\n"+
		"process), %d CPUs, load average %s, ipmi.timeout %d s, %d run(s) of wwctl per case (median shown);\n"+
		"reference: %d run(s) of ipmitool on %d of the BMCs, scaled to %d; its session: %s\n\n",
		b.o.nodes, runtime.NumCPU(), strings.Join(strings.Fields(string(load))[:3], " "), b.o.timeout, b.o.runs,
		b.o.refRuns, b.o.refNodes, b.o.nodes, b.suite)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tWWCTL WALL\tCPU/NODE\tBMCS' CPU/NODE\tIPMITOOL WALL\tCPU/NODE\tBMCS' CPU/NODE\tWWCTL ÷ IPMITOOL: WALL, CPU\tTARGET\tRESULT")
	per := func(d time.Duration) string {
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)/float64(b.o.nodes))
	}
	var good time.Duration
	for _, c := range b.cases {
		w := medianOf(c.wwctl)
		if c.wrongPassword {
			fmt.Fprintf(tw, "fanout %d, %s's password wrong\t%s\t%s\t%s\t\t\t\t%.2fx the same fanout's wall\t\t\n", c.fanout, b.badNode,
				harness.FmtDur(w.wall), per(w.cpu), per(harness.Median(c.wwctlBMC)), w.wall.Seconds()/good.Seconds())
			continue
		}
		good = w.wall
		t := medianOf(c.ipmitool)
		toolWall := harness.FmtDur(t.wall)
		if c.toolFailed > 0 {
			toolWall += fmt.Sprintf(" (%d failed)", c.toolFailed)
		}
		target, result := "", ""
		if c.fanout == targetFanout && b.o.nodes == targetNodes {
			target, result = "≤ "+harness.FmtDur(targetWall), harness.Verdict(w.wall <= targetWall)
		}
		fmt.Fprintf(tw, "fanout %d\t%s\t%s\t%s\t%s\t%s\t%s\t%.3fx, %.3fx\t%s\t%s\n", c.fanout,
			harness.FmtDur(w.wall), per(w.cpu), per(harness.Median(c.wwctlBMC)),
			toolWall, per(t.cpu), per(harness.Median(c.toolBMC)),
			w.wall.Seconds()/t.wall.Seconds(), w.cpu.Seconds()/t.cpu.Seconds(), target, result)
	}
	_ = tw.Flush()
	fmt.Fprintf(stdout, "\nWWCTL is \"wwctl power status --fanout N -j n[...]\" over every node, one process (CPU: its user +\n"+
		"system time). IPMITOOL is Warewulf's way: \"/bin/sh -c 'ipmitool -I lanplus -H 127.0.0.1 -p PORT -U %s\n"+
		"-P ... chassis power status'\" per node, at most N at once (CPU: every process's user + system time);\n"+
		"about 60 to 80 ms of CPU each, so it asks %d BMCs spread over all and its figures are scaled to %d.\n"+
		"BMCS' CPU is the fake BMCs' process during the run. Every node answered \"on\"; with the wrong\n"+
		"password, %s alone failed, refused: %s\n", bmcUser, b.o.refNodes, b.o.nodes, b.badNode, oneLine(b.badCause))
	for _, c := range b.cases {
		if c.toolFailed > 0 {
			fmt.Fprintf(stdout, "ipmitool at fanout %d: %d of %d failed; first: %s\n", c.fanout, c.toolFailed, b.o.refRuns*b.o.refNodes, c.toolFirst)
		}
	}
}

// oneLine is s on one line, cut to 200 characters.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

func medianOf(ms []measure) measure {
	walls, cpus := make([]time.Duration, len(ms)), make([]time.Duration, len(ms))
	for i, m := range ms {
		walls[i], cpus[i] = m.wall, m.cpu
	}
	return measure{harness.Median(walls), harness.Median(cpus)}
}

func cpuOf(ps *os.ProcessState) time.Duration { return ps.UserTime() + ps.SystemTime() }

// command is a process in its own process group, killed with the group
// when ctx ends.
func command(ctx context.Context, argv ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	return cmd
}

// child is a long-running helper process: its stdin is a pipe it reads
// to its end, so that it exits when this process closes it or dies.
type child struct {
	cmd    *exec.Cmd
	stdin  io.Closer
	log    string
	exited chan error
	logf   *os.File
}

func startChild(ctx context.Context, logPath string, argv ...string) (*child, io.Reader, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := command(ctx, argv...)
	// Ended with the run: SIGTERM, which it answers by closing its
	// sockets; stop kills what is left.
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.Stderr = logf
	stdin, err := cmd.StdinPipe()
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		logf.Close()
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, nil, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	c := &child{cmd: cmd, stdin: stdin, log: logPath, exited: make(chan error, 1), logf: logf}
	go func() {
		c.exited <- cmd.Wait()
		logf.Close()
	}()
	return c, stdout, nil
}

// stop closes the child's stdin and waits for it; its process group is
// killed if it has not exited within 10 s.
func (c *child) stop() error {
	_ = c.stdin.Close()
	select {
	case err := <-c.exited:
		// A run that was interrupted says so itself.
		if err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("%s: %w\n%s", c.cmd.Path, err, harness.TailFile(c.log))
		}
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
		<-c.exited
		return fmt.Errorf("%s did not stop within 10 s of its stdin closing", c.cmd.Path)
	}
}

// cpu is the child's CPU time so far (user + system, from /proc).
func (c *child) cpu() time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	// USER_HZ is 100 on Linux.
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// shellQuote joins argv for /bin/sh, each word single-quoted.
func shellQuote(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
