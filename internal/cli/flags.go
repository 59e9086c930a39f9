package cli

import (
	"encoding/csv"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/pflag"

	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
)

// unsetWords clear a value (the field inherits again), as in Warewulf.
func isUnsetWord(s string) bool {
	switch strings.ToLower(s) {
	case "unset", "undef", "delete", "nil", "--":
		return true
	}
	return false
}

// fieldFlags are the flags of "node add|set" and "profile add|set", made
// from the inventory's field tables: one flag per field, network device
// fields scoped by --netname, disk fields by --diskname, and so on.
type fieldFlags struct {
	fs    *pflag.FlagSet
	node  bool
	names []string // every flag this value registered

	netname, diskname, partname, fsname string
	netDel, diskDel, partDel, fsDel     string
	tagAdd, tagDel                      []string
	netTagAdd, netTagDel                []string
	ipmiTagAdd, ipmiTagDel              []string
}

func addFieldFlags(fs *pflag.FlagSet, node bool) *fieldFlags {
	ff := &fieldFlags{fs: fs, node: node}
	if node {
		registerScalars(fs, inventory.NodeFields())
	}
	registerScalars(fs, inventory.ProfileFields())
	registerScalars(fs, inventory.KernelFields())
	registerScalars(fs, inventory.IPMIFields())
	registerScalars(fs, inventory.NetDevFields())
	registerScalars(fs, inventory.DiskFields())
	registerScalars(fs, inventory.PartitionFields())
	registerScalars(fs, inventory.FileSystemFields())

	fs.StringVar(&ff.netname, "netname", "default", "Network device the network flags apply to")
	fs.StringVar(&ff.diskname, "diskname", "", "Disk the disk and partition flags apply to")
	fs.StringVar(&ff.partname, "partname", "", "Partition the partition flags apply to")
	fs.StringVar(&ff.fsname, "fsname", "", "Filesystem the filesystem flags apply to")
	fs.StringVar(&ff.netDel, "netdel", "", "Delete this network device")
	fs.StringVar(&ff.diskDel, "diskdel", "", "Delete this disk")
	fs.StringVar(&ff.partDel, "partdel", "", "Delete this partition (of --diskname, else of every disk that has it)")
	fs.StringVar(&ff.fsDel, "fsdel", "", "Delete this filesystem")
	fs.Var(&tagsValue{pairs: &ff.tagAdd}, "tagadd", "Add tags: key=value[,key=value] (one key=value takes the rest, commas and all)")
	fs.StringSliceVar(&ff.tagDel, "tagdel", nil, "Delete tags by key")
	fs.Var(&tagsValue{pairs: &ff.netTagAdd}, "nettagadd", "Add network device tags: key=value[,key=value] (one key=value takes the rest)")
	fs.StringSliceVar(&ff.netTagDel, "nettagdel", nil, "Delete network device tags by key")
	fs.Var(&tagsValue{pairs: &ff.ipmiTagAdd}, "ipmitagadd", "Add IPMI tags: key=value[,key=value] (one key=value takes the rest)")
	fs.StringSliceVar(&ff.ipmiTagDel, "ipmitagdel", nil, "Delete IPMI tags by key")

	// Names older Warewulf versions used; kept so scripts keep working.
	alias(fs, "container", "C", "image")
	alias(fs, "runtime", "", "runtime-overlays")
	alias(fs, "wwinit", "", "system-overlays")
	ff.names = flagNames(fs)
	return ff
}

// flagNames lists the flags registered so far; commands add their own
// (--yes, --all) afterwards, and those are not field flags.
func flagNames(fs *pflag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
	return names
}

// anyGiven reports whether one of names was given on the command line;
// --netname alone, which has a default, does not count.
func anyGiven(fs *pflag.FlagSet, names []string) bool {
	for _, n := range names {
		if fs.Changed(n) {
			return true
		}
	}
	return false
}

func registerScalars[T any](fs *pflag.FlagSet, fields []inventory.Field[T]) {
	for _, f := range fields {
		if f.Flag == "" {
			continue
		}
		help := f.Help
		switch f.Kind {
		case inventory.KindList:
			fs.StringArrayP(f.Flag, f.Short, nil, help+" (UNSET clears)")
			continue
		case inventory.KindBool, inventory.KindYAMLBool:
			fs.StringP(f.Flag, f.Short, "", help+" (true/false; UNSET clears)")
			fs.Lookup(f.Flag).NoOptDefVal = "true"
			continue
		}
		fs.StringP(f.Flag, f.Short, "", help+" (UNSET clears)")
	}
}

