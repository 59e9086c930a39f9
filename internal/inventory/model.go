// Package inventory holds the cluster's nodes and profiles: the nodes.conf
// file in Warewulf v4's YAML shape, profile inheritance, validation, and a
// store whose writes are locked, atomic and keep the administrator's
// comments and key order.
//
// Every scalar is a *string: nil means "not set here, inherit", and a
// pointer to "" means "set here to empty", which overrides an inherited
// value (Warewulf cannot express that). Values keep the text they have in
// the file; Kind says how they are checked.
package inventory

import "gopkg.in/yaml.v3"

// Node is one entry of the "nodes" section. It is a Profile plus the
// fields that only make sense for a single machine.
type Node struct {
	Discoverable *string
	AssetKey     *string
	Profile
}

// Profile is one entry of the "nodeprofiles" section and the inheritable
// part of a node.
type Profile struct {
	Profiles       []string
	Comment        *string
	ClusterName    *string
	ImageName      *string
	Ipxe           *string
	RuntimeOverlay []string
	SystemOverlay  []string
	Kernel         *Kernel
	Ipmi           *IPMI
	Init           *string
	Root           *string
	NetDevs        map[string]*NetDev
	Tags           map[string]string
	PrimaryNetDev  *string
	Disks          map[string]*Disk
	FileSystems    map[string]*FileSystem
	// Resources is free-form structured data (fstab entries, ignition, ...)
	// kept as YAML so that its comments and shape survive rewrites.
	Resources map[string]*yaml.Node
	// Unknown holds the keys of this mapping that the format does not
	// have (misspelt, newer, or from an older Warewulf with no meaning
	// now), as key and value nodes in file order. They are never merged
	// or used, and they are written back as they were.
	Unknown []*yaml.Node
}

// Kernel selects the kernel inside the image and its command line.
type Kernel struct {
	Version *string
	Args    []string
	// Unknown: see Profile.Unknown.
	Unknown []*yaml.Node
}

// IPMI is a node's baseboard management controller.
type IPMI struct {
	UserName   *string
	Password   *string
	Ipaddr     *string
	Gateway    *string
	Netmask    *string
	Port       *string
	Interface  *string
	EscapeChar *string
	Write      *string
	Template   *string
	Tags       map[string]string
	// Unknown: see Profile.Unknown.
	Unknown []*yaml.Node
}

// NetDev is one network device of a node, keyed by network name.
type NetDev struct {
	Type       *string
	OnBoot     *string
	Device     *string
	Hwaddr     *string
	Ipaddr     *string
	Netmask    *string
	Gateway    *string
	Ipaddr6    *string
	Prefixlen6 *string
	Gateway6   *string
	MTU        *string
	Tags       map[string]string
	// Unknown: see Profile.Unknown.
	Unknown []*yaml.Node
}

// Disk is a block device to partition, keyed by device path.
type Disk struct {
	WipeTable  *string
	Partitions map[string]*Partition
	// Unknown: see Profile.Unknown.
	Unknown []*yaml.Node
}

// Partition is one partition of a Disk, keyed by its label.
type Partition struct {
	Number             *string
	SizeMiB            *string
	StartMiB           *string
	TypeGUID           *string
	GUID               *string
	WipePartitionEntry *string
	ShouldExist        *string
	Resize             *string
	// Unknown: see Profile.Unknown.
	Unknown []*yaml.Node
}

// FileSystem is a filesystem to create or mount, keyed by device path.
type FileSystem struct {
	Format         *string
	Path           *string
	WipeFileSystem *string
	Label          *string
	UUID           *string
	Options        []string
	MountOptions   *string
	// Unknown: see Profile.Unknown.
	Unknown []*yaml.Node
}

// Kind says how a field's value is checked, and how it is written.
type Kind int

const (
	KindString   Kind = iota
	KindIPv4          // dotted-quad IPv4 address
	KindIPv6          // IPv6 address
	KindNetmask       // contiguous IPv4 netmask
	KindMAC           // hardware address (Ethernet or InfiniBand)
	KindBool          // Warewulf's string boolean, written quoted: "true"
	KindYAMLBool      // a YAML boolean, written plain: true
	KindUint          // non-negative decimal number, written as a string
	KindPrefix6       // IPv6 prefix length 0-128
	KindPort          // TCP/UDP port 1-65535
	KindMTU           // MTU 68-65536
	KindList          // list of strings; inherited lists append, "~x" removes x
	KindMap           // string map; inherited maps merge key by key
)

