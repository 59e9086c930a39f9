// Command overlays measures "wwctl overlay build" on generated clusters
// and prints a table of median wall times: a full build of N nodes, a
// no-op rebuild, a rebuild after one template changed, the disk the images
// take, and a full build of scale×N nodes. Because the machine may be
// shared and noisy, times are also given as ratios to a reference measured
// in the same run (tar | zstd of the provisioned images).
//
// It is run by "make bench" as "go run ./test/bench/overlays". It exits 0
// even when a target is missed (benchmarks report, tests assert) and
// non-zero when a command fails or an image count is wrong.
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wwboot/wwboot/test/bench/harness"
)

// Targets.
const (
	targetFullR1 = 3.0 // the full build, in R1s
	targetNoop   = time.Second
	targetBig    = 15 * time.Second
	targetDisk   = 100_000_000 // allocated bytes
	growthFactor = 1.2         // t(scale·N)/t(N) ≤ growthFactor·scale is "linear"
)

// editLine is what the benchmark's editor appends to the issue template,
// without a newline, so that it changes the image of one node in ten and
// leaves the others byte for byte the same.
const editLine = `{{if hasSuffix "7" .Id}}node ends in 7{{end}}`

func main() { harness.Main("overlays", run) }

// row is one line of the table; walls and cpus collect its runs.
type row struct {
	step, nodes, images, target string
	limit                       time.Duration // 0: no time target
	r1Limit                     float64       // 0: no target in R1s
	walls, cpus                 []time.Duration
	wrong                       bool
}

// bench is the state of one benchmark: what it runs and what it found.
type bench struct {
	wwctl, editor                 string
	checked                       bool     // the overlays below were checked
	system, rtime                 []string // overlays of the default profile
	full, noop, edit, r1, r2, big *row
	alloc, apparent               int64 // disk taken by the images
	problems                      []string
}

// run parses args, runs the measurements and prints the table to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("overlays", flag.ContinueOnError)
	nodes := fs.Int("nodes", 1000, "number of nodes of the measured cluster")
	runs := fs.Int("runs", 3, "repetitions of the whole sequence, each in a fresh tree")
	scale := fs.Int("scale", 10, "the big cluster has scale × nodes nodes")
	big := fs.Bool("big", true, "also measure a full build of the big cluster")
	wwctl := fs.String("wwctl", "", "prebuilt wwctl binary (default: build ./cmd/wwctl)")
	keep := fs.Bool("keep", false, "keep the temporary directory and print its path")
	if err := fs.Parse(args); err != nil {
		return err
	}
	n := *nodes
	if *runs < 1 || *scale < 1 {
		return fmt.Errorf("-runs %d, -scale %d: must be at least 1", *runs, *scale)
	}
	if n < 1 || n**scale >= maxNodes {
		return fmt.Errorf("-nodes %d × -scale %d: must be between 1 and %d", n, *scale, maxNodes-1)
	}
	tmp, bin, done, err := harness.Workspace(ctx, "wwctl-overlays-", *wwctl, *keep, stdout)
	if err != nil {
		return err
	}
	defer done()
	*wwctl = bin
	b := &bench{wwctl: *wwctl, editor: filepath.Join(tmp, "editor.sh"),
		full: &row{step: "full build", target: fmt.Sprintf("≤ %gx R1", targetFullR1), r1Limit: targetFullR1},
		noop: &row{step: "no-op rebuild", target: "< 1 s", limit: targetNoop},
		edit: &row{step: "one template edited", target: "only affected nodes"},
		r1:   &row{step: "R1 tar | zstd of the images", target: "-", images: "-"},
		r2:   &row{step: "R2 wwctl version", target: "-", images: "-"},
	}
	script := "#!/bin/sh\nprintf '%s' '" + editLine + "' >> \"$1\"\n"
	if err := os.WriteFile(b.editor, []byte(script), 0o755); err != nil {
		return err
	}
	// The runs' trees are removed at the end, not between runs: ext4
	// skips inodes freed in the last seconds when it allocates new ones,
	// reading the inode table to find them, so a build right after the
	// removal of the last run's tree pays for that removal.
	for i := range *runs {
		if err := b.sequence(ctx, filepath.Join(tmp, fmt.Sprintf("run%d", i+1)), n, stdout); err != nil {
			return err
		}
	}
	if *big {
		bn := n * *scale
		b.big = &row{step: fmt.Sprintf("full build at %d×", *scale), nodes: fmt.Sprint(bn), target: "≤ 15 s", limit: targetBig}
		t, err := b.newTree(ctx, filepath.Join(tmp, "big"), bn, stdout)
		if err != nil {
			return err
		}
		if err := b.build(ctx, t, b.big, 2*bn, 0); err != nil {
			return err
		}
	}
	if err := b.report(stdout, n, *runs, *scale); err != nil {
		return err
	}
	if len(b.problems) > 0 {
		return fmt.Errorf("%d image count(s) wrong", len(b.problems))
	}
	return nil
}

