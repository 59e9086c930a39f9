package site

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/overlay"
)

// DHCPPlan is what "configure dhcp" found or did.
type DHCPPlan struct {
	ConfigureReport
	// Served says who answers the nodes' DHCP: "wwctl server" (embedded
	// or proxy mode), "external" or "" (dhcp.enabled is false).
	Served string
	Mode   string
	// Interface and Address are what the embedded server serves on
	// (dhcp.interface, ipaddr), Range its dynamic range.
	Interface, Address, Range string
	// Server names the external DHCP server (external mode), Service its
	// systemd unit (dhcp.systemd name).
	Server, Service string
}

// dhcpServer is an external DHCP server "configure dhcp" writes for.
type dhcpServer struct {
	name string
	// units are the systemd names that choose it.
	units []string
	// files are the host overlay templates of its configuration.
	files []string
	// program checks the configuration; check gives its arguments for
	// the candidate files (server path -> path of the candidate), and
	// may write a wrapper into dir.
	program string
	check   func(dir string, files map[string]string) ([]string, error)
}

// dhcpServers are the external servers, chosen by dhcp.systemd name as
// Warewulf does ("dhcpd", "dnsmasq"), and Kea, which replaces ISC dhcpd.
func dhcpServers() []dhcpServer {
	return []dhcpServer{
		{
			name:    "ISC dhcpd",
			units:   []string{"dhcpd", "isc-dhcp-server"},
			files:   []string{"etc/dhcp/dhcpd.conf.ww", "etc/dhcpd.conf"},
			program: "dhcpd",
			check: func(_ string, files map[string]string) ([]string, error) {
				for dst, cand := range files {
					if filepath.Base(dst) == "dhcpd.conf" && filepath.Base(filepath.Dir(dst)) == "dhcp" {
						return []string{"-t", "-cf", cand}, nil
					}
				}
				return nil, nil
			},
		},
		{
			name:    "dnsmasq",
			units:   []string{"dnsmasq"},
			files:   []string{"etc/dnsmasq.d/ww4-hosts.conf.ww", "etc/dnsmasq.d/ww4-listen.conf.ww"},
			program: "dnsmasq",
			check: func(dir string, files map[string]string) ([]string, error) {
				// The snippets are checked together, included by a main
				// file as dnsmasq.conf includes /etc/dnsmasq.d.
				var main strings.Builder
				for _, dst := range slices.Sorted(maps.Keys(files)) {
					fmt.Fprintf(&main, "conf-file=%s\n", files[dst])
				}
				p := filepath.Join(dir, "dnsmasq.conf")
				if err := os.WriteFile(p, []byte(main.String()), 0o600); err != nil {
					return nil, err
				}
				return []string{"--test", "--conf-file=" + p}, nil
			},
		},
		{
			name:    "Kea",
			units:   []string{"kea-dhcp4-server", "kea-dhcp4", "kea"},
			files:   []string{"etc/kea/kea-dhcp4.conf.ww"},
			program: "kea-dhcp4",
			check: func(_ string, files map[string]string) ([]string, error) {
				for _, cand := range files {
					return []string{"-t", cand}, nil
				}
				return nil, nil
			},
		},
	}
}

// dhcpServerFor is the external server dhcp.systemd name names.
func dhcpServerFor(unit string) (*dhcpServer, error) {
	name := strings.TrimSuffix(unit, ".service")
	var known []string
	for _, srv := range dhcpServers() {
		if slices.Contains(srv.units, name) {
			return &srv, nil
		}
		known = append(known, srv.units...)
	}
	return nil, fmt.Errorf("warewulf.conf: dhcp.systemd name %q is no DHCP server wwctl configures: use one of %s", unit, strings.Join(known, ", "))
}

// ConfigureDHCP does what Warewulf's "configure dhcp" does, in this
// design. With the embedded (or proxy) DHCP server it checks the dhcp
// section and says what "wwctl server" serves and which external DHCP
// service to turn off. With dhcp.mode external it renders the external
// server's configuration from the host overlay (the server chosen by
// dhcp.systemd name: ISC dhcpd, dnsmasq or Kea), checks it with the
// server's own program, installs what changed (keeping .wwbackup) and
// enables and (re)starts the service. A configuration the program
// rejects is refused with its message, and nothing is installed.
func (s *Site) ConfigureDHCP(ctx context.Context, opts ConfigureOptions) (*DHCPPlan, error) {
	d := s.cfg.Dhcp
	plan := &DHCPPlan{Mode: d.Mode, Service: d.SystemdName}
	if !d.Enabled {
		return plan, nil
	}
	rng, err := s.dhcpRange()
	if err != nil {
		return nil, err
	}
	plan.Range = rng
	if d.Mode != config.ModeExternal {
		plan.Served = "wwctl server"
		plan.Interface, plan.Address = d.Interface, s.cfg.Ipaddr
		if plan.Interface == "" && plan.Address == "" {
			return nil, errors.New("warewulf.conf: set ipaddr (or dhcp.interface) so that wwctl server knows which network to serve DHCP on, or dhcp.mode: external")
		}
		s.activeDHCPServices(ctx, plan)
		return plan, nil
	}
	plan.Served = "external"
	srv, err := dhcpServerFor(d.SystemdName)
	if err != nil {
		return nil, err
	}
	plan.Server = srv.name
	files, err := s.renderHostFiles(srv.files...)
	if err != nil {
		return nil, err
	}
	if err := s.checkDHCP(ctx, &plan.ConfigureReport, srv, files); err != nil {
		return nil, err
	}
	plan.Files, err = installHostFiles(files, opts.Show)
	if err != nil {
		return plan, err
	}
	return plan, s.systemdStart(ctx, &plan.ConfigureReport, d.SystemdName, plan.Changed(), opts.Show)
}

