package inventory

import (
	"fmt"
	"net/netip"
	"strings"

	"gopkg.in/yaml.v3"
)

// UpgradeHint is what a warning about an older Warewulf form tells the
// administrator to run.
const UpgradeHint = `run "wwctl upgrade nodes" to convert the file`

// Warning is a key of nodes.conf that was read but is not, or is no
// longer, part of the format. Nothing stops because of it.
type Warning struct {
	File string
	Line int
	// Entity is where the key is, such as `node "n1": network device
	// "eth0"`; "" at the top level.
	Entity string
	Key    string
	Text   string
	// Kept marks a key that was not read: it stays in the file, unused.
	Kept bool
	// Legacy marks a form of Warewulf 4.2-4.5 that "wwctl upgrade nodes"
	// converts.
	Legacy bool

	node *yaml.Node // the key, for Upgrade to remove
}

func (w Warning) String() string {
	s := w.Problem()
	if w.Kept {
		s += "; kept in the file, not used"
	}
	if w.Legacy {
		s += " (" + UpgradeHint + ")"
	}
	return s
}

// Problem is the warning without what is done about it: "FILE:LINE:
// ENTITY: TEXT".
func (w Warning) Problem() string {
	var b strings.Builder
	b.WriteString(w.File)
	if w.Line > 0 {
		fmt.Fprintf(&b, ":%d", w.Line)
	}
	b.WriteString(": ")
	if w.Entity != "" {
		b.WriteString(w.Entity + ": ")
	}
	b.WriteString(w.Text)
	return b.String()
}

// Warnings are the warnings of the file the inventory was read from.
func (inv *Inventory) Warnings() []Warning { return inv.warnings }

// legacyIPMIKeys map the inline IPMI keys of a node or profile (Warewulf
// 4.2-4.5) to the keys of the "ipmi" section.
func legacyIPMIKeys() map[string]string {
	return map[string]string{
		"ipmi username":   "username",
		"ipmi password":   "password",
		"ipmi ipaddr":     "ipaddr",
		"ipmi netmask":    "netmask",
		"ipmi port":       "port",
		"ipmi gateway":    "gateway",
		"ipmi interface":  "interface",
		"ipmi escapechar": "escapechar",
		"ipmi write":      "write",
	}
}

// legacyKernelKeys map the inline kernel keys to the "kernel" section.
func legacyKernelKeys() map[string]string {
	return map[string]string{
		"kernel version":  "version",
		"kernel args":     "args",
		"kernel override": "override",
	}
}

// legacyEntityKey reports whether key is one of a node's or profile's
// keys of Warewulf 4.2-4.5 that legacyEntity reads.
func legacyEntityKey(key string) bool {
	switch key {
	case "container name", "keys", "tagsdel", "disabled":
		return true
	}
	// The maps are made only for a key that may be in them: this is
	// asked for most keys of every node.
	if !strings.HasPrefix(key, "ipmi ") && !strings.HasPrefix(key, "kernel ") {
		return false
	}
	_, ipmi := legacyIPMIKeys()[key]
	_, kernel := legacyKernelKeys()[key]
	return ipmi || kernel
}

