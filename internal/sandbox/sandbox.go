// Package sandbox runs a command inside an image's root filesystem, the way
// "wwctl image exec IMAGE -- CMD" and "wwctl image shell IMAGE" do.
//
// Run re-executes the running program (/proc/self/exe) in new mount, PID
// and UTS namespaces; that child, recognised by Child, builds the sandbox's
// mounts, pivots into the image and execs the command, which becomes PID 1
// of its PID namespace. Every mount lives only in the new mount namespace,
// so nothing is ever left mounted on the host, even when this process or
// the command crashes: the namespace, and its mounts, die with its last
// process, and the PID namespace dies with the command.
//
// The image sees the host's network (no network namespace: package managers
// need it) and a private /proc, a read-only /sys, a small /dev (tmpfs with
// null, zero, full, random, urandom, tty bound from the host, the host's
// /dev/pts, and a tmpfs /dev/shm: a package script creating device nodes
// touches nothing on the host) and a tmpfs /run.
//
// Programs that use Run must call Child first thing in main.
package sandbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// childEnv marks the re-executed process as the sandbox child. The config
// arrives on fd 3 and the child reports on fd 4.
const childEnv = "WWBOOT_SANDBOX_CHILD"

// setupFailed is the child's exit status when it could not set the sandbox
// up; its report carries the reason.
const setupFailed = 125

// DefaultPath is the PATH inside the sandbox: a typical distribution's,
// sbin first because image maintenance is root's work.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Bind makes the host path Source visible at Dest inside the image.
type Bind struct {
	Source   string `json:"source"`
	Dest     string `json:"dest"`
	ReadOnly bool   `json:"readonly,omitempty"`
	// Copy copies the file Source into the image at Dest for the
	// command, rather than mounting it, when the image has no Dest, and
	// removes it afterwards unless the command changed it (Warewulf's
	// "copy": /etc/resolv.conf for a package manager, say). With layers
	// nothing is written into the image: it is then mounted.
	Copy bool `json:"copy,omitempty"`
}

// Options describe one sandboxed command.
type Options struct {
	// Root is the image's root filesystem (<chrootdir>/<name>/rootfs).
	Root string
	// Hostname is the UTS name inside, normally the image name. Empty:
	// derived from Root (the directory holding "rootfs", or Root's name).
	Hostname string
	// Binds are applied in order, after /proc, /sys, /dev and /run, so a
	// bind may land inside those. A bind whose source is missing on the
	// host is skipped with a warning (image mounts from warewulf.conf may
	// name paths that only some servers have). Missing mount points are
	// created in the image and removed again when the command ends.
	Binds []Bind
	// ReadOnly mounts the image's root read-only (an image marked
	// read-only). Binds keep their own mode.
	ReadOnly bool
	// Layers are host directories laid over the image, the first on top
	// (a node's rendered overlays, for "image exec --node"). With layers
	// the image is seen through an overlay filesystem whose changes go to
	// a tmpfs that ends with the sandbox: nothing is written into the
	// image or the layers, not even the mount points of /proc or a bind.
	// Paths holding ',', ':' or '\' cannot be layered.
	Layers []string
	// Env is added to the sandbox's environment and overrides its
	// defaults (PATH, HOME, TERM, PS1, HISTFILE).
	Env []string

	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Log            *slog.Logger
}

// ParseBind parses the command-line form "src[:dst[:ro|rw|copy]]". dst
// defaults to src and must be absolute; paths holding ":" cannot be
// expressed.
func ParseBind(s string) (Bind, error) {
	parts := strings.Split(s, ":")
	if len(parts) > 3 {
		return Bind{}, fmt.Errorf("bind %q: want src[:dst[:ro|copy]]", s)
	}
	b := Bind{Source: parts[0]}
	if b.Source == "" {
		return Bind{}, fmt.Errorf("bind %q: empty source", s)
	}
	b.Dest = b.Source
	if len(parts) > 1 && parts[1] != "" {
		b.Dest = parts[1]
	}
	if len(parts) == 3 {
		switch parts[2] {
		case "ro":
			b.ReadOnly = true
		case "copy":
			b.Copy = true
		case "rw", "":
		default:
			return Bind{}, fmt.Errorf("bind %q: unknown option %q (want ro, rw or copy)", s, parts[2])
		}
	}
	if !filepath.IsAbs(b.Dest) {
		return Bind{}, fmt.Errorf("bind %q: destination %q is not an absolute path", s, b.Dest)
	}
	b.Source = filepath.Clean(b.Source)
	b.Dest = filepath.Clean(b.Dest)
	return b, nil
}

