// Package config reads, checks and writes warewulf.conf, the server
// configuration file, in the format of Warewulf v4 so that an existing site's
// file loads unchanged.
//
// A Config always holds effective values: Parse and Default fill in defaults,
// derived paths and inherited settings, so consumers read fields directly and
// never need to know which values came from the file.
package config

import (
	_ "embed" // for the shipped warewulf.conf
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"unicode"
)

// DefaultPath is where the server configuration lives on a packaged install.
const DefaultPath = "/etc/warewulf/warewulf.conf"

// shippedConf is the commented default file an administrator copies to
// DefaultPath. It is a string, not a []byte, so that nobody can modify it.
//
//go:embed warewulf.conf
var shippedConf string

// DefaultFile returns the commented default warewulf.conf shipped with the
// program. Parsing it yields exactly Default().
func DefaultFile() []byte { return []byte(shippedConf) }

// Values accepted by the enumerated keys.
const (
	ModeEmbedded = "embedded" // served by the provisioning daemon itself
	ModeProxy    = "proxy"    // dhcp only: proxy DHCP next to another server
	ModeExternal = "external" // an external service configured by wwctl configure

	TemplateDefault = "default" // dynamic range
	TemplateStatic  = "static"  // one fixed entry per node
)

// Config is the content of warewulf.conf. The yaml tags are Warewulf's key
// names; Marshal writes them and Parse reads them.
type Config struct {
	Comment string `yaml:"comment,omitempty"`
	// Ipaddr is the server's IPv4 address on the cluster network. Empty
	// means not configured; nothing in this package detects it.
	Ipaddr  string `yaml:"ipaddr,omitempty"`
	Netmask string `yaml:"netmask,omitempty"`
	Network string `yaml:"network,omitempty"`
	// Ipaddr6 is the server's IPv6 address; with a prefix length
	// (Prefixlen6, or ADDR/LEN here) it enables IPv6, as in Warewulf.
	Ipaddr6 string `yaml:"ipaddr6,omitempty"`
	// Prefixlen6 is the IPv6 prefix length; 0 means not configured.
	Prefixlen6 int    `yaml:"prefixlen6,omitempty"`
	Fqdn       string `yaml:"fqdn,omitempty"`

	Warewulf WarewulfConf `yaml:"warewulf"`
	API      APIConf      `yaml:"api"`
	Dhcp     DhcpConf     `yaml:"dhcp"`
	Tftp     TftpConf     `yaml:"tftp"`
	Nfs      NfsConf      `yaml:"nfs"`
	SSH      SSHConf      `yaml:"ssh"`
	// ImageMounts are bind mounts into an image during image exec/shell.
	// Warewulf before 4.6 called the key "container mounts".
	ImageMounts []MountEntry `yaml:"image mounts"`
	// ImageExcludes are left out of every image build, as wwvnfs's
	// excludes were: shell patterns, a leading "/" anchors at the image
	// root, a trailing "/" matches directories only. An image adds its own
	// in <rootfs>/etc/warewulf/excludes.
	ImageExcludes []string `yaml:"image excludes"`
	// ImageImport bounds what "wwctl image import" unpacks.
	ImageImport ImageImportConf `yaml:"image import"`
	// IPMI is how wwctl and the API talk to the nodes' BMCs.
	IPMI     IPMIConf     `yaml:"ipmi"`
	Wwclient WwclientConf `yaml:"wwclient"`
	Paths    PathsConf    `yaml:"paths"`
}

// ImageImportConf is the "image import" section: limits that stop a
// hostile or broken source (a sparse file of terabytes, millions of
// entries, a directory chain thousands deep) instead of filling the disk
// or leaving an image that cannot be built. The defaults are far above
// what a real operating system image holds.
type ImageImportConf struct {
	// MaxSizeGiB bounds the total size of the regular files unpacked, in
	// GiB (a sparse file counts for its apparent size).
	MaxSizeGiB int `yaml:"max size gib"`
	// MaxEntries bounds the number of files, directories, links, ...
	MaxEntries int `yaml:"max entries"`
	// MaxPathLength bounds a path in the image, in bytes.
	MaxPathLength int `yaml:"max path length"`
	// MaxDepth bounds the number of components of a path in the image.
	MaxDepth int `yaml:"max depth"`
}