// Field describes one value of an entity: its YAML key, the name shown by
// "list --all" (Warewulf's Go field name), its flag on the command line,
// and how to reach it in the struct. Exactly one of Str, List and Map is
// set.
type Field[T any] struct {
	Key      string
	Name     string
	Flag     string
	Short    string
	Help     string
	Kind     Kind
	NodeOnly bool
	Str      func(*T) **string
	List     func(*T) *[]string
	Map      func(*T) *map[string]string
	// Spaces marks a list that, given as one string, splits on white
	// space rather than commas: kernel and mkfs arguments hold commas
	// (console=ttyS0,115200).
	Spaces bool
	// CSVFlag marks a list whose command-line flag is read as
	// Warewulf's StringSlice reads it: each use a CSV line, so an item
	// holding a comma is quoted (kernel arguments).
	CSVFlag bool
	// Secret marks a value shown only as SecretMask (see secret.go).
	Secret bool
}

func str[T any](key, name, flag, short string, kind Kind, help string, get func(*T) **string) Field[T] {
	return Field[T]{Key: key, Name: name, Flag: flag, Short: short, Kind: kind, Help: help, Str: get}
}

func list[T any](key, name, flag, short, help string, get func(*T) *[]string) Field[T] {
	return Field[T]{Key: key, Name: name, Flag: flag, Short: short, Kind: KindList, Help: help, List: get}
}

// words is list for arguments: one string splits on white space.
func words[T any](key, name, flag, short, help string, get func(*T) *[]string) Field[T] {
	f := list(key, name, flag, short, help, get)
	f.Spaces = true
	return f
}

// csvFlag marks f's flag as a CSV list (see Field.CSVFlag).
func csvFlag[T any](f Field[T]) Field[T] {
	f.CSVFlag = true
	return f
}

func tags[T any](key, name, help string, get func(*T) *map[string]string) Field[T] {
	return Field[T]{Key: key, Name: name, Kind: KindMap, Help: help, Map: get}
}

// NodeFields are the node-only scalar fields, in nodes.conf key order.
func NodeFields() []Field[Node] {
	return []Field[Node]{
		{Key: "discoverable", Name: "Discoverable", Flag: "discoverable", Short: "e", Kind: KindBool, NodeOnly: true,
			Help: "Make the node discoverable: the first unknown MAC to boot becomes this node",
			Str:  func(n *Node) **string { return &n.Discoverable }},
		{Key: "asset key", Name: "AssetKey", Flag: "asset", Kind: KindString, NodeOnly: true,
			Help: "Asset tag the node's firmware must present (SMBIOS chassis asset tag)",
			Str:  func(n *Node) **string { return &n.AssetKey }},
	}
}

// ProfileFields are the inheritable scalar, list and map fields of a
// profile or node, in nodes.conf key order. Sub-entities (kernel, ipmi,
// network devices, disks, filesystems, resources) have tables of their
// own.
func ProfileFields() []Field[Profile] {
	return []Field[Profile]{
		list("profiles", "Profiles", "profile", "P", "Profiles to inherit from, in order", func(p *Profile) *[]string { return &p.Profiles }),
		str("comment", "Comment", "comment", "", KindString, "Free-form comment", func(p *Profile) **string { return &p.Comment }),
		str("cluster name", "ClusterName", "cluster", "c", KindString, "Cluster name", func(p *Profile) **string { return &p.ClusterName }),
		str("image name", "ImageName", "image", "", KindString, "Image to boot", func(p *Profile) **string { return &p.ImageName }),
		str("ipxe template", "Ipxe", "ipxe", "", KindString, "iPXE template name", func(p *Profile) **string { return &p.Ipxe }),
		list("runtime overlay", "RuntimeOverlay", "runtime-overlays", "R", "Runtime overlays, comma separated", func(p *Profile) *[]string { return &p.RuntimeOverlay }),
		list("system overlay", "SystemOverlay", "system-overlays", "O", "System overlays, comma separated", func(p *Profile) *[]string { return &p.SystemOverlay }),
		str("init", "Init", "init", "i", KindString, "Init program the node execs (default /sbin/init)", func(p *Profile) **string { return &p.Init }),
		str("root", "Root", "root", "", KindString, "Root filesystem: initramfs, tmpfs, ramfs or a block device", func(p *Profile) **string { return &p.Root }),
		tags("tags", "Tags", "Node tags", func(p *Profile) *map[string]string { return &p.Tags }),
		str("primary network", "PrimaryNetDev", "primarynet", "p", KindString, "Name of the primary network device", func(p *Profile) **string { return &p.PrimaryNetDev }),
	}
}