// childConfig is what Run hands the child on fd 3.
type childConfig struct {
	Root     string   `json:"root"`
	Hostname string   `json:"hostname"`
	Binds    []Bind   `json:"binds"`
	ReadOnly bool     `json:"readonly"`
	Layers   []string `json:"layers,omitempty"`
	// Scratch is an empty host directory the child mounts a tmpfs on, in
	// its own namespace, for the overlay filesystem's changes.
	Scratch string   `json:"scratch,omitempty"`
	Env     []string `json:"env"`
	Argv    []string `json:"argv"`
}

// report is one line the child writes on fd 4: a path it created in the
// image, that it is about to exec the command, or why it failed.
type report struct {
	Created string `json:"created,omitempty"`
	Ready   bool   `json:"ready,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Run runs argv inside opts.Root and returns the command's exit status
// (128+N when killed by signal N). A command that exits non-zero is not an
// error; failing to build the sandbox, a command not found in the image's
// PATH, or ctx ending (which kills everything in the sandbox) is.
//
// Run needs root. It does not lock the image: callers that may race with
// another exec/shell or a build take Lock first.
//
// When Stdin is the controlling terminal and this process is in its
// foreground, the command gets its own process group in the foreground,
// so ^C and ^Z go to the command, not to this process.
func Run(ctx context.Context, opts Options, argv []string) (int, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(argv) == 0 {
		return -1, errors.New("image exec: no command given")
	}
	if uid := os.Geteuid(); uid != 0 {
		return -1, fmt.Errorf("image exec needs root: it mounts filesystems in new namespaces (running as uid %d)", uid)
	}
	root, err := resolveRoot(opts.Root)
	if err != nil {
		return -1, err
	}
	binds, err := hostBinds(opts.Binds, log)
	if err != nil {
		return -1, err
	}
	var copies []Bind
	if len(opts.Layers) == 0 {
		mounts := binds[:0:0]
		for _, b := range binds {
			if b.Copy {
				copies = append(copies, b)
			} else {
				mounts = append(mounts, b)
			}
		}
		binds = mounts
	}
	copied := copyIn(root, copies, log)
	defer removeCopied(root, copied, log)
	hostname := opts.Hostname
	if hostname == "" {
		hostname = nameOf(root)
	}
	cfg := childConfig{
		Root:     root,
		Hostname: hostname,
		Binds:    binds,
		ReadOnly: opts.ReadOnly,
		Env:      environ(hostname, os.Getenv("TERM"), opts.Env),
		Argv:     argv,
	}
	if len(opts.Layers) > 0 {
		if cfg.Layers, err = layerDirs(root, opts.Layers); err != nil {
			return -1, err
		}
		// The tmpfs is mounted only in the child's namespace: here the
		// directory stays empty, and goes when the sandbox ends.
		if cfg.Scratch, err = os.MkdirTemp("", "wwctl-sandbox-"); err != nil {
			return -1, fmt.Errorf("image exec: %w", err)
		}
		defer os.Remove(cfg.Scratch)
	}
	code, created, err := start(ctx, cfg, opts, log)
	removeCreated(root, created, log)
	return code, err
}

// resolveRoot returns the canonical path of an image root, refusing "/".
func resolveRoot(root string) (string, error) {
	if root == "" {
		return "", errors.New("image exec: no image root given")
	}
	abs, err := filepath.Abs(root)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return "", fmt.Errorf("image root %s: %w", root, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("image root %s: %w", root, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("image root %s: not a directory", root)
	}
	if abs == "/" {
		return "", errors.New("image root is the host's /: refusing to sandbox the host")
	}
	return abs, nil
}

// layerDirs checks the layers and the root can be named in an overlay
// filesystem's options, and makes the layers canonical.
func layerDirs(root string, layers []string) ([]string, error) {
	out := make([]string, 0, len(layers))
	for _, l := range layers {
		abs, err := filepath.Abs(l)
		if err == nil {
			abs, err = filepath.EvalSymlinks(abs)
		}
		if err != nil {
			return nil, fmt.Errorf("image exec: layer %s: %w", l, err)
		}
		if st, err := os.Stat(abs); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("image exec: layer %s is not a directory", l)
		}
		out = append(out, abs)
	}
	for _, p := range append([]string{root}, out...) {
		if strings.ContainsAny(p, ",:\\") {
			return nil, fmt.Errorf("image exec: %s cannot be layered: an overlay filesystem cannot name a path holding ',', ':' or '\\'", p)
		}
	}
	return out, nil
}

// hostBinds makes bind sources absolute and drops, with a warning, those
// missing on the host.
func hostBinds(in []Bind, log *slog.Logger) ([]Bind, error) {
	out := make([]Bind, 0, len(in))
	for _, b := range in {
		src, err := filepath.Abs(b.Source)
		if err != nil {
			return nil, fmt.Errorf("bind %s: %w", b.Source, err)
		}
		if !filepath.IsAbs(b.Dest) {
			return nil, fmt.Errorf("bind %s: destination %q is not an absolute path", b.Source, b.Dest)
		}
		if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
			log.Warn("bind source missing on the host, skipped", "source", src, "dest", b.Dest)
			continue
		} else if err != nil {
			return nil, fmt.Errorf("bind %s: %w", b.Source, err)
		}
		out = append(out, Bind{Source: src, Dest: filepath.Clean(b.Dest), ReadOnly: b.ReadOnly, Copy: b.Copy})
	}
	return out, nil
}

// nameOf names an image after its directory: <chrootdir>/NAME/rootfs.
func nameOf(root string) string {
	if filepath.Base(root) == "rootfs" {
		return filepath.Base(filepath.Dir(root))
	}
	return filepath.Base(root)
}

// environ is the sandbox's environment: defaults, then extra, later
// entries replacing earlier ones with the same name.
func environ(hostname, term string, extra []string) []string {
	env := []string{
		"PATH=" + DefaultPath,
		"HOME=/root",
		"PS1=[wwctl image " + hostname + `] \w# `,
		// Debian's bash.bashrc replaces PS1 but shows this.
		"debian_chroot=wwctl image " + hostname,
		// Keep the shell's history out of the image.
		"HISTFILE=/dev/null",
	}
	if term != "" {
		env = append(env, "TERM="+term)
	}
	env = append(env, extra...)
	seen := make(map[string]int, len(env))
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[name]; ok {
			out[i] = kv
			continue
		}
		seen[name] = len(out)
		out = append(out, kv)
	}
	return out
}

