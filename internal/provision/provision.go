// Package provision is the HTTP side of the provisioning daemon (wwctl
// server): it identifies a booting node by its hardware address, answers
// with an iPXE script, the kernel, the image and the node's overlays, and
// records how far each node got, in memory. Package daemon composes it
// with the other servers and keeps it current (reloads, status saves).
package provision

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/template"
	"time"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/overlay"
)

// Options are what a Server works with.
type Options struct {
	// Config is the configuration the first load uses (Apply replaces
	// it).
	Config   *config.Config
	Nodes    *inventory.Store
	Overlays *overlay.Store // with Builtin set by the caller
	Images   *image.Images
	Builder  *overlay.Builder
	// StatusFile is where node status is kept across restarts; "" keeps
	// it in memory only.
	StatusFile string
	// Templates is the site's iPXE template directory
	// (<sysconfdir>/warewulf/ipxe); nil or a missing template falls back
	// to the embedded ones.
	Templates fs.FS
	// GrubTemplates is the site's GRUB template directory
	// (<sysconfdir>/warewulf/grub, holding grub.cfg.ww); nil or a missing
	// file falls back to the embedded template.
	GrubTemplates fs.FS
	Log           *slog.Logger
	// TokenKey is the key node tokens are derived from (LoadTokenKey);
	// nil makes a random one, so tokens do not outlive the process.
	TokenKey []byte
	// EFIBoot maps the names of iPXE EFI binaries to their files, served
	// at /efiboot/<name> to UEFI HTTP-boot clients.
	EFIBoot map[string]string
	// Render are the options overlays are rendered with: they must be
	// those "wwctl overlay build" uses (build host, built-in overlays'
	// time), or every image it built looks stale to the daemon.
	Render overlay.RenderOptions
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
	// ARP returns the hardware address the server's ARP table holds for
	// an IPv4 address, or ""; nil reads /proc/net/arp.
	ARP func(ip string) string
	// OverlayMemory bounds the bytes of overlay archives kept in memory
	// (0: 32 MiB; negative: none), and OverlayMemoryMax the size of the
	// largest one kept (0: 1 MiB). Larger and secret archives are sent
	// from their files.
	OverlayMemory, OverlayMemoryMax int64
}

// Server answers booting nodes. It keeps in memory the inventory read at
// the last load, a hardware address to node map and the nodes' status.
type Server struct {
	o     Options
	log   *slog.Logger
	now   func() time.Time
	arp   func(string) string
	state atomic.Pointer[state]
	// reloadMu serializes loads so that a reload never replaces a newer
	// state with an older one.
	reloadMu sync.Mutex
	// flushMu serializes status saves, so that an older copy is never
	// written over a newer one.
	flushMu sync.Mutex
	// readHeaderTimeout is the limit on reading a request's header; 0
	// is 10 s (tests shorten it).
	readHeaderTimeout time.Duration
	// shortIdleTimeout is how long an idle connection beyond its
	// client's share is kept; 0 is 5 s (tests shorten it).
	shortIdleTimeout time.Duration
	// conns counts the connections of the listeners being served, for
	// /metrics; nil when not serving.
	conns atomic.Pointer[connLimiter]

	tokenKey []byte
	// archives are the nodes' overlay images, checked, built and kept
	// in memory as they are served.
	archives *overlay.Archives

	statusMu sync.Mutex
	status   map[string]contract.NodeStatus
	unknown  map[string]contract.NodeStatus // by hardware address
	// leased is the address the embedded DHCP server last gave each
	// node (RecordStage), for nodes nodes.conf gives none (fromNode).
	leased  map[string]net.IP
	dirty   bool
	metrics metrics
}

// state is one load of nodes.conf and the overlays.
type state struct {
	cfg    *config.Config
	snap   *overlay.Snapshot
	nodes  map[string]*inventory.NodeView
	plans  map[string]*plan              // by node name (plan.go)
	byMAC  map[string]string             // canonical hwaddr -> node name
	ipxe   map[string]*template.Template // by name
	grub   grubTemplate
	loaded time.Time
}