// alias registers a hidden deprecated flag that writes to another flag.
func alias(fs *pflag.FlagSet, name, short, target string) {
	t := fs.Lookup(target)
	if t == nil {
		return
	}
	fs.VarP(&aliasValue{target: t}, name, short, "")
	fs.Lookup(name).Hidden = true
}

type aliasValue struct{ target *pflag.Flag }

func (a *aliasValue) String() string { return a.target.Value.String() }
func (a *aliasValue) Set(s string) error {
	a.target.Changed = true
	return a.target.Value.Set(s)
}
func (a *aliasValue) Type() string { return a.target.Value.Type() }

// changed reports whether any field flag was given.
func (ff *fieldFlags) changed() bool { return anyGiven(ff.fs, ff.names) }

// applyNode sets the given flags on a node. offset is the node's position
// in a range being added: --ipaddr and --ipmiaddr grow by it.
func (ff *fieldFlags) applyNode(n *inventory.Node, offset int) error {
	if err := applyScalars(ff.fs, n, inventory.NodeFields(), offset); err != nil {
		return err
	}
	return ff.applyProfile(&n.Profile, offset)
}

// applyProfile sets the given flags on the inheritable part of a node or
// profile.
func (ff *fieldFlags) applyProfile(p *inventory.Profile, offset int) error {
	if err := applyScalars(ff.fs, p, inventory.ProfileFields(), offset); err != nil {
		return err
	}
	if err := applyTags(&p.Tags, ff.tagAdd, ff.tagDel); err != nil {
		return err
	}
	if anyChanged(ff.fs, inventory.KernelFields()) {
		if p.Kernel == nil {
			p.Kernel = &inventory.Kernel{}
		}
		if err := applyScalars(ff.fs, p.Kernel, inventory.KernelFields(), offset); err != nil {
			return err
		}
	}
	if anyChanged(ff.fs, inventory.IPMIFields()) || len(ff.ipmiTagAdd)+len(ff.ipmiTagDel) > 0 {
		if p.Ipmi == nil {
			p.Ipmi = &inventory.IPMI{}
		}
		if err := applyScalars(ff.fs, p.Ipmi, inventory.IPMIFields(), offset); err != nil {
			return err
		}
		if err := applyTags(&p.Ipmi.Tags, ff.ipmiTagAdd, ff.ipmiTagDel); err != nil {
			return err
		}
	}
	if anyChanged(ff.fs, inventory.NetDevFields()) || len(ff.netTagAdd)+len(ff.netTagDel) > 0 {
		if ff.netname == "" {
			return fmt.Errorf("--netname must not be empty")
		}
		d := entry(&p.NetDevs, ff.netname)
		if err := applyScalars(ff.fs, d, inventory.NetDevFields(), offset); err != nil {
			return err
		}
		if err := applyTags(&d.Tags, ff.netTagAdd, ff.netTagDel); err != nil {
			return err
		}
		// As in Warewulf, a device the change left without a value is
		// gone (--nettagdel of its last tags, an address cleared).
		if p.NetDevs[ff.netname].Empty() {
			delete(p.NetDevs, ff.netname)
			if len(p.NetDevs) == 0 {
				p.NetDevs = nil
			}
		}
	}
	if ff.netDel != "" {
		if _, ok := p.NetDevs[ff.netDel]; !ok {
			return fmt.Errorf("--netdel: no network device %q", ff.netDel)
		}
		delete(p.NetDevs, ff.netDel)
	}
	if err := ff.applyStorage(p, offset); err != nil {
		return err
	}
	return nil
}