// sequence measures, in a fresh tree at dir with n nodes, a full build, a
// no-op rebuild, a rebuild after an edit of the issue template, the disk
// taken and the references.
func (b *bench) sequence(ctx context.Context, dir string, n int, stdout io.Writer) error {
	for _, r := range []*row{b.full, b.noop, b.edit, b.r1, b.r2} {
		r.nodes = fmt.Sprint(n)
	}
	t, err := b.newTree(ctx, dir, n, stdout)
	if err != nil {
		return err
	}
	if err := b.build(ctx, t, b.full, 2*n, 0); err != nil {
		return err
	}
	if err := b.build(ctx, t, b.noop, 0, 2*n); err != nil {
		return err
	}
	env := append(os.Environ(), "EDITOR="+b.editor)
	if _, _, err := command(ctx, t.ww("overlay", "edit", "issue", "etc/issue.ww"), env, nil); err != nil {
		return err
	}
	affected := endsIn7(n)
	if err := b.build(ctx, t, b.edit, affected, 2*n-affected); err != nil {
		return err
	}
	if b.alloc, b.apparent, err = diskUsage(t.provision); err != nil {
		return err
	}
	wall, err := tarZstd(ctx, t.provision)
	if err != nil {
		return err
	}
	b.r1.walls = append(b.r1.walls, wall)
	if wall, _, err = command(ctx, t.ww("version"), nil, nil); err != nil {
		return err
	}
	b.r2.walls = append(b.r2.walls, wall)
	return nil
}

// report prints the table of n nodes, runs runs and the scale× build.
func (b *bench) report(stdout io.Writer, n, runs, scale int) error {
	fmt.Fprintf(stdout, "wwctl overlay build: %d nodes (%d images), %d run(s), %d CPUs\nsystem overlays: %s\nruntime overlays: %s\n\n",
		n, 2*n, runs, runtime.NumCPU(), strings.Join(b.system, " "), strings.Join(b.rtime, " "))
	ref := harness.Median(b.r1.walls)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tNODES\tWALL (median)\tCPU\tIMAGES built/unchanged\tvs R1\tTARGET\tRESULT")
	line := func(r *row) {
		wall, cpu, result := harness.Median(r.walls), "-", "-"
		if len(r.cpus) > 0 {
			cpu = harness.FmtDur(harness.Median(r.cpus))
		}
		switch {
		case r.wrong:
			result = "WRONG"
		case r.limit > 0 && wall > r.limit, r.r1Limit > 0 && float64(wall) > r.r1Limit*float64(ref):
			result = "OVER"
		case r.limit > 0 || r.r1Limit > 0 || r == b.edit:
			result = "ok"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.3gx\t%s\t%s\n", r.step, r.nodes, harness.FmtDur(wall), cpu, r.images,
			float64(wall)/float64(ref), r.target, result)
	}
	over := func(bad bool) string {
		if bad {
			return "OVER"
		}
		return "ok"
	}
	line(b.full)
	line(b.noop)
	line(b.edit)
	fmt.Fprintf(tw, "disk (allocated)\t%d\t%s\t-\t-\t-\t< 100 MB\t%s\n", n, fmtBytes(b.alloc), over(b.alloc >= targetDisk))
	fmt.Fprintf(tw, "  per node\t\t%s\t\t(apparent %s, %s/node)\t\t\t\n",
		fmtBytes(b.alloc/int64(n)), fmtBytes(b.apparent), fmtBytes(b.apparent/int64(n)))
	if b.big != nil {
		line(b.big)
		ratio, limit := float64(harness.Median(b.big.walls))/float64(harness.Median(b.full.walls)), growthFactor*float64(scale)
		cpu := float64(harness.Median(b.big.cpus)) / float64(harness.Median(b.full.cpus))
		fmt.Fprintf(tw, "growth ratio\t%s/%d\t%.2fx\t%.2fx\t-\t-\t≈ linear (≤ %.3gx)\t%s\n",
			b.big.nodes, n, ratio, cpu, limit, over(ratio > limit))
	}
	line(b.r1)
	line(b.r2)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nvs R1 is median wall ÷ median R1 (tar of the %d-node provision tree piped to zstd, the cost of\n"+
		"reading and compressing the same bytes once), measured in the same runs so that it holds on a noisy\n"+
		"machine; R2 is process start-up. CPU is the build's user + system time, steadier than wall\n"+
		"when other work competes for the CPUs. The %d× row builds once in a fresh tree.\n", n, scale)
	for _, p := range b.problems {
		fmt.Fprintln(stdout, "WRONG:", p)
	}
	return nil
}