// New loads the inventory, the overlays and the iPXE templates every node
// uses, and the saved status. A node naming an iPXE template that does
// not exist is an error.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Nodes == nil || o.Overlays == nil || o.Images == nil || o.Builder == nil {
		return nil, errors.New("provision: Config, Nodes, Overlays, Images and Builder are required")
	}
	s := &Server{o: o, log: o.Log, now: o.Now, arp: o.ARP, status: map[string]contract.NodeStatus{}, unknown: map[string]contract.NodeStatus{},
		leased: map[string]net.IP{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.arp == nil {
		s.arp = procARP
	}
	s.archives = overlay.NewArchives(o.Builder, overlay.ServeOptions{Memory: o.OverlayMemory, MemoryMax: o.OverlayMemoryMax})
	s.tokenKey = o.TokenKey
	if len(s.tokenKey) == 0 {
		s.tokenKey = make([]byte, 32)
		if _, err := rand.Read(s.tokenKey); err != nil {
			return nil, fmt.Errorf("provision: token key: %w", err)
		}
	}
	if err := s.Apply(o.Config); err != nil {
		return nil, err
	}
	if err := s.loadStatus(); err != nil {
		s.log.Warn("node status not restored", "file", o.StatusFile, "err", err)
	}
	return s, nil
}

// Reload re-reads nodes.conf and the overlays under the configuration
// in use. On error the previous state stays in use.
func (s *Server) Reload() error { return s.Apply(nil) }

// Apply reads nodes.conf and the overlays under cfg (nil: the
// configuration in use) and serves them and cfg from then on. On error
// the previous state stays in use. The caller decides what in cfg needs
// a restart: listeners and connection limits keep what ServeListeners
// started with.
func (s *Server) Apply(cfg *config.Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if cfg == nil {
		cfg = s.state.Load().cfg
	}
	inv, err := s.o.Nodes.Load()
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	snap, err := overlay.NewSnapshot(cfg, inv, s.o.Overlays, s.o.Render)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	// The inventory is not kept: what serving needs of it is in the
	// snapshot and the plans, and its parsed file (a YAML node per key,
	// tens of megabytes for 10,000 nodes) goes with it.
	st := &state{cfg: cfg, snap: snap, loaded: s.now()}
	if err := s.buildPlans(st, inv); err != nil {
		return err
	}
	s.state.Store(st)
	s.log.Info("loaded nodes", "nodes", len(st.nodes), "hwaddrs", len(st.byMAC))
	return nil
}

// Handler returns the routes. Paths with "//" are collapsed first, as
// some firmware asks for "//grub.efi".
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	stages := contract.RouteStages()
	for prefix, stage := range stages {
		h := s.stageHandler(stage)
		mux.HandleFunc("GET /"+prefix+"/{wwid}", h)
		mux.HandleFunc("GET /"+prefix+"/{$}", h)
	}
	legacy := func(w http.ResponseWriter, r *http.Request) {
		stage := r.URL.Query().Get(contract.QueryStage)
		if stage == "" {
			stage = contract.RouteIPXE
		}
		st, ok := stages[stage]
		if !ok {
			http.Error(w, fmt.Sprintf("unknown stage %q (want ipxe, kernel, initramfs, image, system or runtime)", stage), http.StatusBadRequest)
			return
		}
		s.stageHandler(st)(w, r)
	}
	mux.HandleFunc("GET /"+contract.RouteProvision+"/{wwid}", legacy)
	mux.HandleFunc("GET /"+contract.RouteProvision+"/{$}", legacy)
	mux.HandleFunc("GET "+contract.PathStatus, s.handleStatus)
	mux.HandleFunc("GET "+contract.PathMetrics, s.handleMetrics)
	mux.HandleFunc("GET /"+contract.RouteEFIBoot+"/{file}", s.handleEFIBoot)
	// GRUB booted over HTTP reads its prefix's grub.cfg (/grub/grub.cfg
	// for Debian's network GRUB) before its own directory's.
	mux.HandleFunc("GET /"+contract.RouteGrub+"/grub.cfg", s.serveEFIGrubConfig)
	return CollapseSlashes(mux)
}

// CollapseSlashes serves h with every "//" of the path collapsed to "/",
// as some firmware asks for "//grub.efi" (http.ServeMux would answer
// with a redirect).
func CollapseSlashes(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "//") {
			p := r.URL.Path
			for strings.Contains(p, "//") {
				p = strings.ReplaceAll(p, "//", "/")
			}
			r2 := r.Clone(r.Context())
			r2.URL.Path = p
			r2.URL.RawPath = ""
			r = r2
		}
		h.ServeHTTP(w, r)
	})
}

// tlsListener is a listener that serves HTTPS, told apart so the log
// says which one does, and so that ServeListeners can count the TCP
// connections under TLS.
type tlsListener struct {
	net.Listener // TLS over raw
	raw          net.Listener
	cfg          *tls.Config
}

// TLSListener wraps ln to serve HTTPS with cfg, for ServeListeners.
func TLSListener(ln net.Listener, cfg *tls.Config) net.Listener {
	return tlsListener{Listener: tls.NewListener(ln, cfg), raw: ln, cfg: cfg}
}

func (s *Server) headerTimeout() time.Duration {
	if s.readHeaderTimeout > 0 {
		return s.readHeaderTimeout
	}
	return 10 * time.Second
}