// KernelFields are the fields of the "kernel" section.
func KernelFields() []Field[Kernel] {
	return []Field[Kernel]{
		str("version", "Version", "kernelversion", "", KindString, "Kernel version (prefix) or path inside the image", func(k *Kernel) **string { return &k.Version }),
		csvFlag(words("args", "Args", "kernelargs", "A", `Kernel arguments, comma separated; quote one that holds a comma: '"console=ttyS0,115200"'`, func(k *Kernel) *[]string { return &k.Args })),
	}
}

// IPMIFields are the fields of the "ipmi" section.
func IPMIFields() []Field[IPMI] {
	return []Field[IPMI]{
		str("username", "UserName", "ipmiuser", "", KindString, "IPMI user name", func(i *IPMI) **string { return &i.UserName }),
		secret(str("password", "Password", "ipmipass", "", KindString, "IPMI password", func(i *IPMI) **string { return &i.Password })),
		str("ipaddr", "Ipaddr", "ipmiaddr", "", KindIPv4, "IPMI IPv4 address", func(i *IPMI) **string { return &i.Ipaddr }),
		str("gateway", "Gateway", "ipmigateway", "", KindIPv4, "IPMI gateway", func(i *IPMI) **string { return &i.Gateway }),
		str("netmask", "Netmask", "ipminetmask", "", KindNetmask, "IPMI netmask", func(i *IPMI) **string { return &i.Netmask }),
		str("port", "Port", "ipmiport", "", KindPort, "IPMI port", func(i *IPMI) **string { return &i.Port }),
		str("interface", "Interface", "ipmiinterface", "", KindString, "IPMI interface (lan, lanplus)", func(i *IPMI) **string { return &i.Interface }),
		str("escapechar", "EscapeChar", "ipmiescapechar", "", KindString, "IPMI serial-over-LAN escape character", func(i *IPMI) **string { return &i.EscapeChar }),
		str("write", "Write", "ipmiwrite", "", KindBool, "Write the IPMI settings to the BMC at boot", func(i *IPMI) **string { return &i.Write }),
		str("template", "Template", "ipmitemplate", "", KindString, "BMC command template", func(i *IPMI) **string { return &i.Template }),
		tags("tags", "Tags", "IPMI tags", func(i *IPMI) *map[string]string { return &i.Tags }),
	}
}

// NetDevFields are the fields of one network device.
func NetDevFields() []Field[NetDev] {
	return []Field[NetDev]{
		str("type", "Type", "type", "T", KindString, "Device type (ethernet, infiniband, bond, vlan)", func(d *NetDev) **string { return &d.Type }),
		str("onboot", "OnBoot", "onboot", "", KindBool, "Bring the device up at boot", func(d *NetDev) **string { return &d.OnBoot }),
		str("device", "Device", "netdev", "N", KindString, "Device name (eth0, eno1, ib0)", func(d *NetDev) **string { return &d.Device }),
		str("hwaddr", "Hwaddr", "hwaddr", "H", KindMAC, "Hardware (MAC) address", func(d *NetDev) **string { return &d.Hwaddr }),
		str("ipaddr", "Ipaddr", "ipaddr", "I", KindIPv4, "IPv4 address", func(d *NetDev) **string { return &d.Ipaddr }),
		str("netmask", "Netmask", "netmask", "M", KindNetmask, "IPv4 netmask", func(d *NetDev) **string { return &d.Netmask }),
		str("gateway", "Gateway", "gateway", "G", KindIPv4, "IPv4 gateway", func(d *NetDev) **string { return &d.Gateway }),
		str("ipaddr6", "Ipaddr6", "ipaddr6", "", KindIPv6, "IPv6 address", func(d *NetDev) **string { return &d.Ipaddr6 }),
		str("prefixlen6", "PrefixLen6", "prefixlen6", "", KindPrefix6, "IPv6 prefix length", func(d *NetDev) **string { return &d.Prefixlen6 }),
		str("gateway6", "Gateway6", "gateway6", "", KindIPv6, "IPv6 gateway", func(d *NetDev) **string { return &d.Gateway6 }),
		str("mtu", "MTU", "mtu", "", KindMTU, "MTU", func(d *NetDev) **string { return &d.MTU }),
		tags("tags", "Tags", "Network tags", func(d *NetDev) *map[string]string { return &d.Tags }),
	}
}