// IPMIConf is the "ipmi" section: the nodes' BMCs as "wwctl power",
// "wwctl node sensors" and the API talk to them.
type IPMIConf struct {
	// Timeout bounds, in seconds, everything done with one BMC for one
	// command (session, command, close): a dead, slow or refusing BMC
	// costs its node this long and never holds up the others.
	Timeout int `yaml:"timeout"`
	// RedfishCA is a PEM file of the certificates (CAs, or the BMCs' own)
	// that Redfish BMCs' HTTPS certificates are verified against; "" is
	// the system's roots.
	RedfishCA string `yaml:"redfish ca,omitempty"`
	// RedfishInsecure skips the verification of Redfish BMCs'
	// certificates: anyone on the path can then read the BMC password.
	RedfishInsecure bool `yaml:"redfish insecure,omitempty"`
}

// DefaultIPMITimeout is ipmi.timeout's default, in seconds.
const DefaultIPMITimeout = 10

// WarewulfConf is the "warewulf" section: the provisioning daemon.
type WarewulfConf struct {
	Port    int  `yaml:"port"`
	TLSPort int  `yaml:"tls port"`
	TLS     bool `yaml:"tls"`
	// Secure requires a privileged client source port for /runtime/.
	Secure bool `yaml:"secure"`
	// SecureFiles does the same for /files/; it follows Secure when the
	// file does not set it.
	SecureFiles bool `yaml:"secure files"`
	// UpdateInterval is the seconds between wwclient's contacts; 0, as
	// in Warewulf, means DefaultPollSeconds (see PollSeconds).
	UpdateInterval    int  `yaml:"update interval"`
	AutobuildOverlays bool `yaml:"autobuild overlays"`
	// HostOverlay allows wwctl configure to render the host overlay onto /.
	HostOverlay bool `yaml:"host overlay"`
	GrubBoot    bool `yaml:"grubboot"`
	// MaxConnections bounds the HTTP(S) connections the daemon holds
	// open at once; the daemon lowers it below its open-file limit.
	// Beyond it, accepting pauses and idle connections are closed first.
	MaxConnections int `yaml:"max connections"`
	// MaxClientConnections bounds the open connections of one client
	// address; connections beyond it are closed at once.
	MaxClientConnections int `yaml:"max connections per client"`
	// IdleClientConnections is how many idle keep-alive connections of
	// one client address are kept for IdleTimeout; further idle ones are
	// closed after a few seconds.
	IdleClientConnections int `yaml:"idle connections per client"`
	// IdleTimeout is the seconds an idle keep-alive connection is kept.
	IdleTimeout int    `yaml:"idle timeout"`
	SystemdName string `yaml:"systemd name,omitempty"`
}

// DefaultPollSeconds is wwclient's interval when update interval is 0,
// as in Warewulf.
const DefaultPollSeconds = 300

// PollSeconds is the seconds between a node's wwclient contacts.
func (w *WarewulfConf) PollSeconds() int {
	if w.UpdateInterval == 0 {
		return DefaultPollSeconds
	}
	return w.UpdateInterval
}

// APIConf is the "api" section: the REST API under /api/.
type APIConf struct {
	Enabled bool `yaml:"enabled"`
	TLS     bool `yaml:"tls"`
	// AllowedSubnets are CIDR prefixes of the clients allowed to use the API.
	AllowedSubnets []string `yaml:"allowed subnets"`
	// MaxFailedLogins is how many failed logins one client address may
	// make at once, and on average per FailedLoginWindow seconds; beyond
	// that the API answers 429 without checking the password.
	MaxFailedLogins   int `yaml:"max failed logins"`
	FailedLoginWindow int `yaml:"failed login window"`
}

// DhcpConf is the "dhcp" section.
type DhcpConf struct {
	Enabled bool `yaml:"enabled"`
	// Mode is ModeEmbedded, ModeProxy or ModeExternal.
	Mode string `yaml:"mode"`
	// Interface is the interface the embedded server listens on, or
	// several separated by commas or spaces (VLAN interfaces such as
	// eth0.1000 included; Interfaces splits them); empty means the one
	// that holds Ipaddr. The interfaces of Networks are served too.
	Interface   string `yaml:"interface,omitempty"`
	Template    string `yaml:"template"`
	RangeStart  string `yaml:"range start,omitempty"`
	RangeEnd    string `yaml:"range end,omitempty"`
	Range6Start string `yaml:"range6 start,omitempty"`
	Range6End   string `yaml:"range6 end,omitempty"`
	SystemdName string `yaml:"systemd name"`
	// OfferHold is the seconds an address offered to a client that is
	// not a node stays reserved for its REQUEST (embedded server).
	OfferHold int `yaml:"offer hold"`
	// OffersPerSecond bounds the embedded server's offers to clients
	// that are not nodes, all together; nodes are never limited.
	OffersPerSecond int `yaml:"offers per second"`
	// ClientOffersPerMinute bounds those offers to one hardware address.
	ClientOffersPerMinute int `yaml:"client offers per minute"`
	// Networks are the embedded server's networks besides the one of
	// Ipaddr, Network and Netmask with RangeStart and RangeEnd: those of
	// other interfaces (VLANs) and those behind DHCP relays.
	Networks []DhcpNetwork `yaml:"networks,omitempty"`
}

