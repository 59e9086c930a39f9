package main

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/overlays"
)

//go:embed files
var shipped embed.FS

// Kind is what an entry of the installed tree is.
type Kind int

const (
	Dir Kind = iota
	File
	Symlink
)

// Entry is one path of the installed tree.
type Entry struct {
	Path     string // absolute, as installed (without DESTDIR)
	Kind     Kind
	Mode     fs.FileMode // permission bits
	UID, GID int
	Data     []byte // a file's content
	Target   string // a symlink's target
	// Config marks a file the administrator edits: "make install" keeps
	// an existing one and the packages never overwrite an edited one.
	Config bool
}

// TreeOptions say what to install and where.
type TreeOptions struct {
	// Src is the source tree (the repository root); Bin holds what
	// "make build" wrote (wwctl, wwclient, wwclient.<arch>, wwstage1,
	// wwstage1.<arch>).
	Src, Bin string
	// Prefix is where programs and data go (/usr); Sysconfdir (/etc)
	// and Localstatedir (/var/lib) do not follow it, as in Warewulf.
	Prefix, Sysconfdir, Localstatedir string
	// Ipxesource is where the distribution's iPXE binaries are (Debian
	// /usr/lib/ipxe, Enterprise Linux /usr/share/ipxe).
	Ipxesource string
	// Epoch dates the man pages.
	Epoch time.Time
}

