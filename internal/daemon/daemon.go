// Package daemon is the provisioning daemon, "wwctl server": it composes
// the boot server (package provision) with the REST API beside it (package
// api), the embedded DHCP, TFTP and router-advertisement servers, the
// HTTP and HTTPS listeners, and keeps them current: it re-reads
// warewulf.conf, nodes.conf and the site overlays when they change (or
// when Reload is called), says which changes need a restart, and saves the
// nodes' status while it runs and when it stops. It handles no signals:
// its caller turns them into a cancelled context and Reload calls.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/provision"
	"github.com/wwboot/wwboot/internal/site"
	"github.com/wwboot/wwboot/internal/tftp"
)

// watchInterval is how often the daemon saves a changed status and looks
// for changed inputs.
const watchInterval = 2 * time.Second

// Options are what a daemon serves and where it reports.
type Options struct {
	// Site is the installation served (required); its configuration is
	// the one the daemon starts with.
	Site *site.Site
	// ConfigPath is the warewulf.conf the site's configuration was read
	// from: Reload reads it again, and a change to it is noticed as one
	// to nodes.conf. "" (built-in defaults) reads none.
	ConfigPath string
	// Listen is the HTTP listener's address; "" is ":<warewulf.port>".
	// HTTPS listens on its host, on warewulf.tls port.
	Listen string
	// Stderr receives one line for each listener opened ("wwctl server:
	// HTTP on ..."); nil discards them.
	Stderr io.Writer
	// Log receives the daemon's log; nil is the site's.
	Log *slog.Logger
}

// Daemon is a provisioning daemon made by New and run by Run.
type Daemon struct {
	o      Options
	site   *site.Site
	cfg    *config.Config // as started: what needs a restart is compared with it
	log    *slog.Logger
	stderr io.Writer
	addr   string
	tls    *tls.Config // nil: no HTTPS
	srv    *provision.Server
	api    http.Handler // nil: api.enabled is off
	// stamp sums the inputs as they were before the first load (watch).
	stamp string
	// reloadMu serializes reloads, so that an older warewulf.conf is
	// never applied after a newer one.
	reloadMu sync.Mutex
}

// New loads what the daemon serves (the inventory, overlays, iPXE
// templates, saved status, token key, TLS pair and API users) and
// returns a daemon that has opened nothing yet.
func New(o Options) (*Daemon, error) {
	if o.Site == nil {
		return nil, errors.New("daemon: a site is required")
	}
	d := &Daemon{o: o, site: o.Site, cfg: o.Site.Config(), log: o.Log, stderr: o.Stderr, addr: o.Listen}
	if d.log == nil {
		d.log = d.site.Log()
	}
	if d.stderr == nil {
		d.stderr = io.Discard
	}
	if d.addr == "" {
		d.addr = net.JoinHostPort("", strconv.Itoa(d.cfg.Warewulf.Port))
	}
	if _, _, err := net.SplitHostPort(d.addr); err != nil {
		return nil, fmt.Errorf("listen address %q: %w", d.addr, err)
	}
	render, err := d.site.RenderOptions()
	if err != nil {
		return nil, err
	}
	tokenKey, err := provision.LoadTokenKey(d.site.TokenKey())
	if err != nil {
		return nil, err
	}
	if d.cfg.Warewulf.TLS {
		if d.tls, err = serverTLS(d.site); err != nil {
			return nil, err
		}
	}
	// UEFI HTTP-boot clients fetch the iPXE EFI binaries over HTTP,
	efiboot := map[string]string{}
	files, _ := tftp.ResolveIpxe(d.site.IpxeSource(), d.cfg.Tftp.IpxeBinaries, tftp.DefaultIpxeDirs())
	for name, file := range files {
		efiboot[path.Base(name)] = file
	}
	// and shim and GRUB, when they boot GRUB.
	loaders, _ := tftp.ResolveGrub("", d.cfg.Tftp.ShimBinaries, d.cfg.Tftp.GrubBinaries)
	for name, file := range loaders {
		efiboot[path.Base(name)] = file
	}
	d.stamp = d.inputsStamp()
	builder := d.site.NewBuilder(0)
	d.srv, err = provision.New(provision.Options{
		EFIBoot:    efiboot,
		Render:     render,
		TokenKey:   tokenKey,
		Config:     d.cfg,
		Nodes:      d.site.Nodes(),
		Overlays:   d.site.Overlays(),
		Images:     d.site.Images(),
		Builder:    builder,
		StatusFile: d.site.StatusFile(),
		Templates:  os.DirFS(d.site.IpxeTemplateDir()),
		// Warewulf's place for its grub.cfg.ww.
		GrubTemplates: os.DirFS(d.site.GrubTemplateDir()),
		Log:           d.log,
	})
	if err != nil {
		return nil, err
	}
	if d.api, err = apiHandler(d.site, builder, d.Reload, d.srv.Status, d.log); err != nil {
		return nil, err
	}
	return d, nil
}

// Handler answers the daemon's HTTP(S) requests: the REST API's under
// /api/ when api.enabled is on, the boot server's otherwise.
func (d *Daemon) Handler() http.Handler {
	boot := d.srv.Handler()
	if d.api == nil {
		return boot
	}
	api := d.api
	return provision.CollapseSlashes(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path+"/", contract.PathAPI) {
			api.ServeHTTP(w, r)
			return
		}
		boot.ServeHTTP(w, r)
	}))
}

