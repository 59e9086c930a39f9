// Package provision is the HTTP side of the provisioning daemon (wwctl
// server): it identifies a booting node by its hardware address, answers
// with an iPXE script, the kernel, the image and the node's overlays, and
// records how far each node got.
package provision

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	"github.com/wwboot/wwboot/internal/overlay"
)

// Options are what a Server works with.
type Options struct {
	Config *config.Config
	// ConfigPath, when set, is the warewulf.conf Config came from: Reload
	// reads it again, and a change to it is noticed as one to nodes.conf.
	ConfigPath string
	Nodes      *inventory.Store
	Overlays   *overlay.Store // with Builtin set by the caller
	Images     *image.Images
	Builder    *overlay.Builder
	// StatusFile is where node status is kept across restarts; "" keeps
	// it in memory only.
	StatusFile string
	// Templates is the site's iPXE template directory
	// (<sysconfdir>/warewulf/ipxe); nil or a missing template falls back
	// to the embedded ones.
	Templates fs.FS
	Log       *slog.Logger
	// TokenKey is the key node tokens are derived from (LoadTokenKey);
	// nil makes a random one, so tokens do not outlive the process.
	TokenKey []byte
	// EFIBoot maps the names of iPXE EFI binaries to their files, served
	// at /efiboot/<name> to UEFI HTTP-boot clients.
	EFIBoot map[string]string
	// API, when set, answers every request under /api/ (the REST API).
	API http.Handler
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
	status   map[string]NodeStatus
	unknown  map[string]NodeStatus // by hardware address
	// leased is the address the embedded DHCP server last gave each
	// node (RecordStage), for nodes nodes.conf gives none (fromNode).
	leased  map[string]net.IP
	dirty   bool
	metrics metrics
}

// state is one load of nodes.conf and the overlays.
type state struct {
	cfg    *config.Config
	inv    *inventory.Inventory
	snap   *overlay.Snapshot
	nodes  map[string]*inventory.Merged
	byMAC  map[string]string // normalized hwaddr -> node name
	ipxe   map[string]*template.Template
	loaded time.Time
	checks checks // cache.go
}

// New loads the inventory, the overlays and the iPXE templates every node
// uses, and the saved status. A node naming an iPXE template that does
// not exist is an error.
func New(o Options) (*Server, error) {
	if o.Config == nil || o.Nodes == nil || o.Overlays == nil || o.Images == nil || o.Builder == nil {
		return nil, errors.New("provision: Config, Nodes, Overlays, Images and Builder are required")
	}
	s := &Server{o: o, log: o.Log, now: o.Now, arp: o.ARP, status: map[string]NodeStatus{}, unknown: map[string]NodeStatus{},
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
	if err := s.Reload(); err != nil {
		return nil, err
	}
	if err := s.loadStatus(); err != nil {
		s.log.Warn("node status not restored", "file", o.StatusFile, "err", err)
	}
	return s, nil
}

// Reload re-reads nodes.conf and the overlays. On error the previous
// state stays in use.
func (s *Server) Reload() error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	cfg := s.o.Config
	if s.o.ConfigPath != "" {
		c, warnings, err := config.Load(s.o.ConfigPath)
		if err != nil {
			return fmt.Errorf("provision: %w", err)
		}
		for _, w := range warnings {
			s.log.Warn(w)
		}
		if c.Warewulf.Port != cfg.Warewulf.Port || c.Warewulf.TLS != cfg.Warewulf.TLS || c.Warewulf.TLSPort != cfg.Warewulf.TLSPort ||
			c.Warewulf.MaxConnections != cfg.Warewulf.MaxConnections || c.Warewulf.MaxClientConnections != cfg.Warewulf.MaxClientConnections ||
			c.Warewulf.IdleClientConnections != cfg.Warewulf.IdleClientConnections || c.Warewulf.IdleTimeout != cfg.Warewulf.IdleTimeout ||
			c.Dhcp != cfg.Dhcp || c.Tftp.Mode != cfg.Tftp.Mode || c.Paths != cfg.Paths {
			s.log.Warn("warewulf.conf changed ports, listeners, connection limits, DHCP/TFTP or paths: restart the daemon to apply those; the rest applies now",
				"file", s.o.ConfigPath)
		}
		cfg = c
	}
	inv, err := s.o.Nodes.Load()
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	snap, err := overlay.NewSnapshot(cfg, inv, s.o.Overlays, s.o.Render)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	st := &state{cfg: cfg, inv: inv, snap: snap, nodes: map[string]*inventory.Merged{}, byMAC: map[string]string{},
		ipxe: map[string]*template.Template{}, loaded: s.now()}
	for _, m := range inv.MergeAll() {
		st.nodes[m.Name] = m
		for _, name := range inventory.SortedNames(m.NetDevs) {
			if hw := m.NetDevs[name].Hwaddr; hw != nil && *hw != "" {
				mac := inventory.NormalizeMAC(strings.ToLower(*hw))
				if prev, ok := st.byMAC[mac]; ok && prev != m.Name {
					s.log.Warn("hardware address used by two nodes", "hwaddr", mac, "nodes", prev+","+m.Name)
					continue
				}
				st.byMAC[mac] = m.Name
			}
		}
		name := ipxeName(m)
		if _, ok := st.ipxe[name]; ok {
			continue
		}
		t, err := s.loadTemplate(name)
		if err != nil {
			return fmt.Errorf("provision: node %q: ipxe template %q: %w", m.Name, name, err)
		}
		st.ipxe[name] = t
	}
	for _, name := range []string{"unconfigured", "default"} {
		if _, ok := st.ipxe[name]; !ok {
			t, err := s.loadTemplate(name)
			if err != nil {
				return fmt.Errorf("provision: ipxe template %q: %w", name, err)
			}
			st.ipxe[name] = t
		}
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
	if s.o.API != nil {
		mux.Handle(contract.PathAPI, s.o.API)
	}
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
		mux.ServeHTTP(w, r)
	})
}

