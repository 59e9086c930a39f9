package inventory

import "gopkg.in/yaml.v3"

// PruneEmpty removes the network devices, disks, partitions and
// filesystems of p that hold no value, and empty kernel and IPMI sections
// and tag maps, as Warewulf does after "unset": an entry emptied field by
// field is gone rather than left as "{}" in nodes.conf. A disk whose only
// partitions were empty goes too. An entry holding a key this version
// does not know (a later Warewulf's) stays, with the key.
func (p *Profile) PruneEmpty() {
	t := newTables()
	if len(p.Tags) == 0 {
		p.Tags = nil
	}
	if p.Kernel != nil && isEmpty(p.Kernel, t.kernel, p.Kernel.Unknown) {
		p.Kernel = nil
	}
	if p.Ipmi != nil && isEmpty(p.Ipmi, t.ipmi, p.Ipmi.Unknown) {
		p.Ipmi = nil
	}
	for name, d := range p.NetDevs {
		if d == nil || isEmpty(d, t.netdev, d.Unknown) {
			delete(p.NetDevs, name)
		}
	}
	for name, d := range p.Disks {
		if d != nil {
			for pn, part := range d.Partitions {
				if part == nil || isEmpty(part, t.part, part.Unknown) {
					delete(d.Partitions, pn)
				}
			}
		}
		if d == nil || len(d.Partitions) == 0 && isEmpty(d, t.disk, d.Unknown) {
			delete(p.Disks, name)
		}
	}
	for name, fs := range p.FileSystems {
		if fs == nil || isEmpty(fs, t.fs, fs.Unknown) {
			delete(p.FileSystems, name)
		}
	}
	if len(p.NetDevs) == 0 {
		p.NetDevs = nil
	}
	if len(p.Disks) == 0 {
		p.Disks = nil
	}
	if len(p.FileSystems) == 0 {
		p.FileSystems = nil
	}
}

// Empty reports whether the network device holds no value (nil is
// empty).
func (d *NetDev) Empty() bool { return d == nil || isEmpty(d, newTables().netdev, d.Unknown) }

// Empty reports whether the disk holds no value and no partition (nil
// is empty).
func (d *Disk) Empty() bool {
	return d == nil || len(d.Partitions) == 0 && isEmpty(d, newTables().disk, d.Unknown)
}

// isEmpty reports whether v has no scalar set (even to ""), no list
// entry, no map key, and no key this version does not know (unknown, kept
// from the file as it was: pruning must not lose it).
func isEmpty[T any](v *T, fields []Field[T], unknown []*yaml.Node) bool {
	if len(unknown) > 0 {
		return false
	}
	for _, f := range fields {
		switch {
		case f.Str != nil:
			if *f.Str(v) != nil {
				return false
			}
		case f.List != nil:
			if len(*f.List(v)) > 0 {
				return false
			}
		case f.Map != nil:
			if len(*f.Map(v)) > 0 {
				return false
			}
		}
	}
	return true
}
