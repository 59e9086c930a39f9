package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// NFSOptions are how ConfigureNFS runs. The zero value does what
// "wwctl configure nfs" does on a server.
type NFSOptions struct {
	// Show renders the exports and changes nothing: no file, no
	// exportfs, no service.
	Show bool
	// Exportfs and Systemctl are the programs run; "" looks them up in
	// PATH, then in /usr/sbin and /sbin (root's PATH from sudo or a
	// unit may lack them).
	Exportfs, Systemctl string
	// SystemdDir exists when systemd runs the machine; "" is
	// /run/systemd/system, the test sd_booted(3) makes.
	SystemdDir string
}

// NFSPlan is what ConfigureNFS found or did.
type NFSPlan struct {
	// Enabled is nfs.enabled; with it false nothing else is set.
	Enabled bool
	// NoExports says nfs.export paths is empty: nothing was written or
	// run.
	NoExports bool
	// HostOverlay is warewulf.host overlay: false leaves the exports
	// file to the administrator.
	HostOverlay bool
	// Exports is the server's exports file, Content what the host
	// overlay renders for it.
	Exports string
	Content []byte
	// Changed says Content differs from the file (for Show: would
	// differ); Backup is the .wwbackup kept of the file it replaced,
	// "" when none was made.
	Changed bool
	Backup  string
	// Loaded says exportfs -ra ran. It runs only when Exports is
	// /etc/exports, the file exportfs and the NFS server read: a site
	// whose paths.hostroot is elsewhere gets a Hint instead.
	Loaded bool
	// Service is nfs.systemd name. Started says systemctl enabled and
	// started it; without systemd, Hint says what to run instead.
	Service string
	Started bool
	Hint    string
}

// systemExports is the exports file of nfs-utils' exportfs and NFS
// server, whatever paths.hostroot says.
const systemExports = "/etc/exports"

// exportsTemplate is the host overlay's template of the server's exports.
const exportsTemplate = "etc/exports.ww"

// ConfigureNFS does what Warewulf's "configure nfs" does: it renders the
// server's exports (<hostroot>/etc/exports) from the host overlay's
// exports template and nfs.export paths, installs it atomically when it
// differs, keeping the file it replaces as <file>.wwbackup as Warewulf
// does (once: an existing backup, the administrator's own file, is never
// overwritten), runs "exportfs -ra", then enables and starts nfs.systemd
// name when systemd runs (exportfs and the service only when the file is
// /etc/exports, the one they read). Bad input (an export path or options that
// would not make one exports line, an export to no network) is refused
// before anything is written; when exportfs is missing or fails, the
// previous file is put back and exportfs's own message returned. Running
// it again changes nothing.
func (s *Site) ConfigureNFS(ctx context.Context, o NFSOptions) (*NFSPlan, error) {
	n := s.cfg.Nfs
	plan := &NFSPlan{Enabled: n.Enabled, HostOverlay: s.cfg.Warewulf.HostOverlay, Service: n.SystemdName,
		Exports: s.HostExports()}
	if !n.Enabled {
		return plan, nil
	}
	if plan.Service == "" {
		plan.Service = "nfs-server"
	}
	if err := s.checkExports(); err != nil {
		return nil, err
	}
	if len(n.ExportPaths) == 0 {
		// Nothing to export: no exports file, and no NFS server needed
		// (Warewulf would start one anyway, and fail where none is
		// installed).
		plan.NoExports = true
		return plan, nil
	}
	var old []byte
	if plan.HostOverlay {
		content, err := s.renderExports()
		if err != nil {
			return nil, err
		}
		plan.Content = content
		old, err = os.ReadFile(plan.Exports)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			old = nil
			plan.Changed = true
		case err != nil:
			return nil, err
		default:
			plan.Changed = !bytes.Equal(old, content)
		}
	}
	if o.Show {
		return plan, nil
	}
	if plan.Changed {
		if err := s.installExports(plan, old); err != nil {
			return nil, err
		}
	}
	if plan.Exports != systemExports {
		plan.Hint = fmt.Sprintf("exportfs and the NFS server read %s, not %s (paths.hostroot is %s): exportfs -ra was not run", systemExports, plan.Exports, s.HostRoot())
		return plan, nil
	}
	if err := exportAll(ctx, o.Exportfs); err != nil {
		if plan.Changed {
			err = s.restoreExports(ctx, o.Exportfs, plan, old, err)
		}
		return nil, err
	}
	plan.Loaded = true
	sysd := o.SystemdDir
	if sysd == "" {
		sysd = "/run/systemd/system"
	}
	if _, err := os.Stat(sysd); err != nil {
		plan.Hint = fmt.Sprintf("systemd is not running here: start the NFS server yourself (with systemd: systemctl enable --now %s; without it: rpc.nfsd, then exportfs -ra)", plan.Service)
		return plan, nil
	}
	if err := run(ctx, o.Systemctl, "systemctl", "enable", "--now", plan.Service); err != nil {
		return nil, err
	}
	plan.Started = true
	return plan, nil
}

