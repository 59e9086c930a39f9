package overlay

import (
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/inventory"
)

// The types in this file are what templates see. Their names, field types
// and methods follow Warewulf v4.6 so that a site's existing templates
// render the same: addresses are net.IP (an unset one prints "<nil>"),
// booleans from nodes.conf are WWbool strings, and the data is passed by
// value, so pointer methods (.DiskList) work on .ThisNode and .AllNodes
// elements but not at the top level.

// WWbool is Warewulf's string boolean: it prints as written and is
// tested with .Bool or .BoolDefaultTrue.
type WWbool string

func (b WWbool) String() string { return string(b) }

// Bool is true for "true", "yes" and other true spellings; unset is false.
func (b WWbool) Bool() bool {
	switch s := strings.ToLower(string(b)); s {
	case "", "no", "unset", "delete", "undef", "--", "nil", "0.0.0.0":
		return false
	case "yes":
		return true
	default:
		v, _ := strconv.ParseBool(s)
		return v
	}
}

// BoolDefaultTrue is like Bool but unset (and unparsable) means true, as
// for a network device's onboot.
func (b WWbool) BoolDefaultTrue() bool {
	switch s := strings.ToLower(string(b)); s {
	case "unset", "delete", "undef", "--", "nil", "0.0.0.0", "no":
		return false
	case "", "yes":
		return true
	default:
		v, err := strconv.ParseBool(s)
		return err != nil || v
	}
}

// Node is a merged node as templates see it.
type Node struct {
	id string
	// server: the node stands for the server itself (host overlay).
	server bool

	Discoverable WWbool
	AssetKey     string
	Profile
}

// Profile holds the inheritable fields of Node.
type Profile struct {
	Profiles       []string
	Comment        string
	ClusterName    string
	ImageName      string
	Ipxe           string
	RuntimeOverlay []string
	SystemOverlay  []string
	Kernel         *KernelConf
	Ipmi           *IpmiConf
	Init           string
	Root           string
	NetDevs        map[string]*NetDev
	Tags           map[string]string
	PrimaryNetDev  string
	Disks          map[string]*Disk
	FileSystems    map[string]*FileSystem
	Resources      map[string]any
}

// KernelConf is the node's kernel.
type KernelConf struct {
	Version string
	Args    []string
}

// IpmiConf is the node's BMC. A field's type tag is the type "wwctl overlay
// info" shows for it, as Warewulf's tags give it.
type IpmiConf struct {
	UserName   string
	Password   string
	Ipaddr     net.IP `type:"IP"`
	Gateway    net.IP `type:"IP"`
	Netmask    net.IP `type:"IP"`
	Port       string
	Interface  string
	EscapeChar string
	Write      WWbool
	Template   string
	Tags       map[string]string
}

// NetDev is a network device (type tags: see IpmiConf).
type NetDev struct {
	primary bool

	Type       string
	OnBoot     WWbool
	Device     string
	Hwaddr     string `type:"MAC"`
	Ipaddr     net.IP `type:"IP"`
	Netmask    net.IP `type:"IP"`
	Gateway    net.IP `type:"IP"`
	Ipaddr6    net.IP `type:"IP"`
	PrefixLen6 string `type:"uint"`
	Gateway6   net.IP `type:"IP"`
	MTU        string `type:"uint"`
	Tags       map[string]string
}

// Disk is a block device to partition.
type Disk struct {
	id         string
	WipeTableP *bool
	Partitions map[string]*Partition
}

// Partition is a partition of a Disk (type tags: see IpmiConf).
type Partition struct {
	id                  string
	Number              string `type:"uint"`
	SizeMiB             string `type:"uint"`
	StartMiB            string `type:"uint"`
	TypeGuid            string
	Guid                string
	WipePartitionEntryP *bool
	ShouldExistP        *bool
	ResizeP             *bool
}

// FileSystem is a filesystem on a device.
type FileSystem struct {
	id              string
	Format          string
	Path            string
	WipeFileSystemP *bool
	Label           string
	Uuid            string
	Options         []string
	MountOptions    string
}

// Id is the node's name.
func (n *Node) Id() string { return n.id }

// ContainerName is the image name (Warewulf's older name for it).
func (n *Node) ContainerName() string { return n.ImageName }

// Valid reports whether the node came from the inventory.
func (n *Node) Valid() bool { return n.id != "" }

// DiskList returns the disks ordered by device.
func (n *Node) DiskList() []*Disk {
	var out []*Disk
	for _, k := range sortedKeys(n.Disks) {
		out = append(out, n.Disks[k])
	}
	return out
}