// DhcpNetwork is one item of dhcp.networks: a network the embedded
// DHCP server gives addresses on. A request relayed by a DHCP relay
// agent is answered from the network holding its relay address
// (giaddr); one arriving directly from the network of its interface.
type DhcpNetwork struct {
	Network string `yaml:"network"`
	Netmask string `yaml:"netmask"`
	// RangeStart and RangeEnd bound the dynamic range for clients that
	// are not nodes; unset means such clients get nothing there.
	RangeStart string `yaml:"range start,omitempty"`
	RangeEnd   string `yaml:"range end,omitempty"`
	// Gateway is the router clients of the network get, unless a node's
	// network device gives its own.
	Gateway string `yaml:"gateway,omitempty"`
	// Interface is the server's interface on the network, which is then
	// served; empty for a network reached through a DHCP relay.
	Interface string `yaml:"interface,omitempty"`
}

// Prefix is the network as a prefix, such as 10.0.2.0/24.
func (n DhcpNetwork) Prefix() (netip.Prefix, error) {
	a, err := netip.ParseAddr(n.Network)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, fmt.Errorf("network %q is not an IPv4 address", n.Network)
	}
	bits, ok := netmaskBits(n.Netmask)
	if !ok {
		return netip.Prefix{}, fmt.Errorf("netmask %q is not a valid netmask", n.Netmask)
	}
	return netip.PrefixFrom(a, bits), nil
}

// Interfaces returns the names of Interface, in order.
func (d DhcpConf) Interfaces() []string {
	return strings.FieldsFunc(d.Interface, func(r rune) bool { return r == ',' || unicode.IsSpace(r) })
}

// TftpConf is the "tftp" section.
type TftpConf struct {
	Enabled bool `yaml:"enabled"`
	// Mode is ModeEmbedded or ModeExternal.
	Mode        string `yaml:"mode"`
	TftpRoot    string `yaml:"tftproot"`
	SystemdName string `yaml:"systemd name"`
	// IpxeBinaries maps a DHCP option 93 architecture code such as "00:0B"
	// to an iPXE binary; a relative path is under Paths.Ipxesource. A map
	// in the file replaces the defaults entirely.
	IpxeBinaries map[string]string `yaml:"ipxe"`
	// ShimBinaries and GrubBinaries map a UEFI client architecture code
	// to the shim and the network GRUB that warewulf.grubboot (or a
	// node's Boot tag) boots it with: a file name searched where
	// distributions install signed loaders, or an absolute path. A map in
	// the file replaces the defaults entirely. Warewulf has no such keys.
	ShimBinaries map[string]string `yaml:"shim"`
	GrubBinaries map[string]string `yaml:"grub"`
	// MaxTransfers bounds the embedded server's transfers in progress,
	// and TransfersPerClient those to one client address.
	MaxTransfers       int `yaml:"max transfers"`
	TransfersPerClient int `yaml:"transfers per client"`
	// MaxArtifactMiB bounds a node artifact (kernel, image, overlay) sent
	// by TFTP to a GRUB without HTTP, which the daemon holds in memory
	// while it is sent.
	MaxArtifactMiB int `yaml:"max artifact size"`
}

// NfsConf is the "nfs" section.
type NfsConf struct {
	Enabled     bool         `yaml:"enabled"`
	ExportPaths []ExportPath `yaml:"export paths"`
	SystemdName string       `yaml:"systemd name"`
}

// ExportPath is one line of the server's /etc/exports.
type ExportPath struct {
	Path          string `yaml:"path"`
	ExportOptions string `yaml:"export options"`
}

