// Package stage1 is the first stage of two-stage boot: the program the
// bootstrap initramfs runs as /init. It loads the bootstrap's kernel
// modules, brings up the boot interface, streams the image and the
// node's overlays from the daemon into a new root (checking each against
// the daemon's sha256, resuming cut transfers) and switches to it,
// running the image's /init (wwinit) there.
//
// Everything that changes the machine (mounts, modules, the network,
// switch_root, reboot) goes through the System and Network interfaces,
// so that tests run the whole sequence in a temporary directory.
package stage1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/nodeclient"
)

// System is what stage one does to the machine.
type System interface {
	// MountKernelFS mounts /proc, /sys and /dev.
	MountKernelFS() error
	// LoadModule loads the kernel module at path and then drops the file
	// (each is loaded once; its RAM is the image's); one already loaded is
	// no error.
	LoadModule(path string) error
	// MountRoot mounts the new root at dir: a tmpfs (size option size,
	// "" for the kernel's default) or ramfs, or the block device root.
	MountRoot(root, size, dir string) error
	// UnmountRoot undoes MountRoot, discarding a failed attempt.
	UnmountRoot(dir string) error
	// SwitchRoot makes dir the root and executes init in it with env;
	// it returns only on failure.
	SwitchRoot(dir, init string, env []string) error
	// Reboot restarts the machine.
	Reboot() error
	// Mount mounts the block device dev, of file system type fstype, at
	// dir (a file system of the node's below its new root).
	Mount(dev, fstype, dir string) error
	// DiskLinks makes the /dev/disk/by-label, by-uuid, by-partlabel and
	// by-partuuid links of the block devices, as udev would (the
	// bootstrap has no udev).
	DiskLinks() error
}

// Network configures the boot interface.
type Network interface {
	// Configure brings up the interface with hardware address hw and
	// gives it the static address, or one from DHCP when static is nil.
	// It returns a description for the console ("eth0 10.0.0.5/24").
	Configure(ctx context.Context, hw net.HardwareAddr, static *StaticIP) (string, error)
}

// Stage is one run of stage one.
type Stage struct {
	Sys System
	Net Network
	// Client talks to the daemon.
	Client *http.Client
	// Console is where progress and failures are written.
	Console io.Writer
	// NewRoot is where the new root is mounted ("/newroot").
	NewRoot string
	// Modules is the file listing the modules to load, in order.
	Modules string
	// Owners sets file owners when extracting (root only).
	Owners bool
	// Backoff is the wait before attempt n (from 2) of the whole boot
	// and resume n of a download.
	Backoff func(n int) time.Duration
	// Resumes is how many times one download is resumed.
	Resumes int
	// Now is the clock.
	Now func() time.Time
	// PreRoot, when set, is where the system overlay is unpacked before
	// the root is prepared, for its wwinit.d scripts (the sfdisk, mkfs
	// and mkswap overlays' disk set-up) and its warewulf/mounts, as
	// Warewulf's dracut module does; the same bytes then go into the new
	// root. Empty: the system overlay is fetched into the new root only.
	PreRoot string
	// Shell runs the scripts (the bootstrap's sh); ScriptEnv is their
	// environment, to which PREFIX=PreRoot is added.
	Shell     string
	ScriptEnv []string
}

func (s *Stage) say(format string, args ...any) {
	fmt.Fprintf(s.Console, "wwstage1: "+format+"\n", args...)
}

// artifact is one thing fetched into the new root.
type artifact struct {
	stage    string // path prefix on the daemon, and the console's name
	required bool
	// etagSHA256: the daemon's ETag is the body's sha256 (images).
	etagSHA256 bool
}

// artifacts are fetched in this order, later ones over earlier ones.
func artifacts() []artifact {
	return []artifact{
		{stage: contract.RouteImage, required: true, etagSHA256: true},
		{stage: contract.RouteSystem, required: true},
		// Over TLS the daemon refuses the runtime overlay on plain HTTP:
		// wwclient fetches it later, as in single-stage boot.
		{stage: contract.RouteRuntime, required: false},
	}
}

