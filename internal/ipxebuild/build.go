package ipxebuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// Defaults of Options, Warewulf's.
const (
	DefaultRepo    = "https://github.com/ipxe/ipxe.git"
	DefaultBranch  = "master"
	DefaultDestDir = "/usr/local/share/ipxe"
	// ConfigName is the iPXE named configuration the build turns
	// features on in (make CONFIG=wwboot reads config/local/wwboot/*.h),
	// so that a site's own config/local/*.h are neither needed nor
	// touched.
	ConfigName = "wwboot"
	// tailLines is how much of make's output a failure shows.
	tailLines = 25
)

// Options say what Build builds, from where, and where it puts it.
type Options struct {
	// Source is an iPXE source tree: its top directory or its src/.
	// Empty: Branch of Repo is cloned into a temporary directory (git
	// clone --depth 1), removed afterwards.
	Source, Repo, Branch string
	// Targets are make targets, DefaultTargets when empty.
	Targets []Target
	// Embed is an iPXE script built into every binary (EMBED=).
	Embed string
	// DestDir receives the binaries, as Target.DestName.
	DestDir string
	// Cross is the cross compiler prefix for targets of another
	// architecture than the host's (default: Debian's, such as
	// aarch64-linux-gnu- for arm64).
	Cross string
	// Jobs is make's -j, the number of CPUs when 0.
	Jobs int
	// MakeArgs are added to make's command line (NO_WERROR=1, DEBUG=...).
	MakeArgs []string
	// Progress, when set, receives make's and git's output as they run
	// (a terminal); it always goes to a log file too, named on failure.
	Progress io.Writer
	Log      *slog.Logger
}

// Built is one binary Build wrote.
type Built struct {
	Target Target
	// Path is the file in DestDir.
	Path string
}

