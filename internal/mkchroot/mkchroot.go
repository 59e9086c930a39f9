// Package mkchroot creates a new image root filesystem from a template,
// the job of Warewulf 3's wwmkchroot: a tiny busybox tree that needs no
// network, a Debian or Ubuntu system bootstrapped with debootstrap, or an
// Enterprise Linux / Fedora system installed with dnf --installroot.
//
// Whether a template can be used depends on the host (tools, keyrings,
// being root); Templates says which can and what the others lack, so that
// a missing tool is reported before any work starts, not half-way.
//
// External tools run with exec.CommandContext (argv, never a shell), with
// their output streamed to the caller, in a private mount namespace and
// process group: the /proc and /sys that debootstrap mounts in the new
// tree vanish with it even when it is killed, and cancelling ctx kills the
// tool and everything it started.
package mkchroot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Template describes one way to make a root filesystem.
type Template struct {
	Name        string
	Description string
	// Available reports whether Create can use the template on this host.
	Available bool
	// Missing says what the host lacks when it is not available, e.g.
	// "debootstrap (apt-get install debootstrap)".
	Missing string
}

// Options tune Create.
type Options struct {
	// Mirror replaces the template's package mirror: for Debian and
	// Ubuntu the archive URL given to debootstrap, for dnf templates the
	// URL under which the release's repositories live (see Templates'
	// descriptions). Empty: the host's apt configuration for a Debian or
	// Ubuntu host of the same distribution, else the project's mirror.
	Mirror string
	// Packages are installed in addition to the template's base set.
	Packages []string
	Log      *slog.Logger
	// Stdout and Stderr receive the tools' output; nil discards it.
	Stdout, Stderr io.Writer
}

// kind is how a template is built.
type kind int

const (
	kindBusybox kind = iota
	kindDebootstrap
	kindDNF
)

// recipe is a template's definition.
type recipe struct {
	name, desc string
	kind       kind
	deb        debRecipe
	dnf        dnfRecipe
}

// recipes lists the templates in the order Templates shows them.
func recipes() []recipe {
	return []recipe{
		{name: "busybox", kind: kindBusybox,
			desc: "static BusyBox with a minimal /etc and busybox init: a tiny node for tests; needs no network"},
		{name: "debian-bookworm", kind: kindDebootstrap, deb: debRecipe{distro: "debian", suite: "bookworm"},
			desc: "Debian 12 (bookworm) with systemd, ssh and a kernel, by debootstrap"},
		{name: "debian-trixie", kind: kindDebootstrap, deb: debRecipe{distro: "debian", suite: "trixie"},
			desc: "Debian 13 (trixie) with systemd, ssh and a kernel, by debootstrap"},
		{name: "ubuntu-noble", kind: kindDebootstrap, deb: debRecipe{distro: "ubuntu", suite: "noble"},
			desc: "Ubuntu 24.04 (noble) with systemd, ssh and a kernel, by debootstrap"},
		{name: "rocky-9", kind: kindDNF, dnf: rocky9(),
			desc: "Rocky Linux 9 (@core and a kernel), by dnf --installroot"},
		{name: "almalinux-9", kind: kindDNF, dnf: alma9(),
			desc: "AlmaLinux 9 (@core and a kernel), by dnf --installroot"},
		{name: "fedora-42", kind: kindDNF, dnf: fedora42(),
			desc: "Fedora 42 (@core and a kernel), by dnf --installroot"},
	}
}

// host is what templates need to know about the machine; tests fake it.
type host struct {
	root     string // prefix for host files (/etc/apt, keyrings): "/" normally
	lookPath func(string) (string, error)
	euid     int
	goarch   string
	// probe reports whether url answers; used for mirrors that may be
	// unknown or unreachable from here.
	probe func(ctx context.Context, url string) error
}

func realHost() host {
	return host{root: "/", lookPath: exec.LookPath, euid: os.Geteuid(), goarch: runtime.GOARCH, probe: probeURL}
}

// path maps an absolute host path into h.root.
func (h host) path(p string) string { return filepath.Join(h.root, p) }

func (h host) exists(p string) bool {
	_, err := os.Stat(h.path(p))
	return err == nil
}

// probeTimeout bounds a mirror probe, so listing templates stays quick
// on a host without network.
const probeTimeout = 5 * time.Second