// Run boots: it returns only when the switch to the new root failed or
// every attempt failed and the reboot did not happen.
func (s *Stage) Run(ctx context.Context, p *Params) error {
	start := s.Now()
	s.say("stage one of two-stage boot: node %s, server %s, root %s", p.HWAddr, p.Server, p.Root)
	if err := s.Sys.MountKernelFS(); err != nil {
		s.say("step \"kernel file systems\" failed: %v", err)
	}
	s.loadModules()
	network := ""
	var last error
	for attempt := 1; attempt <= p.Attempts; attempt++ {
		if attempt > 1 {
			wait := s.Backoff(attempt)
			s.say("retrying in %s (attempt %d of %d)", wait, attempt, p.Attempts)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		}
		if network == "" {
			nctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			desc, err := s.Net.Configure(nctx, p.HWAddr, p.Static)
			cancel()
			if err != nil {
				last = fmt.Errorf("step \"network\" failed: %w", err)
				s.say("%v", last)
				continue
			}
			network = desc
			s.say("network: %s (%.1f s)", desc, s.Now().Sub(start).Seconds())
		}
		ranScripts, err := s.fill(ctx, p)
		if err != nil {
			last = err
			s.say("%v", err)
			if uerr := s.Sys.UnmountRoot(s.NewRoot); uerr != nil {
				s.say("discarding the new root: %v", uerr)
			}
			if errors.Is(err, errNetwork) {
				network = "" // configure again: the lease may be gone
			}
			continue
		}
		s.say("switching root to %s and running /init, %.1f s after stage one started", p.Root, s.Now().Sub(start).Seconds())
		env := []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "WWSTAGE1=1", "TERM=linux", "HOME=/"}
		if ranScripts {
			// wwinit's /init then does not run them again.
			env = append(env, "WWSTAGE1_WWINITD=done")
		}
		err = s.Sys.SwitchRoot(s.NewRoot, "/init", env)
		return fmt.Errorf("step \"switch root\" failed: %w", err)
	}
	s.say("ERROR: giving up after %d attempts (last: %v); rebooting", p.Attempts, last)
	if err := s.Sys.Reboot(); err != nil {
		return fmt.Errorf("reboot: %w (after: %v)", err, last)
	}
	return last
}

// errNetwork marks a failure to reach the daemon at all.
var errNetwork = errors.New("the server cannot be reached")

// fill mounts the new root and extracts the artifacts into it. With
// PreRoot set, the system overlay comes first, into PreRoot, its
// wwinit.d scripts run (ranScripts says whether they did), and the file
// systems its warewulf/mounts lists are mounted below the new root
// before the image is unpacked.
func (s *Stage) fill(ctx context.Context, p *Params) (ranScripts bool, err error) {
	f := &nodeclient.Fetcher{Client: s.Client, Resumes: s.Resumes, Backoff: s.Backoff, Say: s.say}
	x := &Extractor{Owners: s.Owners}
	var system *os.File // the system overlay as fetched, when it came first
	if s.PreRoot != "" {
		if system, ranScripts, err = s.beforeRoot(ctx, f, x, p); err != nil {
			return false, err
		}
		defer func() {
			system.Close()
			os.Remove(system.Name())
		}()
	}
	if err := s.Sys.MountRoot(p.Root, rootSize(p), s.NewRoot); err != nil {
		return false, fmt.Errorf("step \"mount root\" failed: %w", err)
	}
	if s.PreRoot != "" {
		s.mountMore()
	}
	for _, a := range artifacts() {
		if a.stage == contract.RouteSystem && system != nil {
			if err := s.unpackSaved(system, x, a); err != nil {
				return false, err
			}
			// What the scripts left for the booted node (ignition's
			// mark that it ran), as Warewulf's dracut module keeps it.
			if err := copyTree(filepath.Join(s.PreRoot, "warewulf", "run"), filepath.Join(s.NewRoot, "warewulf", "run")); err != nil {
				s.say("WARNING: keeping the wwinit.d scripts' /warewulf/run: %v", err)
			}
			continue
		}
		t0 := s.Now()
		url := contract.ArtifactURL(p.Server, a.stage, p.HWAddr.String(), p.query())
		st, d, err := s.fetch(ctx, f, x, url, a, s.NewRoot, nil)
		if err != nil {
			if !a.required {
				s.say("%s not loaded (%v): wwclient will fetch it", a.stage, err)
				continue
			}
			return false, stepError(a, err)
		}
		s.sayFetched(a, st, d, s.Now().Sub(t0), "")
	}
	return ranScripts, nil
}

// stepError is the error of a required artifact that failed, marked
// errNetwork when the daemon could not be reached.
func stepError(a artifact, err error) error {
	err = fmt.Errorf("step %q failed: %w", a.stage, err)
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, errNetwork) {
		err = fmt.Errorf("%w (%w)", err, errNetwork)
	}
	return err
}