// legacyEntity reads the older keys of a node or profile, given as key
// and value pairs, after the current keys so that a current key wins over
// its older form.
func (d *decoder) legacyEntity(pairs []*yaml.Node, p *Profile, ctx string) {
	var tagsdel []*yaml.Node
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		switch key := k.Value; {
		case key == "container name":
			d.legacyScalar(k, v, ctx, "image name", &p.ImageName, &p.Unknown)
		case key == "keys":
			// Tags under their name before Warewulf 4.4; "tags" wins.
			var keys map[string]string
			d.stringMap(k, v, ctx, &keys)
			if p.Tags == nil && len(keys) > 0 {
				p.Tags = map[string]string{}
			}
			for tk, tv := range keys {
				if _, ok := p.Tags[tk]; !ok {
					p.Tags[tk] = tv
				}
			}
			d.warn(k, ctx, true, "%q is the old name of %q; read as %q", key, "tags", "tags")
		case key == "tagsdel":
			tagsdel = append(tagsdel, k, v)
		case key == "disabled":
			d.kept(k, ctx, true, "%q is no longer used", key)
			p.Unknown = append(p.Unknown, k, v)
		default:
			if sub, ok := legacyIPMIKeys()[key]; ok {
				if p.Ipmi == nil {
					p.Ipmi = &IPMI{}
				}
				f, _ := findField(d.t.ipmi, sub)
				d.legacyScalar(k, v, ctx, "ipmi: "+sub, f.Str(p.Ipmi), &p.Unknown)
				continue
			}
			sub := legacyKernelKeys()[key]
			if p.Kernel == nil {
				p.Kernel = &Kernel{}
			}
			switch sub {
			case "args":
				if len(p.Kernel.Args) > 0 {
					d.shadowed(k, v, ctx, "kernel: args", &p.Unknown)
					continue
				}
				d.list(k, v, ctx, &p.Kernel.Args, true)
				d.warn(k, ctx, true, "%q is the old form of %q; read as %q", key, "kernel: args", "kernel: args")
			case "version":
				d.legacyScalar(k, v, ctx, "kernel: version", &p.Kernel.Version, &p.Unknown)
			case "override":
				d.override(k, v, ctx, p.Kernel, &p.Unknown)
			}
		}
	}
	d.legacyTagsDel(tagsdel, &p.Tags, &p.Unknown, ctx)
	if p.Ipmi != nil && isEmptyIPMI(p.Ipmi) {
		p.Ipmi = nil
	}
	if p.Kernel != nil && p.Kernel.Version == nil && len(p.Kernel.Args) == 0 && len(p.Kernel.Unknown) == 0 {
		p.Kernel = nil
	}
}

func isEmptyIPMI(i *IPMI) bool {
	return i.UserName == nil && i.Password == nil && i.Ipaddr == nil && i.Gateway == nil && i.Netmask == nil &&
		i.Port == nil && i.Interface == nil && i.EscapeChar == nil && i.Write == nil && i.Template == nil &&
		len(i.Tags) == 0 && len(i.Unknown) == 0
}

// legacyScalar reads an older key into dst unless the current key (named
// current) already set it; then the older key is kept, unused.
func (d *decoder) legacyScalar(k, v *yaml.Node, ctx, current string, dst **string, unknown *[]*yaml.Node) {
	if *dst != nil {
		d.shadowed(k, v, ctx, current, unknown)
		return
	}
	d.scalar(k, v, ctx, dst)
	d.warn(k, ctx, true, "%q is the old form of %q; read as %q", k.Value, current, current)
}

// shadowed keeps an older key whose current form is also set.
func (d *decoder) shadowed(k, v *yaml.Node, ctx, current string, unknown *[]*yaml.Node) {
	d.kept(k, ctx, true, "%q is the old form of %q, which is also set", k.Value, current)
	*unknown = append(*unknown, k, v)
}

// override reads a kernel override of Warewulf 4.5. A path is a kernel
// inside the image, which "version" now names; any other value names a
// kernel imported with 4.5's "wwctl kernel import", which only "wwctl
// upgrade nodes" can resolve, so it is kept unused.
func (d *decoder) override(k, v *yaml.Node, ctx string, kernel *Kernel, unknown *[]*yaml.Node) {
	if v.Kind == yaml.ScalarNode && strings.HasPrefix(v.Value, "/") && kernel.Version == nil {
		d.scalar(k, v, ctx, &kernel.Version)
		d.warn(k, ctx, true, "%q is the old form of %q; read as %q", k.Value, "kernel: version", "kernel: version")
		return
	}
	d.kept(k, ctx, true, "%q names a kernel imported by Warewulf 4.5", k.Value)
	*unknown = append(*unknown, k, v)
}

// legacyKernel reads the "override" key of a kernel section.
func (d *decoder) legacyKernel(pairs []*yaml.Node, kernel *Kernel, ctx string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		d.override(pairs[i], pairs[i+1], ctx, kernel, &kernel.Unknown)
	}
}