// Build checks what it can before running anything (targets, the EMBED
// script, the source tree, make and the compilers of every target), then
// runs make for each target in turn and copies each binary into DestDir
// atomically. A failing make is reported with its target, the last lines
// of its output and the log file that holds all of it.
func Build(ctx context.Context, o Options) ([]Built, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if len(o.Targets) == 0 {
		ts, err := ParseTargets(DefaultTargets())
		if err != nil {
			return nil, err
		}
		o.Targets = ts
	}
	if o.DestDir == "" {
		o.DestDir = DefaultDestDir
	}
	// tftp.ipxe takes a relative name as one under paths.ipxesource:
	// the binaries are named by absolute paths.
	dest, err := filepath.Abs(o.DestDir)
	if err != nil {
		return nil, fmt.Errorf("destination directory: %w", err)
	}
	o.DestDir = dest
	if o.Jobs <= 0 {
		o.Jobs = runtime.NumCPU()
	}
	script, err := readEmbed(o.Embed)
	if err != nil {
		return nil, err
	}
	if _, err := exec.LookPath("make"); err != nil {
		return nil, fmt.Errorf("make is not on PATH: it builds iPXE (Debian: apt-get install make gcc perl liblzma-dev mtools)")
	}
	if o.Source == "" {
		if _, err := exec.LookPath("git"); err != nil {
			return nil, fmt.Errorf("git is not on PATH: it clones iPXE when no source tree is given (--source)")
		}
	}
	host := hostArch()
	for _, t := range o.Targets {
		cc := crossPrefix(t, host, o.Cross) + "gcc"
		if _, err := exec.LookPath(cc); err != nil {
			return nil, fmt.Errorf("target %s needs the compiler %s, which is not on PATH%s", t.Name, cc, compilerHint(cc))
		}
	}
	if err := os.MkdirAll(o.DestDir, 0o755); err != nil {
		return nil, fmt.Errorf("destination directory: %w", err)
	}
	logFile, err := os.CreateTemp("", "wwctl-ipxe-build-*.log")
	if err != nil {
		return nil, fmt.Errorf("build log: %w", err)
	}
	keepLog := true
	defer func() {
		logFile.Close()
		if !keepLog {
			os.Remove(logFile.Name())
		}
	}()
	r := &runner{log: logFile, progress: o.Progress}

	src := o.Source
	if src == "" {
		tmp, err := os.MkdirTemp("", "wwctl-ipxe-src-*")
		if err != nil {
			return nil, fmt.Errorf("clone iPXE: %w", err)
		}
		defer os.RemoveAll(tmp)
		repo, branch := cmpOr(o.Repo, DefaultRepo), cmpOr(o.Branch, DefaultBranch)
		o.Log.Info("cloning iPXE", "repo", repo, "branch", branch)
		if err := r.run(ctx, "", "git", "clone", "--depth", "1", "--branch", branch, repo, filepath.Join(tmp, "ipxe")); err != nil {
			return nil, fmt.Errorf("git clone --branch %s %s: %w", branch, repo, r.failure(err, logFile.Name()))
		}
		src = filepath.Join(tmp, "ipxe")
	}
	srcDir, err := sourceDir(src)
	if err != nil {
		return nil, err
	}
	// Two builds in one tree would overwrite each other's configuration
	// and objects.
	unlock, err := atomicfile.Lock(ctx, filepath.Join(srcDir, ".wwctl-ipxe-build.lock"))
	if err != nil {
		return nil, fmt.Errorf("iPXE source %s: %w", srcDir, err)
	}
	defer unlock()
	if err := writeNamedConfig(srcDir); err != nil {
		return nil, err
	}
	embed := ""
	if script != nil {
		if embed, err = writeEmbed(srcDir, script); err != nil {
			return nil, err
		}
	}

	var out []Built
	for _, t := range o.Targets {
		args := []string{"-C", srcDir, "-j", strconv.Itoa(o.Jobs), "CONFIG=" + ConfigName}
		if c := crossPrefix(t, host, o.Cross); c != "" {
			args = append(args, "CROSS="+c)
		}
		if embed != "" {
			args = append(args, "EMBED="+embed)
		}
		args = append(args, pieWorkaround(srcDir, t)...)
		args = append(args, hostFlagsWorkaround(srcDir, crossPrefix(t, host, o.Cross))...)
		args = append(args, o.MakeArgs...)
		args = append(args, t.Name)
		o.Log.Info("building iPXE", "target", t.Name, "dir", srcDir)
		start := time.Now()
		if err := r.run(ctx, "", "make", args...); err != nil {
			return out, fmt.Errorf("build iPXE target %s in %s: %w", t.Name, srcDir, r.failure(err, logFile.Name()))
		}
		data, err := os.ReadFile(filepath.Join(srcDir, filepath.FromSlash(t.Name)))
		if err != nil {
			return out, fmt.Errorf("build iPXE target %s: make succeeded but: %w", t.Name, err)
		}
		dest := filepath.Join(o.DestDir, t.DestName())
		if err := atomicfile.WriteFile(dest, data, 0o644); err != nil {
			return out, fmt.Errorf("install iPXE target %s: %w", t.Name, err)
		}
		o.Log.Info("built iPXE", "target", t.Name, "file", dest, "seconds", int(time.Since(start).Seconds()))
		out = append(out, Built{Target: t, Path: dest})
	}
	keepLog = false
	return out, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readEmbed reads the EMBED script, nil for none, or says what is
// wrong with it.
func readEmbed(embed string) ([]byte, error) {
	if embed == "" {
		return nil, nil
	}
	abs, err := filepath.Abs(embed)
	if err != nil {
		return nil, fmt.Errorf("EMBED script %s: %w", embed, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("EMBED script: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("EMBED script %s is not a regular file", abs)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("EMBED script: %w", err)
	}
	if !bytes.HasPrefix(data, []byte("#!ipxe")) {
		return nil, fmt.Errorf("EMBED script %s does not start with #!ipxe: iPXE would not run it as a script", abs)
	}
	return data, nil
}

// writeEmbed puts the script in the tree under a fixed name, which make
// takes whatever the site's path holds (make splits EMBED at commas and
// spaces) and rebuilds from only when the script changed.
func writeEmbed(srcDir string, script []byte) (string, error) {
	p := filepath.Join(srcDir, "config", "local", ConfigName, "embedded.ipxe")
	if old, err := os.ReadFile(p); err == nil && bytes.Equal(old, script) {
		return p, nil
	}
	if err := atomicfile.WriteFile(p, script, 0o644); err != nil {
		return "", fmt.Errorf("EMBED script: %w", err)
	}
	return p, nil
}

// sourceDir finds the src/ directory of an iPXE tree given its top or
// src/ itself.
func sourceDir(dir string) (string, error) {
	for _, d := range []string{filepath.Join(dir, "src"), dir} {
		if isFile(filepath.Join(d, "Makefile")) && isFile(filepath.Join(d, "config", "general.h")) {
			return filepath.Abs(d)
		}
	}
	return "", fmt.Errorf("iPXE source %s: no src/Makefile and src/config/general.h (want an iPXE checkout or its src directory)", dir)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// namedConfig is what the build turns on, as Warewulf's script does:
// VLAN commands (vcreate, for a script that tags a VLAN before DHCP;
// off in trees before 2021), gzip and zlib images where the tree knows
// them. Not the serial console Warewulf's script adds on x86: where the
// firmware already copies its console to the serial port (OVMF,
// SeaBIOS's sercon, BIOS console redirection) every character would
// come out twice; a site that wants it defines CONSOLE_SERIAL in its
// tree's config/local/console.h.
func namedConfig() map[string]string {
	const head = "/* Written by wwctl ipxe build (make CONFIG=" + ConfigName + "); rewritten on every build. */\n"
	return map[string]string{
		"general.h": head + "#define VLAN_CMD\n#define IMAGE_GZIP\n#define IMAGE_ZLIB\n",
	}
}

// writeNamedConfig writes config/local/wwboot/*.h, only where they differ
// so that make does not rebuild what is up to date.
func writeNamedConfig(srcDir string) error {
	dir := filepath.Join(srcDir, "config", "local", ConfigName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("iPXE configuration: %w", err)
	}
	// config/general.h includes config/local/general.h, which make
	// creates empty only when its dependency files say so; a build
	// that failed before writing them leaves it missing.
	hdrs, err := filepath.Glob(filepath.Join(srcDir, "config", "*.h"))
	if err != nil {
		return fmt.Errorf("iPXE configuration: %w", err)
	}
	for _, h := range hdrs {
		local := filepath.Join(srcDir, "config", "local", filepath.Base(h))
		if _, err := os.Stat(local); errors.Is(err, fs.ErrNotExist) {
			if err := os.WriteFile(local, nil, 0o644); err != nil {
				return fmt.Errorf("iPXE configuration: %w", err)
			}
		}
	}
	for name, content := range namedConfig() {
		p := filepath.Join(dir, name)
		if old, err := os.ReadFile(p); err == nil && string(old) == content {
			continue
		}
		if err := atomicfile.WriteFile(p, []byte(content), 0o644); err != nil {
			return fmt.Errorf("iPXE configuration: %w", err)
		}
	}
	return nil
}

func compilerHint(cc string) string {
	switch cc {
	case "gcc":
		return " (Debian: apt-get install gcc)"
	case "aarch64-linux-gnu-gcc":
		return " (Debian: apt-get install gcc-aarch64-linux-gnu; or set CROSS)"
	case "x86_64-linux-gnu-gcc":
		return " (Debian: apt-get install gcc-x86-64-linux-gnu; or set CROSS)"
	}
	return " (set CROSS to the prefix of a cross compiler)"
}

// runner runs the build's commands with their output in the log file,
// on Progress too, and its last lines kept for an error.
type runner struct {
	log      io.Writer
	progress io.Writer
	tail     tailBuffer
}

func (r *runner) run(ctx context.Context, dir, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	fmt.Fprintf(r.log, "+ %s %s\n", name, strings.Join(args, " "))
	r.tail = tailBuffer{}
	ws := []io.Writer{r.log, &r.tail}
	if r.progress != nil {
		ws = append(ws, r.progress)
	}
	w := io.MultiWriter(ws...)
	cmd.Stdout, cmd.Stderr = w, w
	// make's compilers are its children: a cancelled build stops the
	// whole process group, not make alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// failure describes a failed command: its error, the last lines of its
// output and the log that has all of it.
func (r *runner) failure(err error, logPath string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	lines := r.tail.lines()
	if len(lines) == 0 {
		return fmt.Errorf("%w (log: %s)", err, logPath)
	}
	return fmt.Errorf("%w; the last %d lines of its output (all of it in %s):\n%s", err, len(lines), logPath, strings.Join(lines, "\n"))
}

// tailBuffer keeps the last tailLines lines written to it.
type tailBuffer struct {
	buf []string
	cur []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	for _, b := range p {
		if b == '\n' {
			t.push(string(t.cur))
			t.cur = t.cur[:0]
			continue
		}
		t.cur = append(t.cur, b)
	}
	return len(p), nil
}

func (t *tailBuffer) push(line string) {
	t.buf = append(t.buf, line)
	if len(t.buf) > tailLines {
		t.buf = t.buf[len(t.buf)-tailLines:]
	}
}

func (t *tailBuffer) lines() []string {
	out := append([]string(nil), t.buf...)
	if len(t.cur) > 0 {
		out = append(out, string(t.cur))
		if len(out) > tailLines {
			out = out[1:]
		}
	}
	return out
}

// pieWorkaround is what an iPXE tree older than 2021 (Debian 12's is of
// 2019) needs to build bin-x86_64-pcbios with a gcc that makes
// position-independent code by default, as Debian's does: iPXE turned
// it off for every platform in 2021 (commit e80299c), before only for
// i386. Without it the build fails with "code model kernel does not
// support PIC mode". The make arguments a site gives come after these
// and win.
func pieWorkaround(srcDir string, t Target) []string {
	if t.Arch != "x86_64" || t.Platform != "pcbios" {
		return nil
	}
	hk, err := os.ReadFile(filepath.Join(srcDir, "Makefile.housekeeping"))
	if err != nil || bytes.Contains(hk, []byte("PIE_FLAGS")) {
		return nil
	}
	return []string{"EXTRA_CFLAGS=-fno-PIE"}
}

// hostFlagsWorkaround keeps the target's compiler flags out of the host
// tools (util/elf2efi64, zbin) of a cross build in trees whose
// HOST_CFLAGS take WORKAROUND_CFLAGS, as Debian 12's of 2019 does: there
// an arm64 build compiles util/elf2efi64 with the host gcc and -mabi=lp64
// and fails ("unrecognized argument in option '-mabi=lp64'"). The make
// arguments a site gives come after these and win.
func hostFlagsWorkaround(srcDir, cross string) []string {
	if cross == "" {
		return nil
	}
	hk, err := os.ReadFile(filepath.Join(srcDir, "Makefile.housekeeping"))
	if err != nil || !regexp.MustCompile(`(?m)^HOST_CFLAGS\s*\+=\s*\$\(WORKAROUND_CFLAGS\)`).Match(hk) {
		return nil
	}
	return []string{"HOST_CFLAGS=-O2 -g"}
}
