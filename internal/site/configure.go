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
	"github.com/wwboot/wwboot/internal/overlay"
)

// Commander runs the server's programs for "wwctl configure": the DHCP
// servers' configuration checks and systemctl.
type Commander interface {
	// Run runs name with args (no shell) and returns its combined output.
	Run(ctx context.Context, name string, args ...string) ([]byte, error)
	// Systemd reports whether systemd manages the server's services, so
	// that systemctl can enable and start them.
	Systemd() bool
}

// ExecCommander runs programs with os/exec; systemd runs when
// /run/systemd/system exists (sd_booted(3)).
type ExecCommander struct{}

// Run runs name with args and returns its combined output.
func (ExecCommander) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, name, args...).CombinedOutput()
}

// Systemd reports whether the system was booted with systemd.
func (ExecCommander) Systemd() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// ConfigureOptions are the options every configure step takes.
type ConfigureOptions struct {
	// Show reports what would change, writing, checking against nothing
	// on disk and starting nothing.
	Show bool
}

// Change says what a configure step did, or would do, to one file.
type Change string

// The changes of a file.
const (
	Unchanged Change = "unchanged"
	Created   Change = "created"
	Updated   Change = "updated"
)

// FileChange is one file of the server a configure step writes.
type FileChange struct {
	Path   string
	Change Change
	// Diff is, with Show, a unified diff from the file on disk to the new
	// content (the whole content for a new file); "" when unchanged.
	Diff string
	// Backup is the .wwbackup this run made of the replaced file.
	Backup string
}

// ConfigureReport is what a configure step did or, with Show, would do.
type ConfigureReport struct {
	Files []FileChange
	// Notes are sentences for the administrator, in order.
	Notes []string
}

// Changed reports whether any file changed (or would).
func (r *ConfigureReport) Changed() bool {
	for _, f := range r.Files {
		if f.Change != Unchanged {
			return true
		}
	}
	return false
}

func (r *ConfigureReport) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// hostFile is a file of the host overlay rendered for the server, not
// yet written.
type hostFile struct {
	path  string // on the server
	entry *overlay.Entry
}

// renderHostFiles renders files of the host overlay for the server. A
// template that renders to nothing (abort) gives no file; a file the
// overlay lacks (a site's host overlay may not carry them all) is
// skipped, but at least one must be there.
func (s *Site) renderHostFiles(files ...string) ([]hostFile, error) {
	inv, err := s.nodes.Load()
	if err != nil {
		return nil, err
	}
	opts, err := s.RenderOptions()
	if err != nil {
		return nil, err
	}
	snap, err := overlay.NewSnapshot(s.cfg, inv, s.overlays, opts)
	if err != nil {
		return nil, err
	}
	ov, err := snap.Overlay("host")
	if err != nil {
		return nil, err
	}
	has := map[string]bool{}
	for _, f := range ov.Files {
		has[f.Path] = true
	}
	r, err := snap.Renderer("host")
	if err != nil {
		return nil, err
	}
	var out []hostFile
	found := false
	for _, f := range files {
		if !has[f] {
			continue
		}
		found = true
		entries, err := r.RenderFile(nil, "host", "host", f)
		if err != nil {
			return nil, fmt.Errorf("host overlay %s: %w", f, err)
		}
		for _, e := range entries {
			if e.Kind == overlay.KindDir {
				continue
			}
			p, err := s.hostPath(e.Path)
			if err != nil {
				return nil, err
			}
			out = append(out, hostFile{path: p, entry: e})
		}
	}
	if !found {
		return nil, fmt.Errorf("the host overlay has none of %s", strings.Join(files, ", "))
	}
	return out, nil
}