// start runs the child and waits for it. It returns the exit status and
// the paths the child created in the image, also on error.
func start(ctx context.Context, cfg childConfig, opts Options, log *slog.Logger) (int, []string, error) {
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return -1, nil, fmt.Errorf("image exec: %w", err)
	}
	defer cfgW.Close()
	repR, repW, err := os.Pipe()
	if err != nil {
		cfgR.Close()
		return -1, nil, fmt.Errorf("image exec: %w", err)
	}
	defer repR.Close()

	cmd := exec.CommandContext(ctx, "/proc/self/exe")
	cmd.Args = []string{"wwctl-image-sandbox"}
	cmd.Env = []string{childEnv + "=1"}
	cmd.ExtraFiles = []*os.File{cfgR, repW}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = opts.Stdin, opts.Stdout, opts.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
		// The sandbox must not outlive us. Pdeathsig follows the thread
		// that forked, so that thread stays ours until Wait returns.
		Pdeathsig: syscall.SIGKILL,
	}
	tty := foregroundTTY(opts.Stdin)
	if tty >= 0 {
		cmd.SysProcAttr.Foreground = true
		cmd.SysProcAttr.Ctty = tty
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	log.Debug("starting image sandbox", "root", cfg.Root, "argv", cfg.Argv, "binds", cfg.Binds, "readonly", cfg.ReadOnly)
	err = cmd.Start()
	cfgR.Close()
	repW.Close()
	if err != nil {
		return -1, nil, fmt.Errorf("image exec: start sandbox: %w", err)
	}
	if tty >= 0 {
		defer reclaimTTY(tty, log)
	}
	// The child reads all of it first thing; an error here shows in its
	// report or exit.
	_ = json.NewEncoder(cfgW).Encode(cfg)
	cfgW.Close()

	var created []string
	var setupErr string
	ready := false
	sc := bufio.NewScanner(repR)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var r report
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			setupErr = fmt.Sprintf("bad report from sandbox: %q", sc.Text())
			break
		}
		switch {
		case r.Created != "":
			created = append(created, r.Created)
		case r.Ready:
			ready = true
		case r.Error != "":
			setupErr = r.Error
		}
	}
	waitErr := cmd.Wait()
	if setupErr != "" {
		return -1, created, fmt.Errorf("image exec in %s: %s", cfg.Root, setupErr)
	}
	if !ready {
		if ctx.Err() != nil {
			return -1, created, fmt.Errorf("image exec: %w", ctx.Err())
		}
		return -1, created, fmt.Errorf("image exec: sandbox child did not start (%v); the program must call sandbox.Child first in main", waitErr)
	}
	code := 0
	var exitErr *exec.ExitError
	switch {
	case waitErr == nil:
	case errors.As(waitErr, &exitErr):
		code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	default:
		return -1, created, fmt.Errorf("image exec: %w", waitErr)
	}
	if ctx.Err() != nil {
		return code, created, fmt.Errorf("image exec: %w", ctx.Err())
	}
	return code, created, nil
}

