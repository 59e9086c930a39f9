package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/wwboot/wwboot/internal/inventory"
)

// unsetFlags are the flags of "node unset" and "profile unset": the same
// names as the set flags, taking no value. Their rules are Warewulf
// 4.7's: network flags apply to --netname, "default" unless given;
// partition flags need --diskname and --partname, disk flags --diskname,
// filesystem flags --fsname. A scope flag alone removes what it names
// (--partname without --diskname: from every disk). Clearing what is not
// there changes nothing, and entries left empty are removed.
type unsetFlags struct {
	fs    *pflag.FlagSet
	names []string

	netname, diskname, partname, fsname string
	tags, netTags, ipmiTags             []string
}

func addUnsetFlags(fs *pflag.FlagSet, node bool) *unsetFlags {
	uf := &unsetFlags{fs: fs}
	if node {
		registerUnset(fs, inventory.NodeFields())
	}
	registerUnset(fs, inventory.ProfileFields())
	registerUnset(fs, inventory.KernelFields())
	registerUnset(fs, inventory.IPMIFields())
	registerUnset(fs, inventory.NetDevFields())
	registerUnset(fs, inventory.DiskFields())
	registerUnset(fs, inventory.PartitionFields())
	registerUnset(fs, inventory.FileSystemFields())
	fs.StringVar(&uf.netname, "netname", "default", "Network device the network flags apply to; given alone, remove the device")
	fs.StringVar(&uf.diskname, "diskname", "", "Disk the disk and partition flags apply to; given alone, remove the disk")
	fs.StringVar(&uf.partname, "partname", "", "Partition the partition flags apply to; given alone, remove it (from --diskname, else from every disk)")
	fs.StringVar(&uf.fsname, "fsname", "", "Filesystem the filesystem flags apply to; given alone, remove it")
	fs.StringSliceVar(&uf.tags, "tag", nil, "Remove tags by key")
	fs.StringSliceVar(&uf.netTags, "nettag", nil, "Remove network device tags by key (of --netname)")
	fs.StringSliceVar(&uf.ipmiTags, "ipmitag", nil, "Remove IPMI tags by key")
	uf.names = flagNames(fs)
	return uf
}

func registerUnset[T any](fs *pflag.FlagSet, fields []inventory.Field[T]) {
	for _, f := range fields {
		if f.Flag != "" {
			fs.BoolP(f.Flag, f.Short, false, "Clear: "+f.Help)
		}
	}
}

func (uf *unsetFlags) changed() bool { return anyGiven(uf.fs, uf.names) }

// check refuses scoped flags without their scope, before anything is read.
func (uf *unsetFlags) check() error {
	if f := firstChanged(uf.fs, inventory.DiskFields()); f != "" && uf.diskname == "" {
		return fmt.Errorf("--diskname must be given with --%s", f)
	}
	if f := firstChanged(uf.fs, inventory.PartitionFields()); f != "" && (uf.diskname == "" || uf.partname == "") {
		return fmt.Errorf("--diskname and --partname must be given with --%s", f)
	}
	if f := firstChanged(uf.fs, inventory.FileSystemFields()); f != "" && uf.fsname == "" {
		return fmt.Errorf("--fsname must be given with --%s", f)
	}
	if uf.fsname != "" {
		if _, err := fsDevice(uf.fsname); err != nil {
			return fmt.Errorf("--fsname: %w", err)
		}
	}
	return nil
}

func (uf *unsetFlags) applyNode(n *inventory.Node) error {
	clearFields(uf.fs, n, inventory.NodeFields())
	return uf.applyProfile(&n.Profile)
}

func (uf *unsetFlags) applyProfile(p *inventory.Profile) error {
	if err := uf.check(); err != nil {
		return err
	}
	clearFields(uf.fs, p, inventory.ProfileFields())
	for _, k := range uf.tags {
		delete(p.Tags, k)
	}
	if p.Kernel != nil {
		clearFields(uf.fs, p.Kernel, inventory.KernelFields())
	}
	if p.Ipmi != nil {
		clearFields(uf.fs, p.Ipmi, inventory.IPMIFields())
		for _, k := range uf.ipmiTags {
			delete(p.Ipmi.Tags, k)
		}
	}
	netFields := anyChanged(uf.fs, inventory.NetDevFields()) || len(uf.netTags) > 0
	if d := p.NetDevs[uf.netname]; d != nil && netFields {
		clearFields(uf.fs, d, inventory.NetDevFields())
		for _, k := range uf.netTags {
			delete(d.Tags, k)
		}
	}
	if uf.fs.Changed("netname") && !netFields {
		delete(p.NetDevs, uf.netname)
	}
	if err := uf.applyStorage(p); err != nil {
		return err
	}
	p.PruneEmpty()
	return nil
}

func (uf *unsetFlags) applyStorage(p *inventory.Profile) error {
	diskFields := anyChanged(uf.fs, inventory.DiskFields())
	partFields := anyChanged(uf.fs, inventory.PartitionFields())
	if d := p.Disks[uf.diskname]; d != nil {
		if diskFields {
			clearFields(uf.fs, d, inventory.DiskFields())
		}
		if part := d.Partitions[uf.partname]; part != nil && partFields {
			clearFields(uf.fs, part, inventory.PartitionFields())
		}
	}
	if uf.diskname != "" && uf.partname == "" && !diskFields {
		delete(p.Disks, uf.diskname)
	}
	if uf.partname != "" && !partFields {
		// Removing a partition that is not there is an error in Warewulf.
		if err := deletePartition(p, uf.diskname, uf.partname); err != nil {
			return err
		}
	}
	if uf.fsname == "" {
		return nil
	}
	name, _ := fsDevice(uf.fsname) // check has refused a bad name
	if !anyChanged(uf.fs, inventory.FileSystemFields()) {
		delete(p.FileSystems, name)
	} else if fs := p.FileSystems[name]; fs != nil {
		clearFields(uf.fs, fs, inventory.FileSystemFields())
	}
	return nil
}

// deletePartition removes partition part from disk, or from every disk
// when disk is "", as Warewulf's "--partdel" and "unset --partname" do;
// a partition found nowhere is an error.
func deletePartition(p *inventory.Profile, disk, part string) error {
	if disk != "" {
		d := p.Disks[disk]
		if d == nil {
			return fmt.Errorf("no disk %q", disk)
		}
		if _, ok := d.Partitions[part]; !ok {
			return fmt.Errorf("disk %q has no partition %q", disk, part)
		}
		delete(d.Partitions, part)
		return nil
	}
	found := false
	for _, d := range p.Disks {
		if d == nil {
			continue
		}
		if _, ok := d.Partitions[part]; ok {
			delete(d.Partitions, part)
			found = true
		}
	}
	if !found {
		return fmt.Errorf("no disk has a partition %q", part)
	}
	return nil
}

func clearFields[T any](fs *pflag.FlagSet, v *T, fields []inventory.Field[T]) {
	for _, f := range fields {
		if f.Flag == "" || !fs.Changed(f.Flag) {
			continue
		}
		if on, _ := fs.GetBool(f.Flag); !on {
			continue
		}
		switch {
		case f.Str != nil:
			*f.Str(v) = nil
		case f.List != nil:
			*f.List(v) = nil
		case f.Map != nil:
			*f.Map(v) = nil
		}
	}
}

// firstChanged names the first of fields' flags given, "" for none.
func firstChanged[T any](fs *pflag.FlagSet, fields []inventory.Field[T]) string {
	for _, f := range fields {
		if f.Flag != "" && fs.Changed(f.Flag) {
			return f.Flag
		}
	}
	return ""
}