// dhcpRange checks dhcp.range start and end against the network of
// ipaddr and netmask (or network) and returns "START-END".
func (s *Site) dhcpRange() (string, error) {
	d := s.cfg.Dhcp
	var network netip.Prefix
	if mask, err := netip.ParseAddr(s.cfg.Netmask); err == nil && mask.Is4() {
		bits := 0
		for _, b := range mask.As4() {
			for ; b&0x80 != 0; b <<= 1 {
				bits++
			}
		}
		base := s.cfg.Network
		if base == "" {
			base = s.cfg.Ipaddr
		}
		if a, err := netip.ParseAddr(base); err == nil && a.Is4() {
			network = netip.PrefixFrom(a, bits).Masked()
		}
	}
	var rng []string
	for _, kv := range [][2]string{{"dhcp.range start", d.RangeStart}, {"dhcp.range end", d.RangeEnd}} {
		if kv[1] == "" {
			continue
		}
		a, err := netip.ParseAddr(kv[1])
		if err != nil {
			return "", fmt.Errorf("warewulf.conf: %s %q is not an address", kv[0], kv[1])
		}
		if network.IsValid() && !network.Contains(a) {
			return "", fmt.Errorf("warewulf.conf: %s %s is outside the network %s (ipaddr %s, netmask %s)", kv[0], a, network, s.cfg.Ipaddr, s.cfg.Netmask)
		}
		rng = append(rng, kv[1])
	}
	return strings.Join(rng, "-"), nil
}

// checkDHCP runs the server's own check on the rendered files, written
// to a temporary directory; a rejected configuration is an error with
// the program's message. Without the program it says the files were
// not checked.
func (s *Site) checkDHCP(ctx context.Context, r *ConfigureReport, srv *dhcpServer, files []hostFile) error {
	prog := findProgram(srv.program)
	if prog == "" {
		r.note("%s is not installed here: the configuration is not checked", srv.program)
		return nil
	}
	dir, err := os.MkdirTemp("", "wwctl-configure-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cands := map[string]string{}
	var replacer []string
	for i, f := range files {
		if f.entry.Kind == overlay.KindSymlink {
			continue // a link to another of the files
		}
		p := filepath.Join(dir, fmt.Sprintf("%d-%s", i, filepath.Base(f.path)))
		if err := os.WriteFile(p, f.entry.Data, 0o600); err != nil {
			return err
		}
		cands[f.path] = p
		replacer = append(replacer, p, f.path)
	}
	if len(cands) == 0 {
		return nil
	}
	args, err := srv.check(dir, cands)
	if err != nil || args == nil {
		return err
	}
	out, err := s.cmds.Run(ctx, prog, args...)
	if err != nil {
		var exit *exec.ExitError
		if !errors.As(err, &exit) {
			return fmt.Errorf("check the %s configuration with %s: %w", srv.name, prog, err)
		}
		msg := strings.NewReplacer(replacer...).Replace(checkMessage(string(out)))
		return fmt.Errorf("%s %s rejects the configuration rendered from the host overlay; nothing was installed:\n%s",
			srv.program, strings.Join(slices.Sorted(maps.Keys(cands)), ", "), msg)
	}
	r.note("%s accepts the configuration", srv.program)
	return nil
}

// checkMessage is a check program's output without ISC dhcpd's banner
// and its advice about bug reports.
func checkMessage(out string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "If you think you have received this message") {
			break
		}
		switch {
		case strings.HasPrefix(l, "Internet Systems Consortium"), strings.HasPrefix(l, "Copyright 2004-"),
			l == "All rights reserved.", strings.HasPrefix(l, "For info, please visit"),
			strings.HasPrefix(l, "Config file:"), strings.HasPrefix(l, "Database file:"), strings.HasPrefix(l, "PID file:"),
			strings.Contains(l, " INFO  ["), strings.TrimSpace(l) == "":
			continue
		}
		lines = append(lines, "  "+l)
	}
	return strings.Join(lines, "\n")
}

// findProgram is the path of an administrator's program, also in the
// sbin directories a user's PATH may lack; "" when there is none.
func findProgram(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// activeDHCPServices notes the external DHCP services systemd runs
// while wwctl server answers DHCP itself.
func (s *Site) activeDHCPServices(ctx context.Context, plan *DHCPPlan) {
	if !s.cmds.Systemd() {
		return
	}
	for _, srv := range dhcpServers() {
		for _, unit := range srv.units {
			out, err := s.cmds.Run(ctx, "systemctl", "is-active", unit)
			if err != nil || strings.TrimSpace(string(out)) != "active" {
				continue
			}
			if plan.Mode == config.ModeProxy {
				plan.note("%s (%s) is active: in proxy mode it keeps handing out addresses, but must not offer boot files (wwctl server adds them)", unit, srv.name)
			} else {
				plan.note("%s (%s) is active and would answer the nodes too: turn it off with systemctl disable --now %s", unit, srv.name, unit)
			}
		}
	}
}