// SSHConf is the "ssh" section.
type SSHConf struct {
	// KeyTypes are the host key types to generate; the first one is also
	// the type of the cluster user key.
	KeyTypes []string `yaml:"key types"`
	// SharedHostKeys gives every node the same host keys from
	// <sysconfdir>/warewulf/keys, as Warewulf does. Off, each node gets
	// keys of its own with a host certificate signed by the cluster's
	// ssh host certificate authority.
	SharedHostKeys bool `yaml:"shared host keys"`
}

// SSHKeyTypes are the key types Warewulf knows; "wwctl configure ssh"
// skips the others (and DSA, which OpenSSH dropped).
func SSHKeyTypes() []string { return []string{"ed25519", "ecdsa", "rsa", "dsa"} }

// MountEntry is a bind mount from the server into an image.
type MountEntry struct {
	Source   string `yaml:"source"`
	Dest     string `yaml:"dest,omitempty"`
	ReadOnly bool   `yaml:"readonly,omitempty"`
	Copy     bool   `yaml:"copy,omitempty"`
	Options  string `yaml:"options,omitempty"`
}

// WwclientConf is the "wwclient" section: the node agent.
type WwclientConf struct {
	// Port is a fixed source port for wwclient; 0 means its built-in one.
	Port int `yaml:"port"`
}

// PathsConf is the "paths" section. The Ww* directories, except the
// node-side Wwclientdir, and Tftp.TftpRoot follow Localstatedir unless set.
type PathsConf struct {
	Bindir string `yaml:"bindir"`
	// Sysconfdir holds warewulf/ (warewulf.conf, nodes.conf, keys, site
	// templates). As in Warewulf, it does not move the server's own
	// files, which are under Hostroot.
	Sysconfdir string `yaml:"sysconfdir"`
	// Hostroot is the server's root directory: the host overlay's files
	// (etc/hosts, etc/exports, etc/dhcp/dhcpd.conf, ...), ssh_known_hosts
	// and the passwd and group that "image syncuser" reads are under it.
	// "/" on a server; a trial installation under a prefix sets the
	// prefix. Warewulf has no such key and always uses "/".
	Hostroot       string `yaml:"hostroot"`
	Localstatedir  string `yaml:"localstatedir"`
	Cachedir       string `yaml:"cachedir"`
	Ipxesource     string `yaml:"ipxesource"`
	Srvdir         string `yaml:"srvdir"`
	Firewallddir   string `yaml:"firewallddir"`
	Systemddir     string `yaml:"systemddir"`
	Datadir        string `yaml:"datadir"`
	Wwoverlaydir   string `yaml:"wwoverlaydir"`
	Wwchrootdir    string `yaml:"wwchrootdir"`
	Wwprovisiondir string `yaml:"wwprovisiondir"`
	Wwclientdir    string `yaml:"wwclientdir"`
	Wwfilesdir     string `yaml:"wwfilesdir"`
}

// DefaultExportOptions apply to an nfs export path that sets none.
const DefaultExportOptions = "rw,sync,no_subtree_check"

