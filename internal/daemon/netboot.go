package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/dhcp"
	"github.com/wwboot/wwboot/internal/ndp"
	"github.com/wwboot/wwboot/internal/site"
	"github.com/wwboot/wwboot/internal/tftp"
)

// netboot is what the embedded DHCP and TFTP servers are started with.
type netboot struct {
	cfg    *config.Config
	site   *site.Site
	log    *slog.Logger
	stderr io.Writer // the listeners are reported here
	// http is the provisioning handler: TFTP answers GRUB without HTTP
	// with it (tftpOverHTTP); nil answers files only.
	http http.Handler
	// listen is the HTTP listener's address ("" or ":PORT": every
	// address); one address tells DHCP where iPXE can fetch its script.
	listen string
}

// start opens the embedded DHCP and TFTP servers that dhcp.mode
// and tftp.mode ask for, reports each listener on n.stderr, and serves
// them in g until ctx ends. A missing interface or a port in use is
// returned before anything is served, and nothing stays open then.
// With embedded DHCP it also answers IPv6 router solicitations on the
// same interface (package ndp), which is never a reason to fail.
func (n *netboot) start(ctx context.Context, g *errgroup.Group, nodes dhcp.Nodes) error {
	cfg := n.cfg
	serveDHCP := cfg.Dhcp.Enabled && (cfg.Dhcp.Mode == config.ModeEmbedded || cfg.Dhcp.Mode == config.ModeProxy)
	serveTFTP := cfg.Tftp.Enabled && cfg.Tftp.Mode == config.ModeEmbedded
	if !serveDHCP && !serveTFTP {
		return nil
	}
	serverIP, err := parseOptionalAddr("ipaddr", cfg.Ipaddr)
	if err != nil {
		return err
	}
	var dsrv *dhcp.Server
	var ifnames []string
	if serveDHCP {
		ifnames, err = netbootInterfaces(cfg.Dhcp, serverIP)
		if err != nil {
			return err
		}
		networks, err := dhcpNetworks(cfg.Dhcp.Networks)
		if err != nil {
			return err
		}
		start, err := parseOptionalAddr("dhcp.range start", cfg.Dhcp.RangeStart)
		if err != nil {
			return err
		}
		end, err := parseOptionalAddr("dhcp.range end", cfg.Dhcp.RangeEnd)
		if err != nil {
			return err
		}
		boot := map[string]string{}
		for code, bin := range cfg.Tftp.IpxeBinaries {
			boot[code] = tftp.BootName(bin)
		}
		grubFiles := map[string]string{}
		loaders, _ := n.grubLoaders()
		for code := range cfg.Tftp.ShimBinaries {
			if l, ok := tftp.GrubLoader(code); ok && loaders[l.Shim] != "" && loaders[l.Grub] != "" {
				grubFiles[code] = "/" + l.Shim
			}
		}
		leaseFile := n.site.LeaseFile()
		if err := os.MkdirAll(filepath.Dir(leaseFile), 0o755); err != nil {
			return fmt.Errorf("dhcp: %w", err)
		}
		dsrv, err = dhcp.New(dhcp.Options{
			Mode: cfg.Dhcp.Mode, Interfaces: ifnames, ServerIP: serverIP, HTTPPort: cfg.Warewulf.Port, IPXEURL: contract.IPXEScriptURL,
			RangeStart: start, RangeEnd: end, Networks: networks, LeaseFile: leaseFile, BootFiles: boot,
			GrubBoot: cfg.Warewulf.GrubBoot, GrubFiles: grubFiles, HTTPHost: listenHost(n.listen),
			OfferHold: time.Duration(cfg.Dhcp.OfferHold) * time.Second,
			OfferRate: cfg.Dhcp.OffersPerSecond, ClientOfferRate: cfg.Dhcp.ClientOffersPerMinute,
			Nodes: nodes, Log: n.log,
		})
		if err != nil {
			return err
		}
		if !serverIP.IsValid() {
			serverIP = dsrv.ServerIP()
		}
	}
	var tsrv *tftp.Server
	if serveTFTP {
		files, missing := tftp.ResolveIpxe(n.site.IpxeSource(), cfg.Tftp.IpxeBinaries, tftp.DefaultIpxeDirs())
		n.reportMissingIpxe(missing, n.site.IpxeSource())
		loaders, missingLoaders := n.grubLoaders()
		n.reportMissingGrub(missingLoaders)
		maps.Copy(files, loaders)
		// GRUB reads this grub.cfg first; it loads the node's own from
		// /grub/. Without a known address GRUB uses the server it
		// booted from.
		authority := "${net_default_server}:" + strconv.Itoa(cfg.Warewulf.Port)
		if serverIP.IsValid() {
			authority = net.JoinHostPort(serverIP.String(), strconv.Itoa(cfg.Warewulf.Port))
		}
		inline := map[string][]byte{}
		for _, name := range tftp.GrubConfigNames() {
			inline[name] = tftp.GrubConfig(authority, true)
		}
		addr := net.JoinHostPort("", strconv.Itoa(tftp.Port))
		// With several DHCP interfaces, each network's clients load
		// their boot file from the server's address on their own.
		if serverIP.IsValid() && len(ifnames) <= 1 {
			addr = net.JoinHostPort(serverIP.String(), strconv.Itoa(tftp.Port))
		}
		var dynamic func(context.Context, string, *net.UDPAddr) ([]byte, error)
		if n.http != nil {
			dynamic = tftpOverHTTP(n.http, net.JoinHostPort(serverIP.String(), strconv.Itoa(cfg.Warewulf.Port)), int64(cfg.Tftp.MaxArtifactMiB)<<20)
		}
		tsrv, err = tftp.New(tftp.Options{Addr: addr, Root: cfg.Tftp.TftpRoot, Files: files, Inline: inline, Dynamic: dynamic, Log: n.log,
			MaxTransfers: cfg.Tftp.MaxTransfers, ClientTransfers: cfg.Tftp.TransfersPerClient})
		if err != nil {
			if dsrv != nil {
				dsrv.Close()
			}
			return err
		}
	}
	// iPXE waits ~16 s for an IPv6 router before it runs its script
	// unless something answers its solicitations. In proxy mode the
	// network, and whether it has IPv6 routers, is the site's.
	var ras []*ndp.Responder
	if dsrv != nil && cfg.Dhcp.Mode == config.ModeEmbedded {
		for _, ifname := range ifnames {
			ra, err := ndp.New(ndp.Options{Interface: ifname, Log: n.log})
			if err != nil {
				n.log.Info("IPv6 router solicitations are not answered; iPXE waits for IPv6 autoconfiguration", "interface", ifname, "err", err)
				continue
			}
			ras = append(ras, ra)
		}
	}
	if m, ok := nodes.(metricsAdder); ok {
		m.AddMetrics(func(w io.Writer) { writeNetbootMetrics(w, dsrv, tsrv) })
	}
	if dsrv != nil {
		for _, l := range dsrv.Addrs() {
			fmt.Fprintf(n.stderr, "wwctl server: DHCP (%s) listening on %s\n", cfg.Dhcp.Mode, l)
		}
		g.Go(func() error { return dsrv.Serve(ctx) })
	}
	for _, ra := range ras {
		g.Go(func() error {
			if err := ra.Serve(ctx); err != nil {
				n.log.Warn("IPv6 router solicitations are no longer answered", "err", err)
			}
			return nil
		})
	}
	if tsrv != nil {
		fmt.Fprintf(n.stderr, "wwctl server: TFTP listening on udp %s (root %s)\n", tsrv.Addr(), cfg.Tftp.TftpRoot)
		g.Go(func() error { return tsrv.Serve(ctx) })
	}
	return nil
}