// checkExports refuses nfs.export paths that cannot make one line of
// exports each: a path or options holding white space, control
// characters, quotes or parentheses would split or end the line, and
// the host overlay exports to the cluster network, which must be known.
func (s *Site) checkExports() error {
	var errs []error
	for i, e := range s.cfg.Nfs.ExportPaths {
		key := fmt.Sprintf("warewulf.conf: nfs.export paths[%d]", i)
		if !filepath.IsAbs(e.Path) {
			errs = append(errs, fmt.Errorf("%s.path %q is not an absolute path", key, e.Path))
		} else if c, ok := badExportChar(e.Path, `"\`); ok {
			errs = append(errs, fmt.Errorf("%s.path %q holds %q: exports takes a path without white space, control characters, quotes or backslashes", key, e.Path, c))
		}
		opts := e.ExportOptions
		if c, ok := badExportChar(opts, `"\()#`); ok {
			errs = append(errs, fmt.Errorf("%s.export options %q holds %q: options are comma separated words such as rw,sync,no_subtree_check", key, opts, c))
			continue
		}
		for _, w := range strings.Split(opts, ",") {
			if w == "" {
				errs = append(errs, fmt.Errorf("%s.export options %q has an empty option", key, opts))
				break
			}
		}
	}
	c := s.cfg
	if len(c.Nfs.ExportPaths) > 0 && (c.Netmask == "" || (c.Network == "" && c.Ipaddr == "")) {
		errs = append(errs, errors.New("warewulf.conf: ipaddr and netmask (or network and netmask) are needed: nfs.export paths are exported to the cluster network"))
	}
	return errors.Join(errs...)
}

// badExportChar returns the first rune of s that exports cannot hold
// unquoted: white space, a control character, or one of extra.
func badExportChar(s, extra string) (rune, bool) {
	for _, r := range s {
		if r <= ' ' || r == 0x7f || strings.ContainsRune(extra, r) {
			return r, true
		}
	}
	return 0, false
}

// renderExports renders the host overlay's exports for the server and
// checks that every export names its clients: a client list that renders
// empty ("/home (rw)") would export to the world.
func (s *Site) renderExports() ([]byte, error) {
	snap, err := s.Snapshot()
	if err != nil {
		return nil, err
	}
	r, err := snap.Renderer("host")
	if err != nil {
		return nil, err
	}
	entries, err := r.RenderFile(nil, "host", "host", exportsTemplate)
	if err != nil {
		return nil, fmt.Errorf("host overlay %s: %w", exportsTemplate, err)
	}
	var content []byte
	for _, e := range entries {
		if e.Path == "etc/exports" {
			content = e.Data
		}
	}
	for i, line := range strings.Split(string(content), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		if len(f) == 1 {
			return nil, fmt.Errorf("host overlay %s: line %d %q exports %s to no client", exportsTemplate, i+1, line, f[0])
		}
		for _, client := range f[1:] {
			if strings.HasPrefix(client, "(") || strings.HasPrefix(client, "/") {
				return nil, fmt.Errorf("host overlay %s: line %d %q: client %q names no host or network (it would export %s to the world)", exportsTemplate, i+1, line, client, f[0])
			}
		}
	}
	return content, nil
}

// installExports writes plan.Content over the exports file, keeping the
// file it replaces (old, nil for none) as .wwbackup unless one exists.
func (s *Site) installExports(plan *NFSPlan, old []byte) error {
	if err := os.MkdirAll(filepath.Dir(plan.Exports), 0o755); err != nil {
		return err
	}
	if old != nil {
		backup := plan.Exports + ".wwbackup"
		if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
			if err := atomicfile.WriteFile(backup, old, 0o644); err != nil {
				return fmt.Errorf("keep %s: %w", plan.Exports, err)
			}
			plan.Backup = backup
		} else if err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(plan.Exports, plan.Content, 0o644)
}

// restoreExports puts the previous exports file back after exportfs
// refused the new one (cause), and has exportfs read it again so the
// kernel's table is what it was.
func (s *Site) restoreExports(ctx context.Context, exportfs string, plan *NFSPlan, old []byte, cause error) error {
	var err error
	if old == nil {
		err = os.Remove(plan.Exports)
	} else {
		err = atomicfile.WriteFile(plan.Exports, old, 0o644)
	}
	if err == nil && plan.Backup != "" {
		err = os.Remove(plan.Backup)
	}
	if err != nil {
		return fmt.Errorf("%w; putting the previous %s back failed: %w", cause, plan.Exports, err)
	}
	if !errors.Is(cause, exec.ErrNotFound) && !errors.Is(cause, fs.ErrNotExist) {
		_ = exportAll(ctx, exportfs) // the previous table, as before
	}
	return fmt.Errorf("%w (%s is as it was)", cause, plan.Exports)
}

// exportAll has exportfs re-read the exports file into the kernel's table.
func exportAll(ctx context.Context, exportfs string) error {
	err := run(ctx, exportfs, "exportfs", "-ra")
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w (install the NFS server: nfs-kernel-server on Debian, nfs-utils on EL and SUSE)", err)
	}
	return err
}

// run executes program (path, or name looked up) with args, without a
// shell, and returns an error holding its own output when it fails.
func run(ctx context.Context, path, name string, args ...string) error {
	if path == "" {
		path = lookSbin(name)
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		line := name + " " + strings.Join(args, " ")
		if msg := strings.TrimSpace(string(out)); msg != "" {
			return fmt.Errorf("%s: %w: %s", line, err, msg)
		}
		return fmt.Errorf("%s: %w", line, err)
	}
	return nil
}

// lookSbin finds name in PATH, then in the sbin directories; it returns
// name itself when none holds it, so that running it says so.
func lookSbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return name
}