func (ff *fieldFlags) applyStorage(p *inventory.Profile, offset int) error {
	diskChanged := anyChanged(ff.fs, inventory.DiskFields())
	partChanged := anyChanged(ff.fs, inventory.PartitionFields())
	if diskChanged || partChanged {
		if ff.diskname == "" {
			return fmt.Errorf("disk and partition flags need --diskname")
		}
		d := entry(&p.Disks, ff.diskname)
		if err := applyScalars(ff.fs, d, inventory.DiskFields(), offset); err != nil {
			return err
		}
		if partChanged {
			if ff.partname == "" {
				return fmt.Errorf("partition flags need --partname")
			}
			part := entry(&d.Partitions, ff.partname)
			if err := applyScalars(ff.fs, part, inventory.PartitionFields(), offset); err != nil {
				return err
			}
		}
	}
	if anyChanged(ff.fs, inventory.FileSystemFields()) {
		if ff.fsname == "" {
			return fmt.Errorf("filesystem flags need --fsname")
		}
		name, err := fsDevice(ff.fsname)
		if err != nil {
			return fmt.Errorf("--fsname: %w", err)
		}
		fs := entry(&p.FileSystems, name)
		if err := applyScalars(ff.fs, fs, inventory.FileSystemFields(), offset); err != nil {
			return err
		}
	}
	if ff.partDel != "" {
		// Without --diskname, from every disk that has it (Warewulf's rule).
		if err := deletePartition(p, ff.diskname, ff.partDel); err != nil {
			return fmt.Errorf("--partdel: %w", err)
		}
		// A disk left with nothing is gone, not "{}" in nodes.conf.
		for name, d := range p.Disks {
			if d.Empty() {
				delete(p.Disks, name)
			}
		}
		if len(p.Disks) == 0 {
			p.Disks = nil
		}
	}
	if ff.diskDel != "" {
		if _, ok := p.Disks[ff.diskDel]; !ok {
			return fmt.Errorf("--diskdel: no disk %q", ff.diskDel)
		}
		delete(p.Disks, ff.diskDel)
	}
	if ff.fsDel != "" {
		name, err := fsDevice(ff.fsDel)
		if err != nil {
			return fmt.Errorf("--fsdel: %w", err)
		}
		if _, ok := p.FileSystems[name]; !ok {
			return fmt.Errorf("--fsdel: no filesystem %q", ff.fsDel)
		}
		delete(p.FileSystems, name)
	}
	return nil
}

// fsDevice turns a bare filesystem name into the partition-label path, as
// Warewulf does: "rootfs" means /dev/disk/by-partlabel/rootfs. Any other
// name must be a device path: "dev/vda1" is refused rather than read as
// the partition label "dev/vda1".
func fsDevice(name string) (string, error) {
	switch {
	case strings.HasPrefix(name, "/dev/"):
		return name, nil
	case name == "" || strings.Contains(name, "/"):
		return "", fmt.Errorf("%q is neither a device path under /dev/ nor a partition label (no '/')", name)
	}
	return "/dev/disk/by-partlabel/" + name, nil
}

func entry[T any](m *map[string]*T, key string) *T {
	if *m == nil {
		*m = map[string]*T{}
	}
	v, ok := (*m)[key]
	if !ok || v == nil {
		v = new(T)
		(*m)[key] = v
	}
	return v
}

func anyChanged[T any](fs *pflag.FlagSet, fields []inventory.Field[T]) bool {
	for _, f := range fields {
		if f.Flag != "" && fs.Changed(f.Flag) {
			return true
		}
	}
	return false
}

func applyScalars[T any](fs *pflag.FlagSet, v *T, fields []inventory.Field[T], offset int) error {
	for _, f := range fields {
		if f.Flag == "" || !fs.Changed(f.Flag) {
			continue
		}
		if f.List != nil {
			raw, _ := fs.GetStringArray(f.Flag)
			list, err := listValue(raw, f.Spaces, f.CSVFlag)
			if err != nil {
				return fmt.Errorf("--%s: %w", f.Flag, err)
			}
			*f.List(v) = list
			continue
		}
		raw, _ := fs.GetString(f.Flag)
		val, err := scalarValue(f.Flag, f.Kind, raw)
		if err != nil {
			return err
		}
		if val != nil && offset > 0 && (f.Flag == "ipaddr" || f.Flag == "ipmiaddr") {
			s, err := addIPv4(*val, offset)
			if err != nil {
				return fmt.Errorf("--%s: %w", f.Flag, err)
			}
			val = &s
		}
		*f.Str(v) = val
	}
	return nil
}

// scalarValue turns a flag's text into a field value: nil clears the
// field, "" sets it explicitly empty (overriding an inherited value).
func scalarValue(flag string, kind inventory.Kind, raw string) (*string, error) {
	if raw == "UNSET" || raw == "UNDEF" {
		return nil, nil
	}
	// As in Warewulf, the unspecified address (0.0.0.0, ::) clears an
	// address: no node has it.
	if kind == inventory.KindIPv4 || kind == inventory.KindIPv6 || kind == inventory.KindNetmask {
		if a, err := netip.ParseAddr(raw); err == nil && a.IsUnspecified() {
			return nil, nil
		}
	}
	if kind == inventory.KindBool || kind == inventory.KindYAMLBool {
		if isUnsetWord(raw) {
			return nil, nil
		}
		b, ok := inventory.ParseBool(raw)
		if g, err := strconv.ParseBool(raw); !ok && err == nil {
			// Warewulf's flags also take what Go's ParseBool does: t, F...
			b, ok = g, true
		}
		if !ok {
			return nil, fmt.Errorf("--%s: %q is not a boolean (true, false, yes, no, or UNSET)", flag, raw)
		}
		s := strconv.FormatBool(b)
		return &s, nil
	}
	if raw != "" {
		if msg := inventory.CheckValue(kind, raw); msg != "" {
			return nil, fmt.Errorf("--%s: %q %s", flag, raw, msg)
		}
		if kind == inventory.KindMAC {
			raw = naming.NormalizeMAC(raw)
		}
	}
	return &raw, nil
}

