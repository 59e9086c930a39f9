package overlay

import (
	"net"
	"net/netip"
	"path/filepath"
	"slices"
	"sort"
	"strconv"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
)

// Data is what a template executes with: Warewulf's TemplateStruct. It
// is passed by value; the node's fields are promoted from the embedded
// copy, and .ThisNode is the node itself with its methods.
type Data struct {
	Id            string
	Hostname      string
	BuildHost     string
	BuildTime     string
	BuildTimeUnix string
	BuildSource   string
	Overlay       string

	Ipaddr       string
	IpCIDR       string
	Netmask      string
	Network      string
	NetworkCIDR  string
	Ipaddr6      string
	PrefixLen6   string
	IpCIDR6      string
	Network6     string
	NetworkCIDR6 string
	Ipv6         bool

	Dhcp     DhcpConf
	Nfs      NfsConf
	Ssh      SshConf
	Warewulf WarewulfConf
	Wwclient WwclientConf
	Tftp     TftpConf
	Paths    PathsConf

	AllNodes []Node
	ThisNode *Node
	Node

	// Names of ImageName in Warewulf before 4.6.
	Container     string
	ContainerName string
}

// WarewulfConf is the "warewulf:" section of warewulf.conf, with the
// names Warewulf 4.7 gives templates (where it has methods, such as
// TLSEnabled, a field of the same name reads the same in a template)
// and the older ones (SecurePort, EnableTLS).
type WarewulfConf struct {
	Port              int
	TLSPort           int
	SecurePort        int
	Secure            bool
	SecureFiles       bool
	TLSEnabled        bool
	UpdateInterval    int
	AutobuildOverlays bool
	EnableHostOverlay bool
	EnableTLS         bool
	GrubBoot          bool
	Syslog            bool
	SystemdName       string
	// Warewulf 4.7's settings as written (nil: not set), behind its
	// methods above.
	SecureP, SecureFilesP, TLSEnabledP, AutobuildOverlaysP, EnableHostOverlayP, GrubBootP *bool
}

// DhcpConf is the "dhcp:" section.
type DhcpConf struct {
	Enabled     bool
	EnabledP    *bool // Warewulf 4.7's setting behind Enabled
	Mode        string
	Interface   string
	Template    string
	RangeStart  string
	RangeEnd    string
	Range6Start string
	Range6End   string
	SystemdName string
	// Networks are dhcp.networks, the networks besides the server's
	// (other interfaces, relays); Interfaces every interface DHCP is
	// served on: those of Interface, then those of Networks. Warewulf
	// has neither.
	Networks   []DhcpNetwork
	Interfaces []string
}

// DhcpNetwork is one of dhcp.networks.
type DhcpNetwork struct {
	Network, Netmask     string
	NetworkCIDR          string // Network/prefix length, such as 10.0.2.0/24
	RangeStart, RangeEnd string // both or neither
	Gateway              string
	Interface            string // "" for a network behind a relay
}

// WwclientConf is the "wwclient:" section.
type WwclientConf struct {
	Port int // fixed source port; 0: wwclient's own choice
}

// TftpConf is the "tftp:" section.
type TftpConf struct {
	Enabled      bool
	EnabledP     *bool // Warewulf 4.7's setting behind Enabled
	Mode         string
	TftpRoot     string
	SystemdName  string
	IpxeBinaries map[string]string
}

// NfsConf is the "nfs:" section.
type NfsConf struct {
	Enabled         bool
	EnabledP        *bool // Warewulf 4.7's setting behind Enabled
	ExportsExtended []*NfsExport
	SystemdName     string
}

// NfsExport is one exported path.
type NfsExport struct {
	Path          string
	ExportOptions string
}

// SshConf is the "ssh:" section.
type SshConf struct {
	KeyTypes []string
	// SharedHostKeys: every node gets the cluster's host keys, as in
	// Warewulf (which has no such field), not keys of its own.
	SharedHostKeys bool
}

// PathsConf is the "paths:" section, with Warewulf's field names.
type PathsConf struct {
	Bindir         string
	Sysconfdir     string
	Localstatedir  string
	Cachedir       string
	Ipxesource     string
	Srvdir         string
	Firewallddir   string
	Systemddir     string
	Datadir        string
	WWOverlaydir   string
	WWChrootdir    string
	WWProvisiondir string
	WWClientdir    string
	WWFilesdir     string
}

// NodesConf is the inventory's path.
func (p PathsConf) NodesConf() string { return filepath.Join(p.Sysconfdir, "warewulf", "nodes.conf") }

