// Package site is one installation opened from its warewulf.conf: every
// path derived from the configuration, the stores (inventory, images,
// overlays), the overlay builder and its render options, nodes or
// profiles alike (Kind: select, parse, merge, the rules of deletion and
// of overlays), and the operations that cross stores (build an image
// with its bootstrap, import, copy, delete or rename an image its users
// name, write a site overlay file). wwctl and the REST API are front ends
// over it and hold no domain rules of their own.
package site

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/overlays"
)

// Options are what a site is opened with.
type Options struct {
	// Config is the loaded warewulf.conf (required).
	Config *config.Config
	// Log receives what the stores and builds report; nil discards it.
	Log *slog.Logger
	// Getenv reads WWSTAGE1, WWCLIENT and SOURCE_DATE_EPOCH; nil reads
	// nothing.
	Getenv func(string) string
	// Executable is the running program, beside which wwclient and
	// wwstage1 are looked for; "" asks os.Executable.
	Executable string
	// BuiltinOverlays replaces the overlays shipped in the program (and
	// the wwclient binary added to them); nil keeps them.
	BuiltinOverlays fs.FS
	// Commands runs the programs "wwctl configure" uses (the DHCP
	// servers' checks, systemctl); nil is ExecCommander.
	Commands Commander
}

// Site is an open installation. It holds no open files; its methods may
// be called from several goroutines.
type Site struct {
	cfg      *config.Config
	log      *slog.Logger
	getenv   func(string) string
	exe      string
	nodes    *inventory.Store
	images   *image.Images
	overlays *overlay.Store
	cmds     Commander
}

// Open opens the installation o.Config describes. Nothing is read or
// created yet.
func Open(o Options) (*Site, error) {
	if o.Config == nil {
		return nil, errors.New("site: a configuration is required")
	}
	s := &Site{cfg: o.Config, log: o.Log, getenv: o.Getenv, exe: o.Executable, cmds: o.Commands}
	if s.cmds == nil {
		s.cmds = ExecCommander{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.getenv == nil {
		s.getenv = func(string) string { return "" }
	}
	if s.exe == "" {
		s.exe, _ = os.Executable()
	}
	p := s.cfg.Paths
	// Warnings about nodes.conf (keys it does not know, forms of older
	// Warewulf versions) reach wwctl's stderr and the daemon's log.
	s.nodes = inventory.NewStoreWith(s.cfg.NodesConf(), inventory.StoreOptions{
		Warn: func(w inventory.Warning) { s.log.Warn(w.String()) },
	})
	s.images = &image.Images{Chroots: p.Wwchrootdir, Provision: p.Wwprovisiondir, Log: s.log}
	builtin := o.BuiltinOverlays
	if builtin == nil {
		// The wwclient overlay's binary is the static cmd/wwclient found
		// next to the program or installed (or $WWCLIENT).
		builtin = overlay.WithWwclient(overlays.FS(), overlay.WwclientPaths(s.exe, s.getenv("WWCLIENT")))
		// And Warewulf's per-architecture copies, wwclient.x86_64 and
		// wwclient.aarch64, with wwclient.<arch> found beside wwctl.
		builtin = overlay.WithWwclientArchs(builtin, s.exe)
	}
	s.overlays = &overlay.Store{Site: p.Wwoverlaydir, Dist: filepath.Join(p.Datadir, "warewulf", "overlays"), Builtin: builtin}
	return s, nil
}

// Config is the configuration the site was opened from.
func (s *Site) Config() *config.Config { return s.cfg }

// Log is the site's logger.
func (s *Site) Log() *slog.Logger { return s.log }

// Nodes is the inventory store (nodes.conf).
func (s *Site) Nodes() *inventory.Store { return s.nodes }

// Images is the image store.
func (s *Site) Images() *image.Images { return s.images }

// Overlays is the overlay store: site, distribution and shipped overlays.
func (s *Site) Overlays() *overlay.Store { return s.overlays }

// NewBuilder returns an overlay builder writing under OverlayImageDir,
// building workers images at once (0: one per CPU). The daemon makes one
// and shares it, so that its on-demand builds and API builds join.
func (s *Site) NewBuilder(workers int) *overlay.Builder {
	return &overlay.Builder{Dir: s.OverlayImageDir(), Workers: workers, Log: s.log}
}

// RenderOptions are the options overlays are rendered with, the same for
// "wwctl overlay build", the daemon and the API, so that each finds the
// others' images up to date.
func (s *Site) RenderOptions() (overlay.RenderOptions, error) {
	opts := overlay.RenderOptions{}
	opts.BuildHost, _ = os.Hostname()
	// Templates read the server's files (/etc/hosts above its marker,
	// an Include of /etc/...) under paths.hostroot.
	if root := filepath.Clean(s.HostRoot()); root != "/" {
		opts.HostRoot = root
	}
	epoch, err := s.sourceDateEpoch()
	if err != nil {
		return opts, err
	}
	if epoch != nil {
		opts.Epoch = epoch
	}
	// Built-in templates are as new as the program that carries them.
	if s.exe != "" {
		if st, err := os.Stat(s.exe); err == nil {
			opts.Builtin = st.ModTime()
		}
	}
	// Each node gets the wwclient of its image's architecture.
	opts.ImageArch = func(name string) string {
		info, err := s.images.Arch(name)
		if err != nil {
			return ""
		}
		return info.Arch
	}
	return opts, nil
}

// sourceDateEpoch is SOURCE_DATE_EPOCH, nil when unset.
func (s *Site) sourceDateEpoch() (*time.Time, error) {
	v := s.getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return nil, nil
	}
	sec, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", v)
	}
	t := time.Unix(sec, 0)
	return &t, nil
}

// Snapshot reads nodes.conf and prepares rendering with RenderOptions.
func (s *Site) Snapshot() (*overlay.Snapshot, error) {
	inv, err := s.nodes.Load()
	if err != nil {
		return nil, err
	}
	opts, err := s.RenderOptions()
	if err != nil {
		return nil, err
	}
	return overlay.NewSnapshot(s.cfg, inv, s.overlays, opts)
}
