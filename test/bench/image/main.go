// Command image measures image builds (internal/image.Build) on a Debian
// root filesystem of about 1 GB against Warewulf's shell pipelines on the
// same tree, in the same run:
//
//	tar -cf - -C ROOT . | zstd -T0 -3 > /dev/null
//	find . | cpio -o -H newc | pigz > /dev/null
//
// Targets: our zstd build within 1.5× the tar | zstd wall time, our gzip
// build no slower than find | cpio | pigz, a rebuild of an unchanged tree
// under a second. Each step runs -runs times, interleaved, and the median
// is reported, because the machine may be shared and noisy. Our builds
// write real, fsynced files; the pipelines write to /dev/null.
//
// The tree is -root, or else made once with debootstrap in -cache and
// reused by later runs. Missing tools (debootstrap, pigz, zstd, cpio) are
// installed with apt-get. It is run by "make bench" as
// "go run ./test/bench/image"; it exits 0 even when a target is missed
// (benchmarks report, tests assert) and non-zero when a step fails.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wwboot/wwboot/test/bench/harness"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/image"
)

// Targets.
const (
	zstdRatio = 1.5 // our zstd build / tar | zstd
	gzipRatio = 1.0 // our gzip build / find | cpio | pigz
	noopLimit = time.Second
)

// defaultPackages are added to debootstrap's minbase to make a tree of
// about 1 GB that looks like a compute node's: a kernel with its modules
// and firmware, interpreters, a compiler.
const defaultPackages = "linux-image-amd64,firmware-linux-free,systemd-sysv,openssh-server," +
	"python3,perl,gcc,g++,make,git,vim,less,iproute2,curl,ca-certificates,locales,man-db"

func main() { harness.Main("image bench", run) }

// step is one measured command; walls and cpus collect its runs.
type step struct {
	name   string
	do     func(ctx context.Context) error
	walls  []time.Duration
	cpus   []time.Duration
	ref    *step   // the step it is compared with
	ratio  float64 // target: wall ≤ ratio × ref's wall
	limit  time.Duration
	target string
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("image", flag.ContinueOnError)
	root := flags.String("root", "", "tree to measure (default: a Debian tree debootstrapped into -cache)")
	cache := flags.String("cache", "/var/tmp/wwboot-bench-rootfs", "where the debootstrapped tree is kept between runs")
	keep := flags.Bool("keep", true, "keep the debootstrapped tree in -cache for the next run (false: delete it at the end)")
	suite := flags.String("suite", "bookworm", "Debian suite to debootstrap")
	mirror := flags.String("mirror", "", "Debian mirror (default: the machine's apt sources, else deb.debian.org)")
	packages := flags.String("packages", defaultPackages, "packages debootstrap adds to minbase (comma-separated)")
	runs := flags.Int("runs", 2, "repetitions of each step; the median is reported")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *runs < 1 {
		return fmt.Errorf("-runs %d: must be at least 1", *runs)
	}
	tools := []string{"pigz", "zstd", "cpio", "tar", "find"}
	if *root == "" {
		tools = append(tools, "debootstrap")
	}
	if err := ensureTools(ctx, tools); err != nil {
		return err
	}
	if *root == "" {
		*root = *cache
		if err := ensureTree(ctx, *root, *suite, *mirror, *packages); err != nil {
			return err
		}
		if !*keep {
			defer func() {
				_ = os.RemoveAll(*root)
				_ = os.Remove(*root + ".done")
			}()
		}
	}
	files, size, err := treeSize(*root)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "tree %s: %d entries, %.0f MB of files\n", *root, files, float64(size)/1e6)

	out, err := os.MkdirTemp("", "wwboot-bench-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(out)

	build := func(formats ...compress.Format) func(context.Context) error {
		return func(ctx context.Context) error {
			_, err := image.Build(ctx, *root, filepath.Join(out, "img"), image.BuildOptions{Formats: formats, Force: true})
			return err
		}
	}
	refZstd := &step{name: "tar | zstd -T0 -3 (reference)", do: func(ctx context.Context) error {
		return harness.Pipeline(ctx, *root, [][]string{{"tar", "-cf", "-", "-C", *root, "."}, {"zstd", "-T0", "-3", "-q", "-c"}})
	}}
	refGzip := &step{name: "find | cpio -o -H newc | pigz (reference)", do: func(ctx context.Context) error {
		return harness.Pipeline(ctx, *root, [][]string{{"find", "."}, {"cpio", "-o", "-H", "newc", "--quiet"}, {"pigz", "-c"}})
	}}
	ourZstd := &step{name: "Build zstd", do: build(compress.Zstd), ref: refZstd, ratio: zstdRatio,
		target: fmt.Sprintf("≤ %.1f× reference", zstdRatio)}
	ourGzip := &step{name: "Build gzip", do: build(compress.Gzip), ref: refGzip, ratio: gzipRatio,
		target: fmt.Sprintf("≤ %.1f× reference", gzipRatio)}
	ourBoth := &step{name: "Build gzip+zstd, one walk", do: build(compress.Gzip, compress.Zstd), target: "(information)"}
	noop := &step{name: "rebuild, nothing changed", limit: noopLimit, target: "< " + noopLimit.String(),
		do: func(ctx context.Context) error {
			res, err := image.Build(ctx, *root, filepath.Join(out, "img"), image.BuildOptions{Formats: []compress.Format{compress.Gzip, compress.Zstd}})
			if err == nil && !res.Skipped {
				err = errors.New("the unchanged tree was rebuilt")
			}
			return err
		}}
	steps := []*step{refZstd, ourZstd, refGzip, ourGzip, ourBoth, noop}

	// One untimed pass puts the tree in the page cache for every step.
	fmt.Fprintln(os.Stderr, "warming the page cache")
	if err := harness.Pipeline(ctx, *root, [][]string{{"tar", "-cf", "-", "-C", *root, "."}}); err != nil {
		return err
	}
	for r := range *runs {
		for _, s := range steps {
			fmt.Fprintf(os.Stderr, "run %d/%d: %s\n", r+1, *runs, s.name)
			wall, cpu, err := measure(func() error { return s.do(ctx) })
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			s.walls, s.cpus = append(s.walls, wall), append(s.cpus, cpu)
		}
	}
	var sizes []string
	for _, f := range []compress.Format{compress.Gzip, compress.Zstd} {
		if st, err := os.Stat(filepath.Join(out, "img.img"+f.Ext())); err == nil {
			sizes = append(sizes, fmt.Sprintf("%s %.0f MB", f, float64(st.Size())/1e6))
		}
	}
	fmt.Fprintf(stdout, "tree: %s, %d entries, %.0f MB of files; archives: %s; %d CPUs, median of %d runs\n\n",
		*root, files, float64(size)/1e6, strings.Join(sizes, ", "), runtime.NumCPU(), *runs)
	return report(stdout, steps)
}

