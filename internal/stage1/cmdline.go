package stage1

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/contract"
)

// Params are what stage one reads from the kernel command line, put
// there by the iPXE template's twostage method.
type Params struct {
	// HWAddr is the boot interface's hardware address (wwid=).
	HWAddr net.HardwareAddr
	// Server is the daemon's base URL (wwserver=http://IP:PORT).
	Server string
	// Token proves to the daemon that requests come from the node
	// (wwtoken=); AssetKey and UUID are the node's (wwassetkey=,
	// wwuuid=) as iPXE read them.
	Token, AssetKey, UUID string
	// Root is the node's root field (wwroot=): initramfs, tmpfs or
	// ramfs give a tmpfs (ramfs) root; a block device is mounted
	// instead, named by its /dev path, by udev's /dev/disk/by-label,
	// by-uuid, by-partlabel or by-partuuid link, or as LABEL=, UUID=,
	// PARTLABEL= or PARTUUID= (see parseRootDev).
	Root string
	// TmpfsSize is the tmpfs size option (wwinit.tmpfs.size=).
	TmpfsSize string
	// Compress is the compression asked of the daemon (wwcompress=):
	// zst (default) or gz.
	Compress string
	// Static is the address of ip=CLIENT::GW:NETMASK:..., nil for DHCP.
	Static *StaticIP
	// Attempts is how many times the whole boot is tried before a reboot
	// (wwstage1.attempts=, default 10).
	Attempts int
}

// StaticIP is an address from the kernel's ip= argument.
type StaticIP struct {
	Addr    net.IPNet
	Gateway net.IP
}

// ParseCmdline reads the kernel command line.
func ParseCmdline(cmdline string) (*Params, error) {
	p := &Params{Root: "initramfs", Compress: "zst", Attempts: 10}
	for _, arg := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(arg, "=")
		switch k {
		case contract.ArgWWID:
			hw, err := net.ParseMAC(v)
			if err != nil {
				return nil, fmt.Errorf("wwid=%s is not a hardware address", v)
			}
			p.HWAddr = hw
		case contract.ArgServer:
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("wwserver=%s is not an http:// or https:// URL", v)
			}
			p.Server = strings.TrimSuffix(v, "/")
		case contract.ArgToken:
			p.Token = v
		case contract.ArgAssetKey:
			p.AssetKey = v
		case contract.ArgUUID:
			p.UUID = v
		case contract.ArgRoot:
			if v != "" {
				p.Root = v
			}
		case "wwinit.tmpfs.size":
			p.TmpfsSize = v
		case contract.ArgCompress:
			switch v {
			case "gz", "zst":
				p.Compress = v
			default:
				return nil, fmt.Errorf("wwcompress=%s: want gz or zst", v)
			}
		case "wwstage1.attempts":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return nil, fmt.Errorf("wwstage1.attempts=%s: want a positive number", v)
			}
			p.Attempts = n
		case "ip":
			s, err := parseIP(v)
			if err != nil {
				return nil, err
			}
			p.Static = s
		}
	}
	if p.HWAddr == nil {
		return nil, fmt.Errorf("no wwid= (the boot interface's hardware address) on the kernel command line")
	}
	if p.Server == "" {
		return nil, fmt.Errorf("no wwserver= (the provisioning server) on the kernel command line")
	}
	switch p.Root {
	case "initramfs", "tmpfs", "ramfs":
	default:
		if _, err := parseRootDev(p.Root); err != nil {
			return nil, fmt.Errorf("wwroot=%w", err)
		}
	}
	return p, nil
}

// parseIP reads the kernel's ip= argument; "dhcp" and the other
// autoconfiguration words mean DHCP (nil).
func parseIP(v string) (*StaticIP, error) {
	switch v {
	case "", "dhcp", "on", "any", "both", "bootp", "rarp":
		return nil, nil
	}
	// ip=<client>:<server>:<gw>:<netmask>:<hostname>:<device>:<autoconf>
	f := strings.Split(v, ":")
	for len(f) < 4 {
		f = append(f, "")
	}
	ip := net.ParseIP(f[0]).To4()
	if ip == nil {
		return nil, fmt.Errorf("ip=%s: %q is not an IPv4 address", v, f[0])
	}
	mask := net.IPv4Mask(255, 255, 255, 0)
	if f[3] != "" {
		m := net.ParseIP(f[3]).To4()
		if m == nil {
			return nil, fmt.Errorf("ip=%s: netmask %q is not an IPv4 mask", v, f[3])
		}
		mask = net.IPMask(m)
	}
	s := &StaticIP{Addr: net.IPNet{IP: ip, Mask: mask}}
	if f[2] != "" {
		if s.Gateway = net.ParseIP(f[2]).To4(); s.Gateway == nil {
			return nil, fmt.Errorf("ip=%s: gateway %q is not an IPv4 address", v, f[2])
		}
	}
	return s, nil
}

// query is the query string of every request: what the iPXE script's
// requests carry.
func (p *Params) query() url.Values {
	q := url.Values{}
	if p.AssetKey != "" {
		q.Set(contract.QueryAssetKey, p.AssetKey)
	}
	if p.UUID != "" {
		q.Set(contract.QueryUUID, p.UUID)
	}
	if p.Token != "" {
		q.Set(contract.QueryToken, p.Token)
	}
	q.Set(contract.QueryCompress, p.Compress)
	return q
}