// FileSystemList returns the filesystems ordered by device.
func (n *Node) FileSystemList() []*FileSystem {
	var out []*FileSystem
	for _, k := range sortedKeys(n.FileSystems) {
		out = append(out, n.FileSystems[k])
	}
	return out
}

// Primary reports whether this is the node's primary network device.
func (d *NetDev) Primary() bool { return d.primary }

// IpCIDR is the address with its prefix length ("10.0.0.1/24"), or ""
// when the address or netmask is missing.
func (d *NetDev) IpCIDR() string {
	if d.Ipaddr.To4() == nil || d.Netmask.To4() == nil {
		return ""
	}
	ones, bits := net.IPMask(d.Netmask.To4()).Size()
	if bits == 0 {
		return ""
	}
	return d.Ipaddr.String() + "/" + strconv.Itoa(ones)
}

// IpCIDR6 is the IPv6 address with its prefix length, or "".
func (d *NetDev) IpCIDR6() string {
	if d.Ipaddr6 == nil || d.Ipaddr6.To4() != nil {
		return ""
	}
	n, err := strconv.Atoi(d.PrefixLen6)
	if err != nil || n < 0 || n > 128 {
		return ""
	}
	return d.Ipaddr6.String() + "/" + strconv.Itoa(n)
}

// Id is the disk's device path.
func (d *Disk) Id() string { return d.id }

// WipeTable reports whether the partition table is wiped.
func (d *Disk) WipeTable() bool { return d.WipeTableP != nil && *d.WipeTableP }

// PartitionList returns the partitions ordered by number (numbered ones
// first), then by name.
func (d *Disk) PartitionList() []*Partition {
	var out []*Partition
	for _, p := range d.Partitions {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		a, errA := strconv.Atoi(out[i].Number)
		b, errB := strconv.Atoi(out[j].Number)
		switch {
		case errA == nil && errB == nil && a != b:
			return a < b
		case (errA == nil) != (errB == nil):
			return errA == nil
		}
		return out[i].id < out[j].id
	})
	return out
}

// Id is the partition's label.
func (p *Partition) Id() string { return p.id }

// WipePartitionEntry reports whether the partition entry is wiped.
func (p *Partition) WipePartitionEntry() bool { return boolp(p.WipePartitionEntryP) }

// ShouldExist reports whether the partition is created when missing.
func (p *Partition) ShouldExist() bool { return boolp(p.ShouldExistP) }

// Resize reports whether the partition is resized.
func (p *Partition) Resize() bool { return boolp(p.ResizeP) }

// Id is the filesystem's device.
func (f *FileSystem) Id() string { return f.id }

// WipeFileSystem reports whether the filesystem is wiped.
func (f *FileSystem) WipeFileSystem() bool { return boolp(f.WipeFileSystemP) }

func boolp(b *bool) bool { return b != nil && *b }