func (s *Stage) sayFetched(a artifact, st Stats, d *nodeclient.Download, took time.Duration, where string) {
	check := "length and compression checksums"
	if d.SHA256() != "" {
		check = "sha256 " + d.SHA256()[:12] + "... ok"
	}
	s.say("%s: %d files, %.1f MiB unpacked%s from %.1f MiB in %.1f s: network %.1f s, sha256 %.1f s, unpacking %.1f s (%s%s)", a.stage,
		st.Entries, float64(st.Bytes)/(1<<20), where, float64(d.Offset())/(1<<20), took.Seconds(),
		d.Net.Seconds(), d.Hash.Seconds(), max(took-d.Net-d.Hash, 0).Seconds(), check, resumedNote(d.Resumed))
}

// beforeRoot fetches the system overlay into PreRoot, keeping its bytes
// in a file beside it (returned, for the new root), and runs its
// wwinit.d scripts (ranScripts: they ran).
func (s *Stage) beforeRoot(ctx context.Context, f *nodeclient.Fetcher, x *Extractor, p *Params) (saved *os.File, ranScripts bool, err error) {
	a := artifact{stage: contract.RouteSystem, required: true}
	err = os.RemoveAll(s.PreRoot)
	if err == nil {
		err = os.MkdirAll(s.PreRoot, 0o755)
	}
	if err == nil {
		saved, err = os.Create(s.PreRoot + ".img")
	}
	if err != nil {
		return nil, false, stepError(a, err)
	}
	t0 := s.Now()
	url := contract.ArtifactURL(p.Server, a.stage, p.HWAddr.String(), p.query())
	st, d, err := s.fetch(ctx, f, x, url, a, s.PreRoot, saved)
	if err != nil {
		saved.Close()
		os.Remove(saved.Name())
		return nil, false, stepError(a, err)
	}
	s.sayFetched(a, st, d, s.Now().Sub(t0), " into "+s.PreRoot)
	return saved, s.runWwinitD(ctx), nil
}

// unpackSaved unpacks the system overlay fetched by beforeRoot into the
// new root.
func (s *Stage) unpackSaved(saved *os.File, x *Extractor, a artifact) error {
	t0 := s.Now()
	if _, err := saved.Seek(0, io.SeekStart); err != nil {
		return stepError(a, err)
	}
	st, err := x.Extract(saved, s.NewRoot)
	if err != nil {
		return stepError(a, err)
	}
	s.say("%s: %d files, %.1f MiB unpacked into the new root in %.1f s (fetched before)", a.stage,
		st.Entries, float64(st.Bytes)/(1<<20), s.Now().Sub(t0).Seconds())
	return nil
}

// runWwinitD runs the system overlay's /warewulf/run-wwinit.d with
// PREFIX=PreRoot, which runs the scripts of its wwinit.d, and reports
// whether it ran them. A failure is reported and the boot goes on, as
// wwinit does: a root they should have made then fails to mount, with
// the error on the console.
func (s *Stage) runWwinitD(ctx context.Context) bool {
	runner := filepath.Join(s.PreRoot, "warewulf", "run-wwinit.d")
	scripts, _ := os.ReadDir(filepath.Join(s.PreRoot, "warewulf", "wwinit.d"))
	if _, err := os.Stat(runner); err != nil || len(scripts) == 0 {
		return false
	}
	if _, err := os.Stat(s.Shell); err != nil {
		s.say("WARNING: the bootstrap has no shell (%s) to run the system overlay's wwinit.d scripts: "+
			"no disks are set up before the root (make the bootstrap again: wwctl image bootstrap)", s.Shell)
		return false
	}
	if err := s.Sys.DiskLinks(); err != nil {
		s.say("/dev/disk links: %v", err)
	}
	t0 := s.Now()
	s.say("running the system overlay's wwinit.d scripts (%d) before preparing the root", len(scripts))
	cmd := exec.CommandContext(ctx, s.Shell, runner)
	cmd.Env = append(slices.Clone(s.ScriptEnv), "PREFIX="+s.PreRoot)
	cmd.Stdout, cmd.Stderr = s.Console, s.Console
	if err := cmd.Run(); err != nil {
		s.say("WARNING: wwinit.d: %v; continuing", err)
	}
	// The partitions and file systems they made, for the root and for
	// warewulf/mounts.
	if err := s.Sys.DiskLinks(); err != nil {
		s.say("/dev/disk links: %v", err)
	}
	s.say("wwinit.d scripts done in %.1f s", s.Now().Sub(t0).Seconds())
	return true
}