// report prints the table.
func report(w io.Writer, steps []*step) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tWALL\tCPU\tvs REFERENCE\tTARGET\tRESULT")
	for _, s := range steps {
		wall, ratio, target, result := harness.Median(s.walls), "", s.target, ""
		if s.ref != nil {
			r := float64(wall) / float64(harness.Median(s.ref.walls))
			ratio = fmt.Sprintf("%.2f×", r)
			result = verdict(r <= s.ratio)
		}
		if s.limit > 0 {
			result = verdict(wall < s.limit)
		}
		if target == "" {
			target = "-"
		}
		if result == "" {
			result = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.name, harness.FmtDur(wall), harness.FmtDur(harness.Median(s.cpus)), ratio, target, result)
	}
	return tw.Flush()
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "OVER"
}

// measure runs f and returns its wall time and the CPU time (user and
// system) this process and its children used meanwhile.
func measure(f func() error) (time.Duration, time.Duration, error) {
	cpu := func() time.Duration {
		var self, kids syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &self)
		_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids)
		var d time.Duration
		for _, r := range []syscall.Rusage{self, kids} {
			d += time.Duration(r.Utime.Nano() + r.Stime.Nano())
		}
		return d
	}
	c0, t0 := cpu(), time.Now()
	err := f()
	return time.Since(t0), cpu() - c0, err
}

// ensureTools installs the Debian packages of missing commands.
func ensureTools(ctx context.Context, tools []string) error {
	pkgOf := map[string]string{"find": "findutils"}
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			p := t
			if q, ok := pkgOf[t]; ok {
				p = q
			}
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("missing %s: install them or run as root", strings.Join(missing, ", "))
	}
	fmt.Fprintf(os.Stderr, "installing %s\n", strings.Join(missing, " "))
	cmd := exec.CommandContext(ctx, "apt-get", append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("apt-get install %s: %w", strings.Join(missing, " "), err)
	}
	return nil
}

// ensureTree debootstraps the tree into dir unless a previous run
// completed it (dir.done exists).
func ensureTree(ctx context.Context, dir, suite, mirror, packages string) error {
	if _, err := os.Stat(dir + ".done"); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return errors.New("debootstrap needs root; or give a tree with -root")
	}
	if mirror == "" {
		mirror = aptMirror()
	}
	if err := os.RemoveAll(dir); err != nil { // a partial tree of an interrupted run
		return err
	}
	fmt.Fprintf(os.Stderr, "debootstrap %s from %s into %s (once; later runs reuse it)\n", suite, mirror, dir)
	cmd := exec.CommandContext(ctx, "debootstrap", "--variant=minbase",
		"--include="+packages, suite, dir, mirror)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("debootstrap: %w", err)
	}
	// debootstrap leaves its downloaded packages in the tree; an image
	// would not ship them.
	debs, _ := filepath.Glob(filepath.Join(dir, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		_ = os.Remove(d)
	}
	return os.WriteFile(dir+".done", nil, 0o644)
}

// aptMirror returns the Debian mirror apt uses on this machine.
func aptMirror() string {
	const fallback = "http://deb.debian.org/debian"
	files, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	files = append(files, "/etc/apt/sources.list")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			var uri string
			switch {
			case len(fields) >= 2 && fields[0] == "URIs:":
				uri = fields[1]
			case len(fields) >= 3 && fields[0] == "deb" && !strings.HasPrefix(fields[1], "["):
				uri = fields[1]
			}
			if strings.HasPrefix(uri, "http") && !strings.Contains(uri, "security") {
				return uri
			}
		}
	}
	return fallback
}

// treeSize counts the entries under root and the bytes of its regular
// files, without following symlinks.
func treeSize(root string) (int, int64, error) {
	var n int
	var size int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		n++
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			size += info.Size()
		}
		return nil
	})
	return n, size, err
}