// tree is one generated cluster: a warewulf.conf relocating every path
// into dir.
type tree struct {
	wwctl, dir, conf, provision string
}

// newTree writes dir/warewulf.conf, makes the SSH host keys with "wwctl
// configure ssh" and writes a nodes.conf of n nodes. The first time, it
// checks the overlays of the profile with "wwctl overlay list" and leaves
// out, with a warning on stdout, those that do not exist.
func (b *bench) newTree(ctx context.Context, dir string, n int, stdout io.Writer) (*tree, error) {
	t := &tree{wwctl: b.wwctl, dir: dir, conf: filepath.Join(dir, "warewulf.conf"),
		provision: filepath.Join(dir, "var", "warewulf", "provision", "overlays")}
	// Shared host keys: the bench measures builds, not the making of a
	// key per node (10,000 RSA keys take the better part of an hour).
	text := "ipaddr: 10.0.0.1/16\nssh:\n  shared host keys: true\npaths:\n  sysconfdir: " + filepath.Join(dir, "etc") +
		"\n  hostroot: " + dir + "\n  localstatedir: " + filepath.Join(dir, "var") + "\n  datadir: " + filepath.Join(dir, "share") + "\n"
	if err := os.MkdirAll(filepath.Join(dir, "etc", "warewulf"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(t.conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	// configure ssh also makes the user's key in $HOME/.ssh: keep it in dir.
	if _, _, err := command(ctx, t.ww("configure", "ssh"), append(os.Environ(), "HOME="+dir), nil); err != nil {
		return nil, err
	}
	if !b.checked {
		var out bytes.Buffer
		if _, _, err := command(ctx, t.ww("overlay", "list"), nil, &out); err != nil {
			return nil, err
		}
		var missing []string
		b.system, b.rtime, missing = existing(listedNames(out.String()))
		for _, m := range missing {
			fmt.Fprintf(stdout, "warning: overlay %s does not exist; left out of the profile\n", m)
		}
		b.checked = true
	}
	p := filepath.Join(dir, "etc", "warewulf", "nodes.conf")
	if err := os.WriteFile(p, nodesConf(n, b.system, b.rtime), 0o644); err != nil {
		return nil, err
	}
	return t, nil
}

// ww returns the argv of wwctl args on t.
func (t *tree) ww(args ...string) []string {
	return append([]string{t.wwctl, "--warewulfconf", t.conf}, args...)
}

// build runs "wwctl overlay build" on t, adds its times to r and checks
// the summary it prints against the built and unchanged counts wanted
// (and no failures); a mismatch marks r wrong and is added to b.problems.
// Only a failing command or an unreadable summary is an error.
func (b *bench) build(ctx context.Context, t *tree, r *row, built, unchanged int) error {
	var out bytes.Buffer
	argv := t.ww("overlay", "build")
	wall, cpu, err := command(ctx, argv, nil, &out)
	if err != nil {
		return err
	}
	s, err := parseSummary(out.String())
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	r.walls, r.cpus = append(r.walls, wall), append(r.cpus, cpu)
	r.images = fmt.Sprintf("%d/%d", s.built, s.unchanged)
	if s.built != built || s.unchanged != unchanged || s.failed != 0 {
		r.wrong = true
		b.problems = append(b.problems, fmt.Sprintf("%s at %s nodes: %d built, %d unchanged, %d failed; want %d built, %d unchanged, 0 failed",
			r.step, r.nodes, s.built, s.unchanged, s.failed, built, unchanged))
	}
	return nil
}

// summary is the last line "wwctl overlay build" prints.
type summary struct{ built, unchanged, failed int }

// parseSummary reads "Overlay images: B built, U unchanged, F failed (...)"
// from the last non-empty line of out.
func parseSummary(out string) (summary, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	var s summary
	if _, err := fmt.Sscanf(last, "Overlay images: %d built, %d unchanged, %d failed", &s.built, &s.unchanged, &s.failed); err != nil {
		return summary{}, fmt.Errorf("no summary in last line %q: %w", last, err)
	}
	return s, nil
}

// defaultOverlays returns the overlays of the generated default profile.
func defaultOverlays() (system, rtime []string) {
	return []string{"fstab", "hostname", "ssh.host_keys", "issue", "resolv", "udev.netname", "systemd.netname",
			"ifcfg", "ifupdown", "NetworkManager", "systemd.networkd", "netplan", "chrony", "localtime", "syncuser", "debug"},
		[]string{"hosts", "ssh.authorized_keys"}
}

// existing returns the overlays of the default profile that are in have,
// and those that are not.
func existing(have []string) (system, rtime, missing []string) {
	keep := func(names []string) []string {
		return slices.DeleteFunc(names, func(name string) bool {
			if slices.Contains(have, name) {
				return false
			}
			missing = append(missing, name)
			return true
		})
	}
	system, rtime = defaultOverlays()
	return keep(system), keep(rtime), missing
}

// listedNames returns the first column of a table printed by "wwctl
// overlay list", without its header and the header's row of dashes.
func listedNames(out string) []string {
	var names []string
	for i, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); i > 1 && len(f) > 0 {
			names = append(names, f[0])
		}
	}
	return names
}

// maxNodes bounds the node count so that the addresses stay unique.
const maxNodes = 1<<22 - 256

// nodesConf returns a nodes.conf of the default profile and nodes n00001..n<n>, each
// with an IPMI address and two network devices. Node i's addresses are
// 10.0.0.0 + k<<22 + 256 + i (k: 0 eth0, 1 ib0, 2 IPMI), clear of the
// server (10.0.0.1) and gateway (10.0.0.254), and its eth0 hardware address
// 02:00:00 plus i in 3 bytes, so all are unique for n < maxNodes.
func nodesConf(n int, system, rtime []string) []byte {
	w := bytes.NewBufferString("# nodes.conf generated by test/bench/overlays.\nnodeprofiles:\n  default:\n")
	list := func(key string, items []string) {
		if len(items) == 0 {
			fmt.Fprintf(w, "    %s: []\n", key)
			return
		}
		fmt.Fprintf(w, "    %s:\n", key)
		for _, it := range items {
			fmt.Fprintf(w, "      - %s\n", it)
		}
	}
	list("system overlay", system)
	list("runtime overlay", rtime)
	w.WriteString("    kernel:\n      args:\n        - quiet\nnodes:\n")
	ip := func(k, i int) string {
		a := 10<<24 | k<<22 | (256 + i)
		return fmt.Sprintf("%d.%d.%d.%d", a>>24, a>>16&255, a>>8&255, a&255)
	}
	for i := 1; i <= n; i++ {
		fmt.Fprintf(w, "  n%05d:\n    profiles:\n      - default\n    ipmi:\n      ipaddr: %s\n"+
			"    network devices:\n"+
			"      default:\n        device: eth0\n        hwaddr: \"02:00:00:%02x:%02x:%02x\"\n        ipaddr: %s\n"+
			"        netmask: 255.255.0.0\n        gateway: 10.0.0.254\n        tags:\n          DNS1: 10.0.0.1\n"+
			"      ib:\n        device: ib0\n        type: infiniband\n        ipaddr: %s\n        netmask: 255.255.0.0\n",
			i, ip(2, i), i>>16&255, i>>8&255, i&255, ip(0, i), ip(1, i))
	}
	return w.Bytes()
}

// endsIn7 returns how many of the nodes n00001..n<n> have a name ending
// in "7".
func endsIn7(n int) int { return (n + 3) / 10 }

// diskUsage returns the allocated (st_blocks × 512) and apparent bytes of
// the tree at dir, counting a file with several names (a build's batch,
// which each node's pack name links to) once.
func diskUsage(dir string) (alloc, apparent int64, err error) {
	seen := map[uint64]bool{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			if seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
			alloc += st.Blocks * 512
		}
		apparent += info.Size()
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("disk usage of %s: %w", dir, err)
	}
	return alloc, apparent, nil
}

// tarZstd times "tar -cf - . | zstd -q -c > /dev/null" in dir.
func tarZstd(ctx context.Context, dir string) (time.Duration, error) {
	start := time.Now()
	if err := harness.Pipeline(ctx, dir, [][]string{{"tar", "-cf", "-", "."}, {"zstd", "-q", "-c"}}); err != nil {
		return 0, fmt.Errorf("tar | zstd in %s: %w", dir, err)
	}
	return time.Since(start), nil
}

// command runs argv with environment env (nil: this process's) and stdout
// to w (nil: /dev/null), and returns its wall time and the CPU time (user
// + system) it used. A failure carries the command line and its stderr.
func command(ctx context.Context, argv, env []string, w io.Writer) (wall, cpu time.Duration, err error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, w, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, stderr.Bytes())
	}
	return time.Since(start), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// fmtBytes prints b in decimal MB or kB.
func fmtBytes(b int64) string {
	if b >= 1e6 {
		return fmt.Sprintf("%.1f MB", float64(b)/1e6)
	}
	return fmt.Sprintf("%.1f kB", float64(b)/1e3)
}
