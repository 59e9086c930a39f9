package site

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/overlay"
)

// DHCPPlan is what "configure dhcp" found or did.
type DHCPPlan struct {
	// Served says who answers the nodes' DHCP: "wwctl server" (embedded
	// or proxy mode), "external" or "" (dhcp.enabled is false).
	Served string
	Mode   string
	// Interface and Address are what the embedded server serves on
	// (dhcp.interface, ipaddr), Range its dynamic range.
	Interface, Address, Range string
	// Written are the server's files rendered from the host overlay
	// (external mode).
	Written []string
	// Service is the systemd unit of the external DHCP server.
	Service string
}

// ConfigureDHCP does what Warewulf's "configure dhcp" does, in this
// design: with the embedded (or proxy) DHCP server it checks the dhcp
// section and says what "wwctl server" will serve; with dhcp.mode
// external it writes the external server's configuration from the host
// overlay (dnsmasq's when dhcp.systemd name is dnsmasq, else ISC dhcpd's)
// under <sysconfdir>. It starts no service.
func (s *Site) ConfigureDHCP() (*DHCPPlan, error) {
	d := s.cfg.Dhcp
	plan := &DHCPPlan{Mode: d.Mode, Service: d.SystemdName}
	if !d.Enabled {
		return plan, nil
	}
	var rng []string
	for _, kv := range [][2]string{{"dhcp.range start", d.RangeStart}, {"dhcp.range end", d.RangeEnd}} {
		if kv[1] == "" {
			continue
		}
		if _, err := netip.ParseAddr(kv[1]); err != nil {
			return nil, fmt.Errorf("warewulf.conf: %s %q is not an address", kv[0], kv[1])
		}
		rng = append(rng, kv[1])
	}
	plan.Range = strings.Join(rng, "-")
	if d.Mode != config.ModeExternal {
		plan.Served = "wwctl server"
		plan.Interface, plan.Address = d.Interface, s.cfg.Ipaddr
		if plan.Interface == "" && plan.Address == "" {
			return nil, errors.New("warewulf.conf: set ipaddr (or dhcp.interface) so that wwctl server knows which network to serve DHCP on, or dhcp.mode: external")
		}
		return plan, nil
	}
	plan.Served = "external"
	files := []string{"etc/dhcp/dhcpd.conf.ww", "etc/dhcpd.conf"}
	if strings.Contains(d.SystemdName, "dnsmasq") {
		files = []string{"etc/dnsmasq.d/ww4-hosts.conf.ww", "etc/dnsmasq.d/ww4-listen.conf.ww"}
	}
	written, err := s.WriteHostFiles(files...)
	plan.Written = written
	return plan, err
}

// WriteHostFiles renders files of the host overlay for the server itself
// and writes what they make on the server: a path under etc/ goes under
// <sysconfdir>, as the relocatable paths of warewulf.conf want. A
// template that renders to nothing writes nothing.
func (s *Site) WriteHostFiles(files ...string) ([]string, error) {
	snap, err := s.Snapshot()
	if err != nil {
		return nil, err
	}
	r, err := snap.Renderer("host")
	if err != nil {
		return nil, err
	}
	var written []string
	for _, f := range files {
		entries, err := r.RenderFile(nil, "host", "host", f)
		if err != nil {
			return written, fmt.Errorf("host overlay %s: %w", f, err)
		}
		for _, e := range entries {
			p, err := s.hostPath(e.Path)
			if err != nil {
				return written, err
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return written, err
			}
			switch e.Kind {
			case overlay.KindSymlink:
				if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return written, err
				}
				if err := os.Symlink(e.Target, p); err != nil {
					return written, err
				}
			case overlay.KindDir:
				continue
			default:
				if err := atomicfile.WriteFile(p, e.Data, e.Mode.Perm()); err != nil {
					return written, err
				}
			}
			written = append(written, p)
		}
	}
	return written, nil
}

// hostPath is where a host overlay path lands on the server.
func (s *Site) hostPath(p string) (string, error) {
	p = path.Clean(p)
	rest, ok := strings.CutPrefix(p, "etc/")
	if !ok {
		return "", fmt.Errorf("host overlay file %s is not under etc/", p)
	}
	return filepath.Join(s.cfg.Paths.Sysconfdir, filepath.FromSlash(rest)), nil
}