// foregroundTTY returns the fd of r when it is this process's controlling
// terminal and we are its foreground process group, else -1.
func foregroundTTY(r io.Reader) int {
	f, ok := r.(*os.File)
	if !ok {
		return -1
	}
	fd := int(f.Fd())
	pgrp, err := unix.IoctlGetInt(fd, unix.TIOCGPGRP)
	if err != nil || pgrp != unix.Getpgrp() {
		return -1
	}
	return fd
}

// reclaimTTY puts our process group back in the terminal's foreground
// after the sandbox's group held it. SIGTTOU is blocked on this (locked)
// thread so the kernel lets a background group do that.
func reclaimTTY(fd int, log *slog.Logger) {
	var set, old unix.Sigset_t
	bits := uint(unsafe.Sizeof(set.Val[0]) * 8)
	sig := uint(unix.SIGTTOU - 1)
	set.Val[sig/bits] |= 1 << (sig % bits)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		log.Warn("cannot take the terminal back", "err", err)
		return
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPGRP, unix.Getpgrp()); err != nil {
		log.Warn("cannot take the terminal back", "err", err)
	}
}

// removeCreated removes, deepest first, the mount points the child had to
// create in the image. Paths are canonical inside the image and removed
// through an os.Root, so nothing outside the image is touched whatever the
// command did meanwhile. A directory the command filled is left alone.
func removeCreated(root string, created []string, log *slog.Logger) {
	if len(created) == 0 {
		return
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		log.Warn("cannot remove mount points created in the image", "root", root, "err", err)
		return
	}
	defer r.Close()
	for i := len(created) - 1; i >= 0; i-- {
		rel := strings.TrimPrefix(filepath.Clean(created[i]), "/")
		if rel == "" || rel == "." {
			continue
		}
		if err := r.Remove(rel); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn("mount point created in the image was not removed", "path", filepath.Join(root, rel), "err", err)
		}
	}
}
