package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Child reports whether this process is the sandbox child started by Run.
// If it is not, Child returns false at once and has done nothing. If it
// is, Child never returns: it builds the sandbox's mounts, pivots into
// the image and execs the command, or exits with status 125 after telling
// Run why it could not. Call it first thing in main.
func Child() bool {
	if os.Getenv(childEnv) != "1" {
		return false
	}
	rep := os.NewFile(4, "sandbox-report")
	err := runChild(rep)
	writeReport(rep, report{Error: err.Error()})
	os.Exit(setupFailed)
	return true
}

// hostDevices are bound from the host's /dev into the sandbox's /dev.
func hostDevices() []string {
	return []string{"null", "zero", "full", "random", "urandom", "tty"}
}

// child is the sandbox child's state between its steps.
type child struct {
	cfg     childConfig
	rep     *os.File
	rootDev uint64
	// layered: the root is an overlay filesystem over the image.
	layered bool
}

// source is a host path held open (O_PATH) across pivot_root, so it can
// still be bind-mounted, as /proc/self/fd/N, once the host is out of view.
type source struct {
	fd  int
	dir bool
}

func (s source) path() string { return "/proc/self/fd/" + strconv.Itoa(s.fd) }

// runChild sets the sandbox up and execs the command; it returns only on
// failure.
func runChild(rep *os.File) error {
	unix.CloseOnExec(3)
	unix.CloseOnExec(4)
	cfgFile := os.NewFile(3, "sandbox-config")
	c := &child{rep: rep}
	if err := json.NewDecoder(cfgFile).Decode(&c.cfg); err != nil {
		return fmt.Errorf("read sandbox config: %w", err)
	}
	cfgFile.Close()
	if len(c.cfg.Argv) == 0 {
		return errors.New("no command")
	}

	// Nothing we mount may propagate back to the host's namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	binds := make([]source, len(c.cfg.Binds))
	for i, b := range c.cfg.Binds {
		s, err := openSource(b.Source)
		if err != nil {
			return fmt.Errorf("bind %s: %w", b.Source, err)
		}
		binds[i] = s
	}
	devs := map[string]source{}
	for _, name := range append(hostDevices(), "pts") {
		if s, err := openSource("/dev/" + name); err == nil {
			devs[name] = s
		}
	}
	detach, err := c.pivot()
	if err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat("/", &st); err != nil {
		return fmt.Errorf("stat image root: %w", err)
	}
	c.rootDev = st.Dev

	if err := c.mountSystem(devs); err != nil {
		return err
	}
	for i, b := range c.cfg.Binds {
		if err := c.bind(binds[i], b); err != nil {
			return err
		}
	}
	if err := detach(); err != nil {
		return err
	}
	if c.cfg.ReadOnly {
		if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("remount image read-only: %w", err)
		}
	}
	if err := unix.Sethostname([]byte(c.cfg.Hostname)); err != nil {
		return fmt.Errorf("set hostname %q: %w", c.cfg.Hostname, err)
	}
	path, err := lookPath(c.cfg.Argv[0], c.cfg.Env)
	if err != nil {
		return err
	}
	writeReport(rep, report{Ready: true})
	err = unix.Exec(path, c.cfg.Argv, c.cfg.Env)
	return fmt.Errorf("exec %s: %w", path, err)
}

// openSource opens a host path without opening the file itself (O_PATH:
// no device open, no read permission needed).
func openSource(p string) (source, error) {
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return source{}, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return source{}, err
	}
	return source{fd: fd, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR}, nil
}

// pivot makes the image root the process's root. pivot_root(".", ".")
// stacks the old root on the new one, so no put_old directory has to be
// made in the image; lookups from / start at the new root. The old root
// stays attached until detach, because bind mounts may only take their
// source (our O_PATH fds) from a mount still in the namespace.
func (c *child) pivot() (detach func() error, err error) {
	root := c.cfg.Root
	if len(c.cfg.Layers) > 0 {
		if err := c.mountLayers(); err != nil {
			return nil, err
		}
	} else if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return nil, fmt.Errorf("bind image root %s: %w", root, err)
	}
	oldRoot, err := unix.Open("/", unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open /: %w", err)
	}
	if err := unix.Chdir(root); err != nil {
		unix.Close(oldRoot)
		return nil, fmt.Errorf("enter image root %s: %w", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		unix.Close(oldRoot)
		// pivot_root refuses some roots (an initramfs host); chroot
		// still confines the command, with the host's mounts out of reach.
		if err := unix.Chroot("."); err != nil {
			return nil, fmt.Errorf("chroot %s: %w", root, err)
		}
		return func() error { return nil }, unix.Chdir("/")
	}
	return func() error {
		defer unix.Close(oldRoot)
		if err := unix.Fchdir(oldRoot); err != nil {
			return fmt.Errorf("detach host root: %w", err)
		}
		if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
			return fmt.Errorf("detach host root: %w", err)
		}
		if err := unix.Chdir("/"); err != nil {
			return fmt.Errorf("detach host root: %w", err)
		}
		return nil
	}, nil
}