// metricsAdder is the provisioning server's hook for /metrics, which
// the nodes given to netboot.start are in the daemon.
type metricsAdder interface {
	AddMetrics(write func(io.Writer))
}

// writeNetbootMetrics writes the limits' counters of the DHCP and TFTP
// servers that run (nil: not served) in the Prometheus text format.
func writeNetbootMetrics(w io.Writer, d *dhcp.Server, t *tftp.Server) {
	counter := func(name, help string, v uint64) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", name, help, name, name, v)
	}
	if d != nil {
		st := d.Stats()
		counter("wwboot_dhcp_pool_exhausted_total", "DISCOVERs from clients that are not nodes that found the dynamic range full.", st.PoolExhausted)
		counter("wwboot_dhcp_offers_reused_total", "Offers of an address still held for another client's request, the range having no other.", st.OffersReused)
		counter("wwboot_dhcp_offers_limited_total", "DISCOVERs from clients that are not nodes left unanswered by the offer rate limits.", st.OffersLimited)
		counter("wwboot_dhcp_requests_refused_total", "REQUESTs answered with a NAK.", st.RequestsRefused)
		counter("wwboot_dhcp_unknown_network_total", "Requests unanswered: relayed from a network not in dhcp.networks, or a node's from a network without its address or a range.", st.UnknownNetwork)
	}
	if t != nil {
		st := t.Stats()
		counter("wwboot_tftp_requests_refused_total", "Read requests refused by the transfer limits.", st.Refused)
		counter("wwboot_tftp_transfers_evicted_total", "Transfers never acknowledged, stopped to make room for a new request.", st.Evicted)
	}
}