func probeURL(ctx context.Context, url string) error {
	if p, ok := strings.CutPrefix(url, "file://"); ok {
		_, err := os.Stat(p)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	return nil
}

// Templates lists the templates and whether this host can use them. It
// may probe a mirror over the network (ubuntu-noble on a non-Ubuntu host),
// for at most a few seconds.
func Templates() []Template {
	return templates(context.Background(), realHost(), "")
}

func templates(ctx context.Context, h host, mirror string) []Template {
	var out []Template
	for _, r := range recipes() {
		out = append(out, r.check(ctx, h, mirror))
	}
	return out
}

// check tells whether h can build r, with mirror (empty: the default).
func (r recipe) check(ctx context.Context, h host, mirror string) Template {
	t := Template{Name: r.name, Description: r.desc}
	var missing []string
	switch r.kind {
	case kindBusybox:
		if _, err := findBusybox(h); err != nil {
			missing = append(missing, err.Error())
		}
	case kindDebootstrap:
		missing = r.deb.missing(ctx, h, mirror)
	case kindDNF:
		missing = r.dnf.missing(h)
	}
	t.Available = len(missing) == 0
	t.Missing = strings.Join(missing, "; ")
	return t
}

// needRoot is the Missing entry of templates whose tools must run as root.
func needRoot(h host, tool string) []string {
	if h.euid == 0 {
		return nil
	}
	return []string{"root (" + tool + " must run as root)"}
}

// Create makes the template's root filesystem in dest, an existing empty
// directory the caller provides and renames into place on success; on
// failure dest holds a partial tree for the caller to remove.
func Create(ctx context.Context, template, dest string, opts Options) error {
	if err := create(ctx, realHost(), template, dest, opts); err != nil {
		return fmt.Errorf("create image from template %s: %w", template, err)
	}
	return nil
}

func create(ctx context.Context, h host, template, dest string, opts Options) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	var r *recipe
	var names []string
	for _, c := range recipes() {
		names = append(names, c.name)
		if c.name == template {
			r = &c
		}
	}
	if r == nil {
		return fmt.Errorf("unknown template (have %s)", strings.Join(names, ", "))
	}
	if err := emptyDir(dest); err != nil {
		return err
	}
	if t := r.check(ctx, h, opts.Mirror); !t.Available {
		return fmt.Errorf("cannot be used on this host: needs %s", t.Missing)
	}
	switch r.kind {
	case kindBusybox:
		if opts.Mirror != "" || len(opts.Packages) > 0 {
			return errors.New("the busybox template takes no mirror and installs no packages")
		}
		return createBusybox(ctx, h, dest, opts)
	case kindDebootstrap:
		return r.deb.create(ctx, h, dest, opts)
	default:
		return r.dnf.create(ctx, h, dest, opts)
	}
}

// emptyDir checks that dest is an existing, empty directory.
func emptyDir(dest string) error {
	f, err := os.Open(dest)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return fmt.Errorf("destination: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("destination %s is not a directory", dest)
	}
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("destination %s is not empty", dest)
	}
	return nil
}

// runTool runs argv with its output streamed to opts, in a private mount
// namespace (Go makes it private recursively) and its own process group,
// which ctx's end kills whole.
func runTool(ctx context.Context, opts Options, argv []string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = opts.Stdout, opts.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Unshareflags: syscall.CLONE_NEWNS,
		Setpgid:      true,
		Pdeathsig:    syscall.SIGKILL,
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	opts.Log.Info("running", "argv", strings.Join(argv, " "))
	// Pdeathsig follows the forking thread: keep it alive until the end.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", filepath.Base(argv[0]), ctx.Err())
		}
		return fmt.Errorf("%s: %w", filepath.Base(argv[0]), err)
	}
	return nil
}

// resetIdentity removes what must differ between nodes booting one image:
// a machine-id (an empty file makes systemd generate one at boot) and the
// host name debootstrap copies from the build host.
func resetIdentity(dest string) error {
	mid := filepath.Join(dest, "etc", "machine-id")
	if _, err := os.Lstat(mid); err == nil {
		if err := os.WriteFile(mid, nil, 0o444); err != nil {
			return err
		}
	}
	if st, err := os.Lstat(filepath.Join(dest, "var", "lib", "dbus", "machine-id")); err == nil && st.Mode().IsRegular() {
		if err := os.Remove(filepath.Join(dest, "var", "lib", "dbus", "machine-id")); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dest, "etc", "hostname"), []byte("localhost\n"), 0o644)
}