// Tree lists every entry of the installation, sorted by path.
func Tree(ctx context.Context, o TreeOptions) ([]Entry, error) {
	var out []Entry
	add := func(e Entry) { out = append(out, e) }
	bindir := path.Join(o.Prefix, "bin")
	libdir := path.Join(o.Prefix, "lib", "wwboot")
	datadir := path.Join(o.Prefix, "share")
	confdir := path.Join(o.Sysconfdir, "warewulf")
	state := path.Join(o.Localstatedir, "warewulf")

	// Programs: the daemon is wwctl called warewulfd; the node programs
	// are where wwctl looks first beside itself (<bindir>/../lib/wwboot).
	for _, p := range []struct{ src, dst string }{
		{"wwctl", path.Join(bindir, "wwctl")},
		{"wwclient", path.Join(libdir, "wwclient")},
		{"wwclient.x86_64", path.Join(libdir, "wwclient.x86_64")},
		{"wwclient.aarch64", path.Join(libdir, "wwclient.aarch64")},
		{"wwstage1", path.Join(libdir, "wwstage1")},
		{"wwstage1.x86_64", path.Join(libdir, "wwstage1.x86_64")},
		{"wwstage1.aarch64", path.Join(libdir, "wwstage1.aarch64")},
	} {
		data, err := os.ReadFile(filepath.Join(o.Bin, p.src))
		if err != nil {
			return nil, fmt.Errorf("%w (run make build first)", err)
		}
		add(Entry{Path: p.dst, Kind: File, Mode: 0o755, Data: data})
	}
	add(Entry{Path: path.Join(bindir, "warewulfd"), Kind: Symlink, Mode: 0o777, Target: "wwctl"})

	// Configuration: the shipped, commented files, with the paths of this
	// installation where they differ from the built-in defaults.
	conf, err := os.ReadFile(filepath.Join(o.Src, "internal", "config", "warewulf.conf"))
	if err != nil {
		return nil, err
	}
	for _, r := range []struct{ key, def, val string }{
		{"bindir", "/usr/bin", bindir}, {"datadir", "/usr/share", datadir},
		{"sysconfdir", "/etc", o.Sysconfdir}, {"localstatedir", "/var/lib", o.Localstatedir},
		{"ipxesource", "/usr/lib/ipxe", o.Ipxesource},
	} {
		if conf, err = setPath(conf, r.key, r.def, r.val); err != nil {
			return nil, err
		}
	}
	add(Entry{Path: path.Join(confdir, "warewulf.conf"), Kind: File, Mode: 0o644, Data: conf, Config: true})
	nodes, err := os.ReadFile(filepath.Join(o.Src, "internal", "inventory", "nodes.conf"))
	if err != nil {
		return nil, err
	}
	// nodes.conf holds BMC passwords: its owner only, as wwctl creates it.
	add(Entry{Path: path.Join(confdir, "nodes.conf"), Kind: File, Mode: 0o600, Data: nodes, Config: true})
	add(Entry{Path: confdir, Kind: Dir, Mode: 0o755})
	add(Entry{Path: path.Join(confdir, "ipxe"), Kind: Dir, Mode: 0o755})
	tmpls, err := filepath.Glob(filepath.Join(o.Src, "internal", "provision", "templates", "*.ipxe"))
	if err != nil || len(tmpls) == 0 {
		return nil, fmt.Errorf("no iPXE templates in %s/internal/provision/templates", o.Src)
	}
	for _, t := range tmpls {
		data, err := os.ReadFile(t)
		if err != nil {
			return nil, err
		}
		add(Entry{Path: path.Join(confdir, "ipxe", filepath.Base(t)), Kind: File, Mode: 0o644, Data: data, Config: true})
	}

	// State: the site overlays, chroots and built images.
	for _, d := range []string{"", "overlays", "chroots", "provision"} {
		add(Entry{Path: path.Join(state, d), Kind: Dir, Mode: 0o755})
	}

	ov, err := overlayEntries(path.Join(datadir, "warewulf", "overlays"))
	if err != nil {
		return nil, err
	}
	out = append(out, ov...)

	unit, err := shipped.ReadFile("files/warewulfd.service")
	if err != nil {
		return nil, err
	}
	unit = bytes.ReplaceAll(unit, []byte("@BINDIR@"), []byte(bindir))
	unit = bytes.ReplaceAll(unit, []byte("@SYSCONFDIR@"), []byte(o.Sysconfdir))
	add(Entry{Path: path.Join(o.Prefix, "lib", "systemd", "system", "warewulfd.service"), Kind: File, Mode: 0o644, Data: unit})

	docs, err := generated(ctx, filepath.Join(o.Bin, "wwctl"), datadir, o.Epoch)
	if err != nil {
		return nil, err
	}
	out = append(out, docs...)

	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// setPath sets "  key: def" of warewulf.conf's paths section to val.
func setPath(conf []byte, key, def, val string) ([]byte, error) {
	if val == def {
		return conf, nil
	}
	old := []byte("\n  " + key + ": " + def + "\n")
	if bytes.Count(conf, old) != 1 {
		return nil, fmt.Errorf("warewulf.conf: no single line %q to set paths.%s", strings.TrimSpace(string(old)), key)
	}
	return bytes.Replace(conf, old, []byte("\n  "+key+": "+val+"\n"), 1), nil
}

// overlayEntries lays out the stock overlays as Warewulf's packages do,
// <dir>/<name>/rootfs/..., with the modes, owners and links their attrs
// give. The wwclient overlays are left out: wwctl carries them and adds
// the agent found in <prefix>/lib/wwboot, which a copy here would hide.
func overlayEntries(dir string) ([]Entry, error) {
	store := &overlay.Store{Builtin: overlays.FS()}
	names, err := store.Names()
	if err != nil {
		return nil, err
	}
	out := []Entry{{Path: path.Dir(dir), Kind: Dir, Mode: 0o755}, {Path: dir, Kind: Dir, Mode: 0o755}}
	for _, name := range names {
		if name == "wwclient" || strings.HasPrefix(name, "wwclient.") {
			continue
		}
		o, err := store.Get(name)
		if err != nil {
			return nil, err
		}
		root := path.Join(dir, name, "rootfs")
		out = append(out, Entry{Path: path.Join(dir, name), Kind: Dir, Mode: 0o755})
		rootMode := fs.FileMode(0o755)
		for _, f := range o.Files {
			if f.Path == "." || f.Path == "" {
				rootMode = f.Mode
				continue
			}
			e := Entry{Path: path.Join(root, f.Path), Mode: f.Mode, UID: f.UID, GID: f.GID}
			switch f.Kind {
			case overlay.KindDir:
				e.Kind = Dir
			case overlay.KindFile:
				e.Kind, e.Data = File, f.Data
			case overlay.KindSymlink:
				e.Kind, e.Target, e.Mode = Symlink, f.Target, 0o777
			}
			out = append(out, e)
		}
		out = append(out, Entry{Path: root, Kind: Dir, Mode: rootMode})
	}
	return out, nil
}

// generated runs the built wwctl for its man pages and shell completion.
func generated(ctx context.Context, wwctl, datadir string, epoch time.Time) ([]Entry, error) {
	tmp, err := os.MkdirTemp("", "wwboot-man-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	run := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, wwctl, append([]string{"--emptyconf"}, args...)...)
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch.Unix(), 10))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w: %s", wwctl, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
		return out, nil
	}
	if _, err := run("genconfig", "man", tmp); err != nil {
		return nil, err
	}
	pages, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	var out []Entry
	man1 := path.Join(datadir, "man", "man1")
	for _, p := range pages {
		data, err := os.ReadFile(filepath.Join(tmp, p.Name()))
		if err != nil {
			return nil, err
		}
		gz, err := gzipped(data)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Path: path.Join(man1, p.Name()+".gz"), Kind: File, Mode: 0o644, Data: gz})
	}
	for _, c := range []struct{ shell, dst string }{
		{"bash", path.Join(datadir, "bash-completion", "completions", "wwctl")},
		{"zsh", path.Join(datadir, "zsh", "vendor-completions", "_wwctl")},
		{"fish", path.Join(datadir, "fish", "vendor_completions.d", "wwctl.fish")},
	} {
		data, err := run("completion", c.shell)
		if err != nil {
			return nil, err
		}
		out = append(out, Entry{Path: c.dst, Kind: File, Mode: 0o644, Data: data})
	}
	return out, nil
}