// DiskFields are the scalar fields of a disk.
func DiskFields() []Field[Disk] {
	return []Field[Disk]{
		str("wipe_table", "WipeTable", "diskwipe", "", KindYAMLBool, "Wipe the disk's partition table", func(d *Disk) **string { return &d.WipeTable }),
	}
}

// PartitionFields are the fields of a partition.
func PartitionFields() []Field[Partition] {
	return []Field[Partition]{
		str("number", "Number", "partnumber", "", KindUint, "Partition number", func(p *Partition) **string { return &p.Number }),
		str("size_mib", "SizeMiB", "partsize", "", KindUint, "Partition size in MiB", func(p *Partition) **string { return &p.SizeMiB }),
		str("start_mib", "StartMiB", "partstart", "", KindUint, "Partition start in MiB", func(p *Partition) **string { return &p.StartMiB }),
		str("type_guid", "TypeGuid", "parttype", "", KindString, "Partition type GUID", func(p *Partition) **string { return &p.TypeGUID }),
		str("guid", "Guid", "partguid", "", KindString, "Partition GUID", func(p *Partition) **string { return &p.GUID }),
		str("wipe_partition_entry", "WipePartitionEntry", "partwipe", "", KindYAMLBool, "Wipe the partition entry", func(p *Partition) **string { return &p.WipePartitionEntry }),
		str("should_exist", "ShouldExist", "partcreate", "", KindYAMLBool, "Create the partition if missing", func(p *Partition) **string { return &p.ShouldExist }),
		str("resize", "Resize", "partresize", "", KindYAMLBool, "Resize the partition", func(p *Partition) **string { return &p.Resize }),
	}
}

// FileSystemFields are the fields of a filesystem.
func FileSystemFields() []Field[FileSystem] {
	return []Field[FileSystem]{
		str("format", "Format", "fsformat", "", KindString, "Filesystem format (ext4, xfs, swap)", func(f *FileSystem) **string { return &f.Format }),
		str("path", "Path", "fspath", "", KindString, "Mount point", func(f *FileSystem) **string { return &f.Path }),
		str("wipe_filesystem", "WipeFileSystem", "fswipe", "", KindYAMLBool, "Wipe the filesystem", func(f *FileSystem) **string { return &f.WipeFileSystem }),
		str("label", "Label", "fslabel", "", KindString, "Filesystem label", func(f *FileSystem) **string { return &f.Label }),
		str("uuid", "Uuid", "fsuuid", "", KindString, "Filesystem UUID", func(f *FileSystem) **string { return &f.UUID }),
		words("options", "Options", "fsoptions", "", "Options for mkfs, space separated", func(f *FileSystem) *[]string { return &f.Options }),
		str("mount_options", "MountOptions", "fsmountoptions", "", KindString, "Mount options", func(f *FileSystem) **string { return &f.MountOptions }),
	}
}

// tables holds every field table, built once per load, merge or write
// rather than once per key.
type tables struct {
	node    []Field[Node]
	profile []Field[Profile]
	kernel  []Field[Kernel]
	ipmi    []Field[IPMI]
	netdev  []Field[NetDev]
	disk    []Field[Disk]
	part    []Field[Partition]
	fs      []Field[FileSystem]
}

func newTables() *tables {
	return &tables{
		node:    NodeFields(),
		profile: ProfileFields(),
		kernel:  KernelFields(),
		ipmi:    IPMIFields(),
		netdev:  NetDevFields(),
		disk:    DiskFields(),
		part:    PartitionFields(),
		fs:      FileSystemFields(),
	}
}