// legacyTagsDel applies "tagsdel" lists, which Warewulf before 4.6 could
// leave in the file: the tags they name are removed.
func (d *decoder) legacyTagsDel(pairs []*yaml.Node, tags *map[string]string, unknown *[]*yaml.Node, ctx string) {
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		var names []string
		d.list(k, v, ctx, &names, false)
		for _, n := range names {
			delete(*tags, n)
		}
		if *tags != nil && len(*tags) == 0 {
			*tags = nil
		}
		d.warn(k, ctx, true, "%q is no longer used; the tags it names are removed", k.Value)
	}
}

// legacyNetDevKey reports whether key is a network device key of
// Warewulf 4.2-4.5 that legacyNetDev reads.
func legacyNetDevKey(key string) bool {
	switch key {
	case "default", "primary", "ip6addr", "ipcidr", "prefix", "tagsdel":
		return true
	}
	return false
}

// legacyNetDev reads the older keys of a network device. It reports
// whether the device said it was the primary one ("default: true" in 4.2,
// "primary: true" until 4.5).
func (d *decoder) legacyNetDev(pairs []*yaml.Node, nd *NetDev, ctx string) (primary bool) {
	var tagsdel []*yaml.Node
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		switch k.Value {
		case "default", "primary":
			if isNull(v) {
				continue
			}
			b, ok := ParseBool(v.Value)
			if v.Kind != yaml.ScalarNode || !ok {
				d.errorf(v, "%s: %q: %q is not a boolean", ctx, k.Value, v.Value)
				continue
			}
			primary = primary || b
			d.warn(k, ctx, true, "%q is the old form of the node's %q; read as such", k.Value, "primary network")
		case "ip6addr":
			// Warewulf 4.5 wrote the IPv6 address under this key; it wins
			// as it does in Warewulf's upgrade.
			var s *string
			d.scalar(k, v, ctx, &s)
			if s != nil {
				if nd.Ipaddr6 != nil && *nd.Ipaddr6 != *s {
					d.warn(k, ctx, true, "%q and %q differ; %q is used", k.Value, "ipaddr6", k.Value)
				}
				nd.Ipaddr6 = s
			}
			d.warn(k, ctx, true, "%q is the old name of %q; read as %q", k.Value, "ipaddr6", "ipaddr6")
		case "ipcidr":
			var s *string
			d.scalar(k, v, ctx, &s)
			if s == nil {
				continue
			}
			pfx, err := netip.ParsePrefix(*s)
			if err != nil || !pfx.Addr().Is4() {
				d.errorf(v, "%s: %q: %q is not an IPv4 address with a prefix length", ctx, k.Value, *s)
				continue
			}
			if nd.Ipaddr == nil {
				addr := pfx.Addr().String()
				nd.Ipaddr = &addr
			}
			if nd.Netmask == nil {
				mask := netmaskOf(pfx.Bits())
				nd.Netmask = &mask
			}
			d.warn(k, ctx, true, "%q is the old form of %q and %q; read as such where they are not set", k.Value, "ipaddr", "netmask")
		case "prefix":
			d.kept(k, ctx, true, "%q is no longer used", k.Value)
			nd.Unknown = append(nd.Unknown, k, v)
		case "tagsdel":
			tagsdel = append(tagsdel, k, v)
		}
	}
	d.legacyTagsDel(tagsdel, &nd.Tags, &nd.Unknown, ctx)
	return primary
}

// legacyPrimary makes the first device that said it was primary the
// entity's primary network, unless "primary network" is set.
func (d *decoder) legacyPrimary(names []string, p *Profile, ctx string) {
	if len(names) == 0 || p.PrimaryNetDev != nil {
		return
	}
	name := names[0]
	p.PrimaryNetDev = &name
}

// legacyMountOptions reads mount options given as a list (Warewulf 4.5)
// as the one comma separated string fstab and systemd take.
func (d *decoder) legacyMountOptions(k, v *yaml.Node, fs *FileSystem, ctx string) {
	var opts []string
	d.list(k, v, ctx, &opts, false)
	s := strings.Join(opts, ",")
	fs.MountOptions = &s
	d.warn(k, ctx, true, "%q as a list is the old form; read as %q", k.Value, s)
}

func netmaskOf(bits int) string {
	var b [4]byte
	for i := range 4 {
		n := min(max(bits-8*i, 0), 8)
		b[i] = byte(0xff << (8 - n))
	}
	return netip.AddrFrom4(b).String()
}