// mountMore mounts, below the new root, the file systems the system
// overlay's warewulf/mounts lists ("DEVICE TYPE PATH" lines, the wwinit
// overlay's mounts.ww), parents first, as Warewulf's dracut module does:
// the image's files under such a path then land on that file system. A
// mount that fails is reported and left out.
func (s *Stage) mountMore() {
	data, err := os.ReadFile(filepath.Join(s.PreRoot, "warewulf", "mounts"))
	if err != nil {
		return
	}
	type mount struct{ dev, fstype, path string }
	var ms []mount
	for line := range strings.SplitSeq(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 3 || !strings.HasPrefix(fields[2], "/") || slices.Contains(strings.Split(fields[2], "/"), "..") {
			s.say("warewulf/mounts: %q is not \"DEVICE TYPE /PATH\": left out", line)
			continue
		}
		ms = append(ms, mount{fields[0], fields[1], path.Clean(fields[2])})
	}
	slices.SortStableFunc(ms, func(a, b mount) int { return strings.Compare(a.path, b.path) })
	for _, m := range ms {
		dir := filepath.Join(s.NewRoot, m.path)
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = s.Sys.Mount(m.dev, m.fstype, dir)
		}
		if err != nil {
			s.say("WARNING: mounting %s (%s) at %s: %v; left out", m.dev, m.fstype, m.path, err)
			continue
		}
		s.say("mounted %s (%s) at %s", m.dev, m.fstype, m.path)
	}
}

// rootSize is the new root's tmpfs size option. An "initramfs" root is
// the kernel's rootfs in single-stage boot, which has no size limit: a
// tmpfs's default of half the memory would refuse images that boot
// single-stage, so it gets size=0 (no limit) unless wwinit.tmpfs.size
// says otherwise. A "tmpfs" root keeps the default, as wwinit's does.
func rootSize(p *Params) string {
	if p.TmpfsSize == "" && p.Root == "initramfs" {
		return "0"
	}
	return p.TmpfsSize
}

func resumedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", resumed %d times", n)
}

// fetch unpacks the artifact at url into dir, copying the bytes to save
// when it is set.
func (s *Stage) fetch(ctx context.Context, f *nodeclient.Fetcher, x *Extractor, url string, a artifact, dir string, save io.Writer) (Stats, *nodeclient.Download, error) {
	d, err := f.Open(ctx, url, a.etagSHA256)
	if err != nil {
		return Stats{}, nil, err
	}
	defer d.Close()
	var r io.Reader = d
	if save != nil {
		r = io.TeeReader(d, save)
	}
	st, err := x.Extract(r, dir)
	if err != nil {
		// Corrupt bytes usually show first as broken compression: read
		// the rest so that the sha256 can say whether the artifact is at
		// fault rather than, say, a full root.
		if d.SHA256() != "" {
			if _, cerr := io.Copy(io.Discard, d); errors.Is(cerr, nodeclient.ErrChecksum) {
				return st, d, fmt.Errorf("%w (unpacking had failed with: %v)", cerr, err)
			}
		}
		return st, d, err
	}
	// The archive may end before the body does (padding): read to the
	// end, which checks the sha256.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return st, d, err
	}
	return st, d, nil
}

// loadModules loads the bootstrap's modules in the listed order. A
// module that fails is reported and skipped: the others may be enough.
func (s *Stage) loadModules() {
	f, err := os.Open(s.Modules)
	if err != nil {
		s.say("no module list (%v): using the kernel's built-in drivers", err)
		return
	}
	defer f.Close()
	t0 := s.Now()
	n, failed, absent := 0, 0, 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		n++
		switch err := s.Sys.LoadModule(p); {
		case err == nil:
		case errors.Is(err, syscall.ENODEV):
			// A driver for hardware this machine lacks (the
			// bootstrap has drivers for many): not worth a line.
			absent++
		default:
			failed++
			s.say("module %s: %v", p, err)
		}
	}
	note := ""
	if absent > 0 {
		note = fmt.Sprintf(", %d found no device", absent)
	}
	s.say("loaded %d of %d modules in %.1f s%s", n-failed-absent, n, s.Now().Sub(t0).Seconds(), note)
}

// Backoff doubles from 1 s to at most 30 s.
func Backoff(n int) time.Duration {
	d := time.Second << min(n-1, 5)
	return min(d, 30*time.Second)
}

// copyTree copies the directories, regular files and symbolic links
// under src to dst, with their modes, replacing what is there; a src
// that does not exist copies nothing.
func copyTree(src, dst string) error {
	if _, err := os.Lstat(src); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(to, 0o755); err != nil {
				return err
			}
			return os.Chmod(to, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(to)
			return os.Symlink(target, to)
		case info.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			_ = os.Remove(to)
			return os.WriteFile(to, data, info.Mode().Perm())
		}
		return nil // devices, pipes: nothing a script leaves for later
	})
}