// Default returns the configuration used when warewulf.conf sets nothing.
// Every call returns a new value that the caller may modify.
func Default() *Config {
	c := &Config{
		Warewulf: WarewulfConf{
			Port:              9873,
			TLSPort:           9874,
			Secure:            true,
			SecureFiles:       true,
			UpdateInterval:    60,
			AutobuildOverlays: true,
			HostOverlay:       true,
			// A node has one or two connections while it boots: room
			// for tens of thousands of nodes at once.
			MaxConnections:        32768,
			MaxClientConnections:  64,
			IdleClientConnections: 4,
			IdleTimeout:           120,
		},
		API: APIConf{
			AllowedSubnets:    []string{"127.0.0.0/8", "::1/128"},
			MaxFailedLogins:   5,
			FailedLoginWindow: 60,
		},
		Dhcp: DhcpConf{
			Enabled:     true,
			Mode:        ModeEmbedded,
			Template:    TemplateDefault,
			SystemdName: "dhcpd",

			OfferHold:             10,
			OffersPerSecond:       20,
			ClientOffersPerMinute: 10,
		},
		Tftp: TftpConf{
			Enabled:      true,
			Mode:         ModeEmbedded,
			SystemdName:  "tftp",
			IpxeBinaries: defaultIpxe(),
			ShimBinaries: defaultShim(),
			GrubBinaries: defaultGrub(),

			MaxTransfers:       512,
			TransfersPerClient: 8,
			MaxArtifactMiB:     1024,
		},
		Nfs: NfsConf{
			Enabled:     true,
			ExportPaths: []ExportPath{},
			SystemdName: "nfs-server",
		},
		SSH: SSHConf{
			KeyTypes: []string{"ed25519", "ecdsa", "rsa"},
		},
		ImageMounts: []MountEntry{{Source: "/etc/resolv.conf", Dest: "/etc/resolv.conf"}},
		ImageExcludes: []string{"/boot/", "/usr/src/", "/var/cache/apt/archives/*.deb", "/var/cache/dnf/",
			"/var/cache/yum/", "/tmp/*", "/var/tmp/*"},
		ImageImport: ImageImportConf{
			MaxSizeGiB:    64,
			MaxEntries:    10_000_000,
			MaxPathLength: 4096,
			MaxDepth:      256,
		},
		IPMI: IPMIConf{Timeout: DefaultIPMITimeout},
		Paths: PathsConf{
			Bindir:        "/usr/bin",
			Sysconfdir:    "/etc",
			Hostroot:      "/",
			Localstatedir: "/var/lib",
			Cachedir:      "/var/cache",
			// Debian's ipxe package; Enterprise Linux uses /usr/share/ipxe.
			Ipxesource:   "/usr/lib/ipxe",
			Srvdir:       "/srv",
			Firewallddir: "/usr/lib/firewalld/services",
			Systemddir:   "/usr/lib/systemd/system",
			Datadir:      "/usr/share",
			Wwclientdir:  "/warewulf",
		},
	}
	c.fillDerived(func(string) bool { return false })
	return c
}

func defaultIpxe() map[string]string {
	return map[string]string{
		"00:00": "undionly.kpxe",
		"00:07": "ipxe-snponly-x86_64.efi",
		"00:09": "ipxe-snponly-x86_64.efi",
		"00:0B": "arm64-efi/snponly.efi",
	}
}

// defaultShim and defaultGrub name the loaders by the names shim and
// GRUB give them on EFI system partitions; tftp.ResolveLoader knows
// where distributions keep them (Debian: shimx64.efi.signed,
// grubnetx64.efi.signed).
func defaultShim() map[string]string {
	return map[string]string{"00:07": "shimx64.efi", "00:09": "shimx64.efi", "00:0B": "shimaa64.efi"}
}

func defaultGrub() map[string]string {
	return map[string]string{"00:07": "grubx64.efi", "00:09": "grubx64.efi", "00:0B": "grubaa64.efi"}
}

// fillDerived computes the values that follow others unless isSet reports
// that the file gave them, so that moving only the base directories moves
// everything under them.
func (c *Config) fillDerived(isSet func(key string) bool) {
	state := filepath.Join(c.Paths.Localstatedir, "warewulf")
	derived := []struct {
		key   string
		field *string
		value string
	}{
		{"paths.wwoverlaydir", &c.Paths.Wwoverlaydir, filepath.Join(state, "overlays")},
		{"paths.wwchrootdir", &c.Paths.Wwchrootdir, filepath.Join(state, "chroots")},
		{"paths.wwprovisiondir", &c.Paths.Wwprovisiondir, filepath.Join(state, "provision")},
		{"paths.wwfilesdir", &c.Paths.Wwfilesdir, filepath.Join(state, "files")},
		{"tftp.tftproot", &c.Tftp.TftpRoot, filepath.Join(c.Paths.Localstatedir, "tftpboot")},
	}
	for _, d := range derived {
		if !isSet(d.key) {
			*d.field = d.value
		}
	}
	if !isSet("warewulf.secure files") {
		c.Warewulf.SecureFiles = c.Warewulf.Secure
	}
	if len(c.Tftp.IpxeBinaries) == 0 {
		c.Tftp.IpxeBinaries = defaultIpxe()
	}
	if len(c.Tftp.ShimBinaries) == 0 {
		c.Tftp.ShimBinaries = defaultShim()
	}
	if len(c.Tftp.GrubBinaries) == 0 {
		c.Tftp.GrubBinaries = defaultGrub()
	}
}

// ConfDir is the directory of warewulf.conf, nodes.conf and the server keys.
func (c *Config) ConfDir() string {
	return filepath.Join(c.Paths.Sysconfdir, "warewulf")
}

// NodesConf is the path of the node and profile inventory.
func (c *Config) NodesConf() string {
	return filepath.Join(c.ConfDir(), "nodes.conf")
}
