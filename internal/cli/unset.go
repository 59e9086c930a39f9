package cli

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/wwboot/wwboot/internal/inventory"
)

// unsetFlags are the flags of "node unset" and "profile unset": the same
// names as the set flags, taking no value.
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
	fs.StringVar(&uf.netname, "netname", "", "Network device the network flags apply to; alone, remove the device")
	fs.StringVar(&uf.diskname, "diskname", "", "Disk the disk flags apply to; alone, remove the disk")
	fs.StringVar(&uf.partname, "partname", "", "Partition (of --diskname) the partition flags apply to; alone, remove it")
	fs.StringVar(&uf.fsname, "fsname", "", "Filesystem the filesystem flags apply to; alone, remove it")
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

func (uf *unsetFlags) applyNode(n *inventory.Node) error {
	clearFields(uf.fs, n, inventory.NodeFields())
	return uf.applyProfile(&n.Profile)
}

func (uf *unsetFlags) applyProfile(p *inventory.Profile) error {
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
	if uf.netname != "" {
		d, ok := p.NetDevs[uf.netname]
		if !ok {
			return fmt.Errorf("no network device %q", uf.netname)
		}
		if anyChanged(uf.fs, inventory.NetDevFields()) || len(uf.netTags) > 0 {
			clearFields(uf.fs, d, inventory.NetDevFields())
			for _, k := range uf.netTags {
				delete(d.Tags, k)
			}
		} else {
			delete(p.NetDevs, uf.netname)
		}
	} else if anyChanged(uf.fs, inventory.NetDevFields()) || len(uf.netTags) > 0 {
		return fmt.Errorf("network flags need --netname")
	}
	if err := uf.applyStorage(p); err != nil {
		return err
	}
	return nil
}

func (uf *unsetFlags) applyStorage(p *inventory.Profile) error {
	diskFlags := anyChanged(uf.fs, inventory.DiskFields())
	partFlags := anyChanged(uf.fs, inventory.PartitionFields())
	if uf.diskname == "" && (diskFlags || partFlags || uf.partname != "") {
		return fmt.Errorf("disk and partition flags need --diskname")
	}
	if uf.diskname != "" {
		d, ok := p.Disks[uf.diskname]
		if !ok {
			return fmt.Errorf("no disk %q", uf.diskname)
		}
		switch {
		case uf.partname != "":
			part, ok := d.Partitions[uf.partname]
			if !ok {
				return fmt.Errorf("disk %q has no partition %q", uf.diskname, uf.partname)
			}
			if partFlags {
				clearFields(uf.fs, part, inventory.PartitionFields())
			} else {
				delete(d.Partitions, uf.partname)
			}
			clearFields(uf.fs, d, inventory.DiskFields())
		case diskFlags || partFlags:
			if partFlags {
				return fmt.Errorf("partition flags need --partname")
			}
			clearFields(uf.fs, d, inventory.DiskFields())
		default:
			delete(p.Disks, uf.diskname)
		}
	}
	fsFlags := anyChanged(uf.fs, inventory.FileSystemFields())
	if uf.fsname == "" {
		if fsFlags {
			return fmt.Errorf("filesystem flags need --fsname")
		}
		return nil
	}
	name := fsDevice(uf.fsname)
	fs, ok := p.FileSystems[name]
	if !ok {
		return fmt.Errorf("no filesystem %q", uf.fsname)
	}
	if fsFlags {
		clearFields(uf.fs, fs, inventory.FileSystemFields())
	} else {
		delete(p.FileSystems, name)
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