// Run opens the HTTP (and HTTPS) listeners and the DHCP and TFTP servers
// that warewulf.conf asks for, reports each on Options.Stderr, and serves
// until ctx ends or a server fails; then it stops them gracefully and
// saves the status. A listener that cannot be opened is returned before
// anything is served, and nothing stays open then. Run is called once.
func (d *Daemon) Run(ctx context.Context) error {
	// Every connection is a file descriptor: take all the system allows
	// (warewulf.max connections stays below it).
	if from, to, err := raiseOpenFiles(); err != nil {
		d.log.Warn("open-file limit not raised", "soft", from, "err", err)
	} else {
		d.log.Info("open-file limit", "soft", to, "was", from)
	}
	ln, err := net.Listen("tcp", d.addr)
	if err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	lns := []net.Listener{ln}
	fmt.Fprintf(d.stderr, "wwctl server: HTTP on %s\n", ln.Addr())
	if d.tls != nil {
		tlsHost, _, _ := net.SplitHostPort(d.addr) // checked by New
		tln, err := net.Listen("tcp", net.JoinHostPort(tlsHost, strconv.Itoa(d.cfg.Warewulf.TLSPort)))
		if err != nil {
			ln.Close()
			return fmt.Errorf("HTTPS listener: %w", err)
		}
		fmt.Fprintf(d.stderr, "wwctl server: HTTPS on %s\n", tln.Addr())
		lns = append(lns, provision.TLSListener(tln, d.tls))
	}
	g, gctx := errgroup.WithContext(ctx)
	nb := &netboot{cfg: d.cfg, site: d.site, log: d.log, stderr: d.stderr, http: d.srv.Handler(), listen: d.addr}
	if err := nb.start(gctx, g, d.srv); err != nil {
		for _, l := range lns {
			l.Close()
		}
		return err
	}
	g.Go(func() error { return d.srv.ServeHandler(gctx, d.Handler(), lns...) })
	g.Go(func() error { d.watch(gctx); return nil })
	err = g.Wait()
	// The requests in flight are answered: what they recorded is saved.
	if ferr := d.srv.FlushStatus(true); ferr != nil && err == nil {
		err = fmt.Errorf("save node status: %w", ferr)
	}
	return err
}

// Reload re-reads warewulf.conf (when Options.ConfigPath is set),
// nodes.conf and the site overlays, and serves them. It logs and returns
// the warnings: those of warewulf.conf, and one when a change in it needs
// a restart (restartNeeded). On error the daemon keeps serving what it
// served.
func (d *Daemon) Reload() (warnings []string, err error) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	var cfg *config.Config // nil: the configuration in use
	if d.o.ConfigPath != "" {
		c, ws, err := config.Load(d.o.ConfigPath)
		if err != nil {
			return nil, err // it names the file
		}
		for _, w := range ws {
			d.log.Warn(w)
		}
		warnings = append(warnings, ws...)
		if restartNeeded(d.cfg, c) {
			const msg = "warewulf.conf changed ports, listeners, connection limits, DHCP/TFTP, grubboot or paths: restart the daemon to apply those; the rest applies now"
			d.log.Warn(msg, "file", d.o.ConfigPath)
			warnings = append(warnings, msg)
		}
		cfg = c
	}
	return warnings, d.srv.Apply(cfg)
}

// restartNeeded reports whether now changes what the daemon opened or
// set up when it started with was: its listeners, connection limits,
// DHCP and TFTP servers (the loaders TFTP serves and DHCP names, and
// grubboot, which chooses between them) and paths.
func restartNeeded(was, now *config.Config) bool {
	w, n := was.Warewulf, now.Warewulf
	return n.Port != w.Port || n.TLS != w.TLS || n.TLSPort != w.TLSPort ||
		n.MaxConnections != w.MaxConnections || n.MaxClientConnections != w.MaxClientConnections ||
		n.IdleClientConnections != w.IdleClientConnections || n.IdleTimeout != w.IdleTimeout || n.GrubBoot != w.GrubBoot ||
		!reflect.DeepEqual(now.Dhcp, was.Dhcp) || !reflect.DeepEqual(now.Tftp, was.Tftp) || now.Paths != was.Paths
}

// watch saves the status every watchInterval when it changed, and
// reloads when warewulf.conf, nodes.conf or a file of the site overlays
// changed, as Reload would on SIGHUP, until ctx ends.
func (d *Daemon) watch(ctx context.Context) {
	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	stamp := d.stamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := d.srv.FlushStatus(false); err != nil {
				d.log.Warn("save node status", "err", err)
			}
			if now := d.inputsStamp(); now != stamp {
				stamp = now
				if _, err := d.Reload(); err != nil {
					d.log.Error("reload after a change failed; still serving the previous state", "err", err)
				} else {
					d.log.Info("reloaded nodes.conf and overlays after a change")
				}
			}
		}
	}
}

// inputsStamp summarizes the modification times and sizes of
// warewulf.conf, nodes.conf and every file of the site overlays, so a
// change is noticed without a signal.
func (d *Daemon) inputsStamp() string {
	h := fnv.New64a()
	stat := func(p string) {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", p, st.ModTime().UnixNano(), st.Size())
		}
	}
	stat(d.site.Nodes().Path())
	if d.o.ConfigPath != "" {
		stat(d.o.ConfigPath)
	}
	if dir := d.site.Overlays().Site; dir != "" {
		_ = filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
			if err == nil {
				stat(p)
			}
			return nil
		})
	}
	return fmt.Sprintf("%x", h.Sum64())
}