// Serve answers on addr until ctx ends, then shuts down gracefully and
// saves the status, which it also saves every 2 s while it changes.
func (s *Server) Serve(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("provision: %w", err)
	}
	return s.ServeListener(ctx, ln)
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

// inputsStamp summarizes the modification times and sizes of nodes.conf
// and every file of the site overlays, so a change is noticed without a
// signal.
func (s *Server) inputsStamp() string {
	h := fnv.New64a()
	stat := func(p string) {
		if st, err := os.Stat(p); err == nil {
			fmt.Fprintf(h, "%s %d %d\n", p, st.ModTime().UnixNano(), st.Size())
		}
	}
	stat(s.o.Nodes.Path())
	if s.o.ConfigPath != "" {
		stat(s.o.ConfigPath)
	}
	if s.o.Overlays != nil && s.o.Overlays.Site != "" {
		_ = filepath.WalkDir(s.o.Overlays.Site, func(p string, d fs.DirEntry, err error) error {
			if err == nil {
				stat(p)
			}
			return nil
		})
	}
	return fmt.Sprintf("%x", h.Sum64())
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

// ServeListener is Serve on an open listener, which it closes.
func (s *Server) ServeListener(ctx context.Context, ln net.Listener) error {
	return s.ServeListeners(ctx, ln)
}

// ServeListeners answers on every listener (one made with TLSListener
// serves HTTPS) until ctx ends or one fails, then shuts down gracefully
// and saves the status. The connections of all listeners are limited
// together as warewulf.conf says (max connections and the keys after it).
func (s *Server) ServeListeners(ctx context.Context, lns ...net.Listener) error {
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
		Handler:           s.Handler(),
		ReadHeaderTimeout: s.headerTimeout(),
		IdleTimeout:       lim.idle,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		ConnState:         limiter.connState,
	}
	done := make(chan struct{})
	flushed := make(chan struct{})
	go func() {
		defer close(flushed)
		tick := time.NewTicker(2 * time.Second)
		defer tick.Stop()
		stamp := s.inputsStamp()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if err := s.flushStatus(false); err != nil {
					s.log.Warn("save node status", "err", err)
				}
				// nodes.conf or a site overlay changed: load them, as
				// SIGHUP would.
				if now := s.inputsStamp(); now != stamp {
					stamp = now
					if err := s.Reload(); err != nil {
						s.log.Error("reload after a change failed; still serving the previous state", "err", err)
					} else {
						s.log.Info("reloaded nodes.conf and overlays after a change")
					}
				}
			}
		}
	}()
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
		// finish the requests in flight before saving.
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	close(done)
	<-flushed
	if ferr := s.flushStatus(true); ferr != nil && err == nil {
		err = fmt.Errorf("provision: save node status: %w", ferr)
	}
	return err
}

// NodeByMAC returns the merged node a hardware address belongs to in the
// inventory as last loaded, for the embedded DHCP server.
func (s *Server) NodeByMAC(hwaddr string) (*inventory.Merged, bool) {
	st := s.state.Load()
	name, ok := st.byMAC[inventory.NormalizeMAC(strings.ToLower(hwaddr))]
	if !ok {
		return nil, false
	}
	return st.nodes[name], true
}

// Nodes returns every merged node of the inventory as last loaded, by
// name. The caller must not modify them.
func (s *Server) Nodes() map[string]*inventory.Merged {
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