// newNode converts a merged inventory node. Maps and the kernel and IPMI
// sections are never nil, so templates can index them freely.
func newNode(m *inventory.Merged) *Node {
	n := &Node{id: m.Name, Discoverable: WWbool(inventory.Deref(m.Discoverable)), AssetKey: inventory.Deref(m.AssetKey)}
	p := &n.Profile
	p.Profiles = m.Profiles
	p.Comment = inventory.Deref(m.Comment)
	p.ClusterName = inventory.Deref(m.ClusterName)
	p.ImageName = inventory.Deref(m.ImageName)
	p.Ipxe = inventory.Deref(m.Ipxe)
	p.RuntimeOverlay = m.RuntimeOverlay
	p.SystemOverlay = m.SystemOverlay
	p.Init = inventory.Deref(m.Init)
	p.Root = inventory.Deref(m.Root)
	p.PrimaryNetDev = inventory.Deref(m.PrimaryNetDev)
	p.Tags = copyMap(m.Tags)
	p.Kernel = &KernelConf{}
	if m.Kernel != nil {
		p.Kernel.Version = inventory.Deref(m.Kernel.Version)
		p.Kernel.Args = m.Kernel.Args
	}
	p.Ipmi = &IpmiConf{Tags: map[string]string{}}
	if i := m.Ipmi; i != nil {
		p.Ipmi = &IpmiConf{UserName: inventory.Deref(i.UserName), Password: inventory.Deref(i.Password), Ipaddr: ip(i.Ipaddr),
			Gateway: ip(i.Gateway), Netmask: ip(i.Netmask), Port: inventory.Deref(i.Port), Interface: inventory.Deref(i.Interface),
			EscapeChar: inventory.Deref(i.EscapeChar), Write: WWbool(inventory.Deref(i.Write)), Template: inventory.Deref(i.Template), Tags: copyMap(i.Tags)}
	}
	p.NetDevs = map[string]*NetDev{}
	for name, d := range m.NetDevs {
		p.NetDevs[name] = &NetDev{Type: inventory.Deref(d.Type), OnBoot: WWbool(inventory.Deref(d.OnBoot)), Device: inventory.Deref(d.Device),
			Hwaddr: inventory.Deref(d.Hwaddr), Ipaddr: ip(d.Ipaddr), Netmask: ip(d.Netmask), Gateway: ip(d.Gateway),
			Ipaddr6: ip(d.Ipaddr6), PrefixLen6: inventory.Deref(d.Prefixlen6), Gateway6: ip(d.Gateway6), MTU: inventory.Deref(d.MTU),
			Tags: copyMap(d.Tags)}
	}
	// The primary device is the one named, else the first by name, and
	// PrimaryNetDev then names it.
	if d, ok := p.NetDevs[p.PrimaryNetDev]; ok {
		d.primary = true
	} else if names := sortedKeys(p.NetDevs); len(names) > 0 {
		p.PrimaryNetDev = names[0]
		p.NetDevs[names[0]].primary = true
	}
	p.Disks = map[string]*Disk{}
	for name, d := range m.Disks {
		disk := &Disk{id: name, WipeTableP: ybool(d.WipeTable), Partitions: map[string]*Partition{}}
		for pn, part := range d.Partitions {
			disk.Partitions[pn] = &Partition{id: pn, Number: inventory.Deref(part.Number), SizeMiB: inventory.Deref(part.SizeMiB),
				StartMiB: inventory.Deref(part.StartMiB), TypeGuid: inventory.Deref(part.TypeGUID), Guid: inventory.Deref(part.GUID),
				WipePartitionEntryP: ybool(part.WipePartitionEntry), ShouldExistP: ybool(part.ShouldExist),
				ResizeP: ybool(part.Resize)}
		}
		p.Disks[name] = disk
	}
	p.FileSystems = map[string]*FileSystem{}
	for name, f := range m.FileSystems {
		p.FileSystems[name] = &FileSystem{id: name, Format: inventory.Deref(f.Format), Path: inventory.Deref(f.Path),
			WipeFileSystemP: ybool(f.WipeFileSystem), Label: inventory.Deref(f.Label), Uuid: inventory.Deref(f.UUID),
			Options: f.Options, MountOptions: inventory.Deref(f.MountOptions)}
	}
	p.Resources = map[string]any{}
	for k, v := range m.Resources {
		p.Resources[k] = plain(v)
	}
	return n
}

// topLevel is the copy of a node embedded at the top of the template
// data. Warewulf makes it with gob, which drops unexported state: no
// device is primary and disks, partitions and filesystems have no Id
// there; sites' templates depend on exactly that, so it is kept.
func topLevel(n *Node) Node {
	c := *n
	c.id = ""
	c.NetDevs = make(map[string]*NetDev, len(n.NetDevs))
	for k, d := range n.NetDevs {
		dc := *d
		dc.primary = false
		c.NetDevs[k] = &dc
	}
	c.Disks = make(map[string]*Disk, len(n.Disks))
	for k, d := range n.Disks {
		dc := *d
		dc.id = ""
		dc.Partitions = make(map[string]*Partition, len(d.Partitions))
		for pk, p := range d.Partitions {
			pc := *p
			pc.id = ""
			dc.Partitions[pk] = &pc
		}
		c.Disks[k] = &dc
	}
	c.FileSystems = make(map[string]*FileSystem, len(n.FileSystems))
	for k, f := range n.FileSystems {
		fc := *f
		fc.id = ""
		c.FileSystems[k] = &fc
	}
	return c
}

func ip(s *string) net.IP {
	if s == nil || *s == "" {
		return nil
	}
	return net.ParseIP(*s)
}

func ybool(s *string) *bool {
	if s == nil {
		return nil
	}
	b := *s == "true"
	return &b
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// plain turns a YAML tree into the generic values Warewulf's resources
// hold: maps, slices, strings, numbers and booleans.
func plain(n *yaml.Node) any {
	var v any
	if err := n.Decode(&v); err != nil {
		return nil
	}
	return v
}