// listValue reads a list flag: every use adds items, split on commas, or
// on white space for mkfs arguments, which contain commas, or, with
// csvItems, as a CSV line (Warewulf's StringSlice: kernel arguments, an
// item holding a comma quoted: '"console=ttyS0,115200"'). A lone UNSET
// clears the list.
func listValue(raw []string, spaces, csvItems bool) ([]string, error) {
	if len(raw) == 1 && (raw[0] == "UNSET" || raw[0] == "UNDEF") {
		return nil, nil
	}
	var out []string
	for _, r := range raw {
		if !csvItems {
			out = append(out, inventory.SplitList(r, spaces)...)
			continue
		}
		if r == "" {
			continue
		}
		items, err := csv.NewReader(strings.NewReader(r)).Read()
		if err != nil {
			return nil, fmt.Errorf("%q: %w (quote an argument that holds a comma: '\"console=ttyS0,115200\"')", r, err)
		}
		for _, it := range items {
			if it != "" {
				out = append(out, it)
			}
		}
	}
	return out, nil
}

// tagsValue is a tag flag read as Warewulf's (pflag's StringToString):
// a value with one "=" is one pair, value commas and all
// ("gpuMigProfiles=14,14,15", "route1=192.168.2.0/24,192.168.1.254"); one
// with several is comma-separated pairs, in CSV (quotes keep a comma in
// a value). Each use adds its pairs, in order.
type tagsValue struct{ pairs *[]string }

func (v *tagsValue) Set(s string) error {
	var items []string
	switch strings.Count(s, "=") {
	case 0:
		return fmt.Errorf("%q: want key=value", s)
	case 1:
		items = []string{strings.Trim(s, `"`)}
	default:
		r := csv.NewReader(strings.NewReader(s))
		var err error
		if items, err = r.Read(); err != nil {
			return fmt.Errorf("%q: %w", s, err)
		}
	}
	for _, it := range items {
		if k, _, ok := strings.Cut(it, "="); !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("%q: want key=value", it)
		}
	}
	*v.pairs = append(*v.pairs, items...)
	return nil
}

func (v *tagsValue) String() string { return strings.Join(*v.pairs, ",") }
func (v *tagsValue) Type() string   { return "key=value" }

func applyTags(tags *map[string]string, add, del []string) error {
	for _, kv := range add {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return fmt.Errorf("tag %q: expected key=value", kv)
		}
		if *tags == nil {
			*tags = map[string]string{}
		}
		(*tags)[k] = v
	}
	for _, k := range del {
		delete(*tags, k)
	}
	return nil
}

func addIPv4(s string, n int) (string, error) {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return "", fmt.Errorf("%q is not an IPv4 address", s)
	}
	b := a.As4()
	v := uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
	v += uint64(n)
	if v > 0xffffffff {
		return "", fmt.Errorf("%s + %d is past the end of the IPv4 space", s, n)
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String(), nil
}

// overlayFlags are the flags naming overlays.
var overlayFlags = []string{"system-overlays", "runtime-overlays"}

// checkOverlays refuses overlay names given to ff's flags that name no
// overlay, before anything is written: a typo would otherwise show only
// when the nodes' images fail to build. "~NAME" (drop an inherited
// overlay) is checked as NAME.
func (a *app) checkOverlays(ff *fieldFlags) error {
	for _, flag := range overlayFlags {
		if !ff.fs.Changed(flag) {
			continue
		}
		raw, _ := ff.fs.GetStringArray(flag)
		names, _ := listValue(raw, false, false) // comma splitting cannot fail
		for _, name := range names {
			name = strings.TrimPrefix(name, "~")
			if name == "" || isUnsetWord(name) {
				continue
			}
			if !naming.Overlay.Valid(name) {
				return fmt.Errorf("--%s: %q is not a valid overlay name (letters, digits, '-', '.', '_', ':')", flag, name)
			}
			if err := a.site.CheckOverlaysExist(name); err != nil {
				return fmt.Errorf("--%s: %w (wwctl overlay list shows the overlays; wwctl overlay create %s makes one)", flag, err, name)
			}
		}
	}
	return nil
}