// connLimits are the limits warewulf.conf sets on connections, with max
// connections lowered to leave room below the open-file limit.
func (s *Server) connLimits() connLimits {
	w := s.state.Load().cfg.Warewulf
	lim := connLimits{max: w.MaxConnections, perClient: w.MaxClientConnections, idleShare: w.IdleClientConnections,
		idle: time.Duration(w.IdleTimeout) * time.Second, shortIdle: s.shortIdleTimeout}
	if lim.shortIdle <= 0 {
		lim.shortIdle = 5 * time.Second
	}
	if files, ok := openFileLimit(); ok {
		// Leave descriptors for files, the DHCP and TFTP sockets and the
		// listeners.
		if room := files - min(1024, files/4); lim.max > room {
			s.log.Warn("warewulf.max connections lowered to stay below the open-file limit",
				"max connections", lim.max, "open files", files, "lowered to", room)
			lim.max = room
		}
	}
	return lim
}

// openFileLimit is the process's RLIMIT_NOFILE soft limit.
func openFileLimit() (int, bool) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil || r.Cur > 1<<30 { // also RLIM_INFINITY
		return 0, false
	}
	return int(r.Cur), true
}

// ServeListener is ServeListeners on one listener.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	return s.ServeListeners(ctx, ln)
}

// ServeListeners serves Handler on lns (see ServeHandler).
func (s *Server) ServeListeners(ctx context.Context, lns ...net.Listener) error {
	return s.ServeHandler(ctx, s.Handler(), lns...)
}

// ServeHandler answers with h (Handler, or the daemon's composition of
// it with other services) on every listener, which it closes (one made
// with TLSListener serves HTTPS), until ctx ends or one fails, then
// shuts down gracefully: it returns once the requests in flight are
// answered. The connections of all listeners are limited together as
// warewulf.conf says (max connections and the keys after it). Saving
// the status is the caller's (FlushStatus).
func (s *Server) ServeHandler(ctx context.Context, h http.Handler, lns ...net.Listener) error {
	lim := s.connLimits()
	limiter := newConnLimiter(lim, s.log)
	s.conns.Store(limiter)
	defer s.conns.CompareAndSwap(limiter, nil)
	lns = slices.Clone(lns)
	for i, ln := range lns {
		// Count the TCP connections, under TLS.
		if tl, ok := ln.(tlsListener); ok {
			lns[i] = tlsListener{Listener: tls.NewListener(limiter.listener(tl.raw), tl.cfg), raw: tl.raw, cfg: tl.cfg}
		} else {
			lns[i] = limiter.listener(ln)
		}
	}
	s.log.Info("connection limits", "max connections", lim.max, "per client", lim.perClient,
		"idle per client", lim.idleShare, "idle timeout", lim.idle, "beyond the share", lim.shortIdle)
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.headerTimeout(),
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnState:         limiter.connState,
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
			return
		}
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			s.log.Warn("shutdown", "err", err)
			_ = srv.Close()
		}
	}()
	errs := make(chan error, len(lns))
	for _, ln := range lns {
		scheme := "http"
		if _, ok := ln.(tlsListener); ok {
			scheme = "https"
		}
		s.log.Info("provisioning server listening", "addr", ln.Addr().String(), "scheme", scheme)
		go func() { errs <- srv.Serve(ln) }()
	}
	var err error
	for range lns {
		e := <-errs
		if !errors.Is(e, http.ErrServerClosed) && err == nil {
			err = e
			// One listener failed: stop the others too.
			_ = srv.Close()
		}
	}
	if err == nil {
		// Shutdown returns once the listeners are closed; wait for it to
		// finish the requests in flight before returning.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	return err
}

// NodeByMAC returns the node a hardware address belongs to in the
// inventory as last loaded, for the embedded DHCP server.
func (s *Server) NodeByMAC(hwaddr string) (*inventory.NodeView, bool) {
	st := s.state.Load()
	name, ok := st.byMAC[naming.NormalizeMAC(hwaddr)]
	if !ok {
		return nil, false
	}
	return st.nodes[name], true
}

// Nodes returns every node of the inventory as last loaded, by name,
// but those left out for values that do not parse (buildPlans). The
// caller must not modify them.
func (s *Server) Nodes() map[string]*inventory.NodeView {
	return s.state.Load().nodes
}

// RecordStage records that stage (such as DHCP) served sent to node from
// addr, as the HTTP routes do for theirs.
func (s *Server) RecordStage(node, stage, sent, addr string, bytes int64) {
	if ip := net.ParseIP(addr); stage == stageDHCP && ip != nil && !ip.IsUnspecified() {
		s.statusMu.Lock()
		s.leased[node] = ip
		s.statusMu.Unlock()
	}
	s.record(node, stage, sent, addr, bytes)
}