// AuthenticationConf is the REST API's users file.
func (p PathsConf) AuthenticationConf() string {
	return filepath.Join(p.Sysconfdir, "warewulf", "auth.conf")
}

func boolPtr(b bool) *bool { return &b }

// OciBlobCachedir is where image layers are cached.
func (p PathsConf) OciBlobCachedir() string { return filepath.Join(p.Cachedir, "warewulf") }

// SiteOverlaydir is the site overlay directory.
func (p PathsConf) SiteOverlaydir() string { return p.WWOverlaydir }

// DistributionOverlaydir is the shipped overlay directory on disk.
func (p PathsConf) DistributionOverlaydir() string {
	return filepath.Join(p.Datadir, "warewulf", "overlays")
}

// OverlayProvisiondir is where built overlays go.
func (p PathsConf) OverlayProvisiondir() string { return filepath.Join(p.WWProvisiondir, "overlays") }

// configView is the part of Data that depends only on warewulf.conf;
// it is computed once per build.
func configView(c *config.Config) Data {
	d := Data{
		Dhcp: DhcpConf{Enabled: c.Dhcp.Enabled, EnabledP: boolPtr(c.Dhcp.Enabled), Mode: c.Dhcp.Mode, Interface: c.Dhcp.Interface, Template: c.Dhcp.Template,
			RangeStart: c.Dhcp.RangeStart, RangeEnd: c.Dhcp.RangeEnd, Range6Start: c.Dhcp.Range6Start,
			Range6End: c.Dhcp.Range6End, SystemdName: c.Dhcp.SystemdName},
		Ssh: SshConf{KeyTypes: c.SSH.KeyTypes, SharedHostKeys: c.SSH.SharedHostKeys},
		Warewulf: WarewulfConf{Port: c.Warewulf.Port, TLSPort: c.Warewulf.TLSPort, SecurePort: c.Warewulf.TLSPort,
			Secure: c.Warewulf.Secure, SecureFiles: c.Warewulf.SecureFiles, TLSEnabled: c.Warewulf.TLS,
			UpdateInterval: c.Warewulf.UpdateInterval, AutobuildOverlays: c.Warewulf.AutobuildOverlays,
			EnableHostOverlay: c.Warewulf.HostOverlay, EnableTLS: c.Warewulf.TLS, GrubBoot: c.Warewulf.GrubBoot,
			SystemdName: c.Warewulf.SystemdName,
			SecureP:     boolPtr(c.Warewulf.Secure), SecureFilesP: boolPtr(c.Warewulf.SecureFiles),
			TLSEnabledP: boolPtr(c.Warewulf.TLS), AutobuildOverlaysP: boolPtr(c.Warewulf.AutobuildOverlays),
			EnableHostOverlayP: boolPtr(c.Warewulf.HostOverlay), GrubBootP: boolPtr(c.Warewulf.GrubBoot)},
		Wwclient: WwclientConf{Port: c.Wwclient.Port},
		Tftp: TftpConf{Enabled: c.Tftp.Enabled, EnabledP: boolPtr(c.Tftp.Enabled), Mode: c.Tftp.Mode, TftpRoot: c.Tftp.TftpRoot,
			SystemdName: c.Tftp.SystemdName, IpxeBinaries: c.Tftp.IpxeBinaries},
		Nfs: NfsConf{Enabled: c.Nfs.Enabled, EnabledP: boolPtr(c.Nfs.Enabled), SystemdName: c.Nfs.SystemdName},
		Paths: PathsConf{Bindir: c.Paths.Bindir, Sysconfdir: c.Paths.Sysconfdir, Localstatedir: c.Paths.Localstatedir,
			Cachedir: c.Paths.Cachedir, Ipxesource: c.Paths.Ipxesource, Srvdir: c.Paths.Srvdir,
			Firewallddir: c.Paths.Firewallddir, Systemddir: c.Paths.Systemddir, Datadir: c.Paths.Datadir,
			WWOverlaydir: c.Paths.Wwoverlaydir, WWChrootdir: c.Paths.Wwchrootdir, WWProvisiondir: c.Paths.Wwprovisiondir,
			WWClientdir: c.Paths.Wwclientdir, WWFilesdir: c.Paths.Wwfilesdir},
	}
	d.Dhcp.Interfaces = c.Dhcp.Interfaces()
	for _, n := range c.Dhcp.Networks {
		dn := DhcpNetwork{Network: n.Network, Netmask: n.Netmask, RangeStart: n.RangeStart, RangeEnd: n.RangeEnd,
			Gateway: n.Gateway, Interface: n.Interface}
		if p, err := n.Prefix(); err == nil {
			dn.NetworkCIDR = p.Masked().String()
		}
		d.Dhcp.Networks = append(d.Dhcp.Networks, dn)
		if n.Interface != "" && !slices.Contains(d.Dhcp.Interfaces, n.Interface) {
			d.Dhcp.Interfaces = append(d.Dhcp.Interfaces, n.Interface)
		}
	}
	for _, e := range c.Nfs.ExportPaths {
		d.Nfs.ExportsExtended = append(d.Nfs.ExportsExtended, &NfsExport{Path: e.Path, ExportOptions: e.ExportOptions})
	}
	d.Ipaddr, d.Netmask, d.Network = c.Ipaddr, c.Netmask, c.Network
	if p, err := netip.ParsePrefix(c.Ipaddr); err == nil { // a CIDR ipaddr
		d.Ipaddr = p.Addr().String()
	}
	if a, err := netip.ParseAddr(d.Ipaddr); err == nil && a.Is4() {
		if m := net.ParseIP(d.Netmask).To4(); m != nil {
			if ones, bits := net.IPMask(m).Size(); bits != 0 {
				d.IpCIDR = a.String() + "/" + strconv.Itoa(ones)
				if d.Network == "" {
					d.Network = netip.PrefixFrom(a, ones).Masked().Addr().String()
				}
				d.NetworkCIDR = d.Network + "/" + strconv.Itoa(ones)
			}
		}
	}
	d.Ipaddr6 = c.Ipaddr6
	if c.Ipaddr6 != "" {
		addr, bits := c.Ipaddr6, c.Prefixlen6
		if p, err := netip.ParsePrefix(c.Ipaddr6); err == nil {
			addr, bits = p.Addr().String(), p.Bits()
		}
		// As in Warewulf, templates see IPv6 on only with a prefix
		// length too (prefixlen6, or ipaddr6 in CIDR form).
		d.Ipv6 = bits > 0
		if bits > 0 {
			d.PrefixLen6 = strconv.Itoa(bits)
			if a, err := netip.ParseAddr(addr); err == nil {
				d.IpCIDR6 = a.String() + "/" + d.PrefixLen6
				d.Network6 = netip.PrefixFrom(a, bits).Masked().Addr().String()
				d.NetworkCIDR6 = d.Network6 + "/" + d.PrefixLen6
			}
		}
	}
	return d
}