// mountLayers mounts, on the image root, an overlay filesystem of the
// layers over the image whose upper (changed) layer is a tmpfs on the
// scratch directory: the image and the layers are only read.
func (c *child) mountLayers() error {
	scratch := c.cfg.Scratch
	if err := unix.Mount("tmpfs", scratch, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=700"); err != nil {
		return fmt.Errorf("mount tmpfs on %s: %w", scratch, err)
	}
	upper, work := filepath.Join(scratch, "upper"), filepath.Join(scratch, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return err
		}
	}
	// The upper layer's root takes the image root's mode and owner, as
	// the merged root shows the upper one's.
	var st unix.Stat_t
	if err := unix.Stat(c.cfg.Root, &st); err != nil {
		return fmt.Errorf("stat image root: %w", err)
	}
	if err := unix.Chmod(upper, st.Mode&0o7777); err != nil {
		return err
	}
	if err := unix.Chown(upper, int(st.Uid), int(st.Gid)); err != nil {
		return err
	}
	lower := strings.Join(append(append([]string(nil), c.cfg.Layers...), c.cfg.Root), ":")
	opts := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", c.cfg.Root, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount the node's overlays over the image (overlay %s): %w", opts, err)
	}
	// What the sandbox creates lives in the tmpfs: nothing to remove
	// from the image afterwards.
	c.layered = true
	return nil
}

// mountSystem mounts /proc, /sys, /dev and /run.
func (c *child) mountSystem(devs map[string]source) error {
	const nosuid = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	for _, m := range []struct {
		fstype, target, data string
		flags                uintptr
	}{
		{"proc", "/proc", "", nosuid},
		{"sysfs", "/sys", "", nosuid | unix.MS_RDONLY},
		{"tmpfs", "/dev", "mode=755,size=65536k", unix.MS_NOSUID | unix.MS_NOEXEC},
		{"tmpfs", "/run", "mode=755", unix.MS_NOSUID | unix.MS_NODEV},
	} {
		if err := c.mkdirAll(m.target); err != nil {
			return fmt.Errorf("mount point %s: %w", m.target, err)
		}
		if err := unix.Mount(m.fstype, m.target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err)
		}
	}
	for _, name := range append(hostDevices(), "pts") {
		s, ok := devs[name]
		if !ok {
			continue
		}
		if err := c.bind(s, Bind{Dest: "/dev/" + name}); err != nil {
			return err
		}
	}
	for name, target := range map[string]string{
		"ptmx": "pts/ptmx", "fd": "/proc/self/fd",
		"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2",
	} {
		if err := os.Symlink(target, "/dev/"+name); err != nil {
			return fmt.Errorf("/dev/%s: %w", name, err)
		}
	}
	if err := os.Mkdir("/dev/shm", 0o755); err != nil {
		return fmt.Errorf("/dev/shm: %w", err)
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=1777"); err != nil {
		return fmt.Errorf("mount tmpfs on /dev/shm: %w", err)
	}
	return nil
}

// bind mounts src on b.Dest, creating the mount point (a directory, or an
// empty file for a file source) when the image lacks it.
func (c *child) bind(src source, b Bind) error {
	dest := b.Dest
	if src.dir {
		if err := c.mkdirAll(dest); err != nil {
			return fmt.Errorf("bind mount point %s: %w", dest, err)
		}
	} else if err := c.touch(dest); err != nil {
		return fmt.Errorf("bind mount point %s: %w", dest, err)
	}
	if err := unix.Mount(src.path(), dest, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s on %s: %w", b.Source, dest, err)
	}
	if b.ReadOnly {
		if err := unix.Mount("", dest, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY, ""); err != nil {
			return fmt.Errorf("make bind %s read-only: %w", dest, err)
		}
	}
	return nil
}

// mkdirAll is os.MkdirAll reporting each directory it creates.
func (c *child) mkdirAll(p string) error {
	st, err := os.Stat(p)
	if err == nil {
		if st.IsDir() {
			return nil
		}
		return fmt.Errorf("%s exists and is not a directory", p)
	}
	if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := c.mkdirAll(filepath.Dir(p)); err != nil {
		return err
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		return err
	}
	c.created(p)
	return nil
}

// touch makes p an (empty) file unless something is there already.
func (c *child) touch(p string) error {
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	if err := c.mkdirAll(filepath.Dir(p)); err != nil {
		return err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	f.Close()
	c.created(p)
	return nil
}

// created tells Run about a path made in the image itself (not on one of
// the sandbox's tmpfs mounts), by its canonical path inside the image.
func (c *child) created(p string) {
	if c.layered {
		return
	}
	canon, err := filepath.EvalSymlinks(p)
	if err != nil {
		canon = p
	}
	var st unix.Stat_t
	if err := unix.Lstat(canon, &st); err != nil || st.Dev != c.rootDev {
		return
	}
	writeReport(c.rep, report{Created: canon})
}

func writeReport(w *os.File, r report) {
	b, _ := json.Marshal(r)
	_, _ = w.Write(append(b, '\n'))
}

// lookPath finds file in the PATH of env, as resolved inside the image.
func lookPath(file string, env []string) (string, error) {
	if strings.Contains(file, "/") {
		return file, executable(file)
	}
	path := DefaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in the image (PATH=%s)", file, path)
}

func executable(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s: not an executable file", p)
	}
	return nil
}
