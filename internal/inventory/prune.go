package inventory

// PruneEmpty removes the network devices, disks, partitions and
// filesystems of p that hold no value, and empty kernel and IPMI sections
// and tag maps, as Warewulf does after "unset": an entry emptied field by
// field is gone rather than left as "{}" in nodes.conf. A disk whose only
// partitions were empty goes too.
func (p *Profile) PruneEmpty() {
	t := newTables()
	if len(p.Tags) == 0 {
		p.Tags = nil
	}
	if p.Kernel != nil && isEmpty(p.Kernel, t.kernel) {
		p.Kernel = nil
	}
	if p.Ipmi != nil && isEmpty(p.Ipmi, t.ipmi) {
		p.Ipmi = nil
	}
	for name, d := range p.NetDevs {
		if d == nil || isEmpty(d, t.netdev) {
			delete(p.NetDevs, name)
		}
	}
	for name, d := range p.Disks {
		if d != nil {
			for pn, part := range d.Partitions {
				if part == nil || isEmpty(part, t.part) {
					delete(d.Partitions, pn)
				}
			}
		}
		if d == nil || len(d.Partitions) == 0 && isEmpty(d, t.disk) {
			delete(p.Disks, name)
		}
	}
	for name, fs := range p.FileSystems {
		if fs == nil || isEmpty(fs, t.fs) {
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
func (d *NetDev) Empty() bool { return d == nil || isEmpty(d, newTables().netdev) }

// Empty reports whether the disk holds no value and no partition (nil
// is empty).
func (d *Disk) Empty() bool {
	return d == nil || len(d.Partitions) == 0 && isEmpty(d, newTables().disk)
}

// isEmpty reports whether v has no scalar set (even to ""), no list
// entry and no map key.
func isEmpty[T any](v *T, fields []Field[T]) bool {
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