// nodeSet is every node of the inventory converted once per build, in
// AllNodes order: by cluster name, then name in natural order (Warewulf
// compares names as bytes; README, "Where this differs").
type nodeSet struct {
	all   []Node
	index map[string]int
}

func newNodeSet(merged []*inventory.Merged) *nodeSet {
	s := &nodeSet{index: make(map[string]int, len(merged))}
	for _, m := range merged {
		s.all = append(s.all, *newNode(m))
	}
	sort.SliceStable(s.all, func(i, j int) bool {
		if s.all[i].ClusterName != s.all[j].ClusterName {
			return s.all[i].ClusterName < s.all[j].ClusterName
		}
		return inventory.NaturalLess(s.all[i].id, s.all[j].id)
	})
	for i := range s.all {
		s.index[s.all[i].id] = i
	}
	return s
}

// data returns the template data for one node (nil: the server itself,
// as for the host overlay, named host).
func (s *nodeSet) data(base Data, n *Node, host string) Data {
	d := base
	d.AllNodes = s.all
	if n == nil {
		n = &Node{id: host, server: true, Profile: Profile{ClusterName: host, Kernel: &KernelConf{}, Ipmi: &IpmiConf{Tags: map[string]string{}},
			NetDevs: map[string]*NetDev{}, Tags: map[string]string{}, Disks: map[string]*Disk{},
			FileSystems: map[string]*FileSystem{}, Resources: map[string]any{}}}
	}
	d.ThisNode = n
	d.Node = topLevel(n)
	d.Id = n.id
	d.Hostname = n.id
	d.Container = n.ImageName
	d.ContainerName = n.ImageName
	return d
}

// lookup returns the node named name, or nil.
func (s *nodeSet) lookup(name string) *Node {
	i, ok := s.index[name]
	if !ok {
		return nil
	}
	n := s.all[i]
	return &n
}