// installHostFiles writes files that differ from what the server has,
// each atomically, keeping the first file it replaces as PATH.wwbackup
// as Warewulf does (unless the template called nobackup, or a backup
// exists). An unchanged file is not touched. With show nothing is
// written and each change carries its diff.
func installHostFiles(files []hostFile, show bool) ([]FileChange, error) {
	var changes []FileChange
	for _, f := range files {
		c, err := installHostFile(f, show)
		if err != nil {
			return changes, err
		}
		changes = append(changes, c)
	}
	return changes, nil
}

func installHostFile(f hostFile, show bool) (FileChange, error) {
	c := FileChange{Path: f.path, Change: Updated}
	e := f.entry
	old, err := os.Lstat(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.Change = Created
	case err != nil:
		return c, err
	}
	var oldData []byte
	if c.Change == Updated {
		oldData, err = currentContent(f.path, old)
		if err != nil {
			return c, err
		}
		if bytes.Equal(oldData, wantContent(e)) && (e.Kind == overlay.KindSymlink) == (old.Mode()&fs.ModeSymlink != 0) {
			c.Change = Unchanged
			return c, nil
		}
	}
	if show {
		c.Diff = unifiedDiff(f.path, oldData, wantContent(e))
		return c, nil
	}
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return c, err
	}
	if c.Change == Updated && !e.NoBackup {
		backup := f.path + ".wwbackup"
		if _, err := os.Lstat(backup); errors.Is(err, fs.ErrNotExist) {
			if err := copyForBackup(f.path, backup, old); err != nil {
				return c, fmt.Errorf("back up %s: %w", f.path, err)
			}
			c.Backup = backup
		}
	}
	if e.Kind == overlay.KindSymlink {
		// A new link beside the old path, renamed over it: atomic too.
		tmp := f.path + ".wwnew"
		_ = os.Remove(tmp)
		if err := os.Symlink(e.Target, tmp); err != nil {
			return c, err
		}
		if err := os.Rename(tmp, f.path); err != nil {
			_ = os.Remove(tmp)
			return c, err
		}
		return c, nil
	}
	if err := atomicfile.WriteFile(f.path, e.Data, e.Mode.Perm()); err != nil {
		return c, err
	}
	return c, nil
}

// wantContent is what the entry's path should hold: its data, or for a
// symlink its target.
func wantContent(e *overlay.Entry) []byte {
	if e.Kind == overlay.KindSymlink {
		return []byte(e.Target)
	}
	return e.Data
}

func currentContent(p string, st fs.FileInfo) ([]byte, error) {
	if st.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		return []byte(t), err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	return os.ReadFile(p)
}

// copyForBackup keeps the file (or link) at p as backup.
func copyForBackup(p, backup string, st fs.FileInfo) error {
	if st.Mode()&fs.ModeSymlink != 0 {
		t, err := os.Readlink(p)
		if err != nil {
			return err
		}
		return os.Symlink(t, backup)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(backup, data, st.Mode().Perm())
}

// systemdStart enables unit and starts it, or restarts it when its
// configuration changed, with systemctl; without systemd it says what to
// run instead. With show it says what it would run.
func (s *Site) systemdStart(ctx context.Context, r *ConfigureReport, unit string, restart, show bool) error {
	steps := [][]string{{"enable", "--now", unit}}
	if restart {
		steps = [][]string{{"enable", unit}, {"restart", unit}}
	}
	cmdline := func(args []string) string {
		line := "systemctl"
		for _, a := range args {
			line += " " + a
		}
		return line
	}
	if show {
		for _, st := range steps {
			r.note("Would run: %s", cmdline(st))
		}
		return nil
	}
	if !s.cmds.Systemd() {
		for _, st := range steps {
			r.note("systemd is not running here: run %s where it runs", cmdline(st))
		}
		return nil
	}
	for _, st := range steps {
		out, err := s.cmds.Run(ctx, "systemctl", st...)
		if err != nil {
			return fmt.Errorf("%s: %w: %s", cmdline(st), err, bytes.TrimSpace(out))
		}
		r.note("Ran %s", cmdline(st))
	}
	return nil
}