// reportMissingIpxe says which iPXE binaries of the tftp.ipxe map were
// not found. One for this server's own architecture is a warning: its
// nodes are most likely of that kind. Distributions ship iPXE for their
// own architecture only (Debian amd64 has no arm64 build), so one for
// another architecture is said once, as information.
func (n *netboot) reportMissingIpxe(missing []string, source string) {
	own := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	var mine, others []string
	for _, bin := range missing {
		if arch := tftp.IpxeArch(bin); arch != "" && arch != own {
			others = append(others, bin)
		} else {
			mine = append(mine, bin)
		}
	}
	searched := strings.Join(tftp.IpxeSearchPath(source, tftp.DefaultIpxeDirs()), ",")
	if len(mine) > 0 {
		n.log.Warn("iPXE binaries not found; install the ipxe package or set paths.ipxesource",
			"missing", strings.Join(mine, ","), "searched", searched)
	}
	if len(others) > 0 {
		n.log.Info("no iPXE binaries for other architectures: nodes that need them cannot boot from TFTP (set paths.ipxesource or tftp.ipxe to provide them)",
			"missing", strings.Join(others, ","), "searched", searched)
	}
}

// listenHost is the one address a listener on addr ("HOST:PORT")
// accepts on, or the zero value for every address.
func listenHost(addr string) netip.Addr {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.IsUnspecified() {
		return netip.Addr{}
	}
	return a.Unmap()
}

// grubLoaders finds the shims and GRUBs of tftp.shim and tftp.grub on
// this server: TFTP paths to files, and what is missing.
func (n *netboot) grubLoaders() (map[string]string, []string) {
	return tftp.ResolveGrub("", n.cfg.Tftp.ShimBinaries, n.cfg.Tftp.GrubBinaries)
}

// reportMissingGrub says which loaders were not found: an error with
// warewulf.grubboot (UEFI nodes of those architectures get iPXE, which
// Secure Boot refuses), else information (nodes tagged Boot: grub).
func (n *netboot) reportMissingGrub(missing []string) {
	if len(missing) == 0 {
		return
	}
	msg := "shim or GRUB not found: UEFI nodes of these architectures boot iPXE instead (install shim-signed and grub-efi-amd64-signed, or set tftp.shim and tftp.grub)"
	args := []any{"missing", strings.Join(missing, ","), "searched", tftp.LoaderSearchPath()}
	if n.cfg.Warewulf.GrubBoot {
		n.log.Error(msg, args...)
	} else {
		n.log.Debug(msg, args...)
	}
}

// netbootInterfaces are the interfaces of dhcp.interface, else the
// interface holding ipaddr, then those of dhcp.networks not listed yet.
func netbootInterfaces(c config.DhcpConf, serverIP netip.Addr) ([]string, error) {
	names := c.Interfaces()
	for _, name := range names {
		if _, err := net.InterfaceByName(name); err != nil {
			return nil, fmt.Errorf("dhcp.interface %q: %w", name, err)
		}
	}
	if len(names) == 0 {
		name, err := interfaceHolding(serverIP)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	for i, n := range c.Networks {
		if n.Interface == "" || slices.Contains(names, n.Interface) {
			continue
		}
		if _, err := net.InterfaceByName(n.Interface); err != nil {
			return nil, fmt.Errorf("dhcp.networks[%d].interface %q: %w", i, n.Interface, err)
		}
		names = append(names, n.Interface)
	}
	return names, nil
}

// dhcpNetworks converts dhcp.networks, which config has checked.
func dhcpNetworks(list []config.DhcpNetwork) ([]dhcp.Network, error) {
	var out []dhcp.Network
	for i, n := range list {
		key := fmt.Sprintf("dhcp.networks[%d]", i)
		prefix, err := n.Prefix()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		nw := dhcp.Network{Prefix: prefix, Interface: n.Interface}
		if nw.RangeStart, err = parseOptionalAddr(key+".range start", n.RangeStart); err != nil {
			return nil, err
		}
		if nw.RangeEnd, err = parseOptionalAddr(key+".range end", n.RangeEnd); err != nil {
			return nil, err
		}
		if nw.Gateway, err = parseOptionalAddr(key+".gateway", n.Gateway); err != nil {
			return nil, err
		}
		out = append(out, nw)
	}
	return out, nil
}

// interfaceHolding is the interface holding ipaddr.
func interfaceHolding(serverIP netip.Addr) (string, error) {
	if !serverIP.IsValid() {
		return "", errors.New("dhcp: set dhcp.interface or ipaddr in warewulf.conf to choose the interface to serve, or dhcp.mode: external to serve no DHCP")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return "", fmt.Errorf("dhcp: %w", err)
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, addr := range addrs {
			if ipn, ok := addr.(*net.IPNet); ok {
				if ip, ok := netip.AddrFromSlice(ipn.IP.To4()); ok && ip == serverIP {
					return ifc.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("dhcp: no interface holds ipaddr %s; set dhcp.interface", serverIP)
}

func parseOptionalAddr(key, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("%s %q is not an IPv4 address", key, s)
	}
	return a, nil
}
