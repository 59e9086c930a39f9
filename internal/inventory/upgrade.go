package inventory

import (
	"fmt"
	"slices"

	"gopkg.in/yaml.v3"
)

// The overlays Warewulf 4.6 split "wwinit" and "generic" into, in
// Warewulf's order: what "--replace-overlays" and "--add-defaults" use.
func wwinitSplitOverlays() []string {
	return []string{"wwinit", "wwclient", "fstab", "hostname", "ssh.host_keys", "issue", "resolv",
		"udev.netname", "systemd.netname", "ifcfg", "ifupdown", "NetworkManager", "wicked", "ignition"}
}

func genericSplitOverlays() []string {
	return []string{"hosts", "ssh.authorized_keys", "syncuser"}
}

// UpgradeOptions are the choices of "wwctl upgrade nodes".
type UpgradeOptions struct {
	// AddDefaults gives the "default" profile Warewulf's default
	// settings where it has none, gives profile network devices a type
	// and netmask, and puts nodes without a profile in "default".
	AddDefaults bool
	// ReplaceOverlays replaces the "wwinit" and "generic" overlays of
	// Warewulf before 4.6 with the overlays they were split into.
	ReplaceOverlays bool
	// Fstab are entries for the "default" profile's fstab resource: the
	// NFS mounts an older warewulf.conf declared (see
	// config.LegacyNFSMounts).
	Fstab []FstabEntry
	// ResolveOverride finds the kernel that a Warewulf 4.5 kernel
	// override (a kernel imported with "wwctl kernel import") names, in
	// the image the entity boots: a path for "kernel: version". Nil, or
	// false, leaves the override out, as Warewulf's upgrade does.
	ResolveOverride func(image, override string) (string, bool)
}

// FstabEntry is one entry of the fstab resource.
type FstabEntry struct {
	Spec, File, VfsType, MntOps string
}

// Upgraded is a converted nodes.conf.
type Upgraded struct {
	Data []byte
	// Changes says what was converted, one line each, in file order.
	Changes []string
	// Kept are the warnings the converted file still gives: keys that no
	// version of the format has, kept as they were.
	Kept []Warning
}

// Upgrade converts a nodes.conf of Warewulf 4.2-4.6 to the current
// format, keeping its comments and order. Malformed values are errors, as
// when loading.
func Upgrade(data []byte, file string, o UpgradeOptions) (*Upgraded, error) {
	inv, err := Parse(data, file)
	if err != nil {
		return nil, err
	}
	u := &upgrader{o: o, file: file, drop: map[*yaml.Node]bool{}}
	for _, w := range inv.converted {
		u.note("%s", w.Problem())
	}
	for _, w := range inv.oldKeys {
		u.drop[w.node] = true
	}
	inv.extra = u.filter(inv.extra, func(k, v *yaml.Node) string {
		return fmt.Sprintf("%s:%d: removed %q", file, k.Line, k.Value)
	})
	for _, name := range inv.ProfileNames() {
		u.entity(inv.Profiles[name], "profile "+quote(name), true)
	}
	for _, name := range inv.NodeNames() {
		n := inv.Nodes[name]
		ctx := "node " + quote(name)
		u.entity(&n.Profile, ctx, false)
		if o.AddDefaults {
			if len(n.Profiles) == 0 {
				n.Profiles = []string{"default"}
				u.note("%s: profiles: set to default", ctx)
			} else if !slices.Contains(n.Profiles, "default") {
				u.note("%s: does not include the default profile: verify default settings manually", ctx)
			}
			for _, dn := range sortedKeys(n.NetDevs) {
				nd := n.NetDevs[dn]
				if nd.Type == nil {
					u.note("%s: network device %q has no type: verify default settings manually", ctx, dn)
				}
				if nd.Netmask == nil {
					u.note("%s: network device %q has no netmask: verify default settings manually", ctx, dn)
				}
			}
		}
	}
	if len(o.Fstab) > 0 {
		u.fstab(inv)
	}
	if o.AddDefaults {
		u.defaults(inv)
	}
	out, err := inv.Marshal()
	if err != nil {
		return nil, err
	}
	again, err := Parse(out, file)
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: the converted file does not load: %w", file, err)
	}
	return &Upgraded{Data: out, Changes: u.changes, Kept: again.Warnings()}, nil
}

type upgrader struct {
	o       UpgradeOptions
	file    string
	drop    map[*yaml.Node]bool
	changes []string
}

func (u *upgrader) note(format string, args ...any) {
	u.changes = append(u.changes, fmt.Sprintf(format, args...))
}

// filter removes the pairs whose key is to be dropped, noting each.
func (u *upgrader) filter(pairs []*yaml.Node, describe func(k, v *yaml.Node) string) []*yaml.Node {
	var out []*yaml.Node
	for i := 0; i+1 < len(pairs); i += 2 {
		k, v := pairs[i], pairs[i+1]
		if u.drop[k] {
			if s := describe(k, v); s != "" {
				u.changes = append(u.changes, s)
			}
			continue
		}
		out = append(out, k, v)
	}
	return out
}

// entity upgrades a node's or profile's own settings.
func (u *upgrader) entity(p *Profile, ctx string, profile bool) {
	removed := func(where string) func(k, v *yaml.Node) string {
		return func(k, v *yaml.Node) string {
			return fmt.Sprintf("%s:%d: %s%s: removed %q (%s)", u.file, k.Line, ctx, where, k.Value, describeValue(v))
		}
	}
	overrides := func(pairs []*yaml.Node, key string) {
		for i := 0; i+1 < len(pairs); i += 2 {
			k, v := pairs[i], pairs[i+1]
			if k.Value == key && u.drop[k] {
				u.override(p, v.Value, ctx)
			}
		}
	}
	overrides(p.Unknown, "kernel override")
	p.Unknown = u.filter(p.Unknown, removed(""))
	if p.Kernel != nil {
		overrides(p.Kernel.Unknown, "override")
		p.Kernel.Unknown = u.filter(p.Kernel.Unknown, removed(": kernel"))
	}
	for _, name := range sortedKeys(p.NetDevs) {
		nd := p.NetDevs[name]
		nd.Unknown = u.filter(nd.Unknown, removed(": network device "+quote(name)))
		if profile && u.o.AddDefaults {
			if nd.Type == nil {
				nd.Type = ptr("ethernet")
				u.note("%s: network device %q: type: set to ethernet", ctx, name)
			}
			if nd.Netmask == nil {
				nd.Netmask = ptr("255.255.255.0")
				u.note("%s: network device %q: netmask: set to 255.255.255.0", ctx, name)
			}
		}
	}
	if p.Ipxe != nil && *p.Ipxe == "dracut" {
		if _, ok := p.Tags["IPXEMenuEntry"]; !ok {
			p.Ipxe = ptr("default")
			if p.Tags == nil {
				p.Tags = map[string]string{}
			}
			p.Tags["IPXEMenuEntry"] = "dracut"
			u.note("%s: ipxe template dracut: replaced with default and the tag IPXEMenuEntry=dracut", ctx)
		} else {
			u.note("%s: ipxe template dracut: kept, as the tag IPXEMenuEntry is already set", ctx)
		}
	}
	if u.o.ReplaceOverlays {
		if l, ok := replaceOverlay(p.SystemOverlay, "wwinit", wwinitSplitOverlays()); ok {
			p.SystemOverlay = l
			u.note("%s: system overlay: wwinit replaced with %v", ctx, wwinitSplitOverlays())
		}
		if l, ok := replaceOverlay(p.RuntimeOverlay, "generic", genericSplitOverlays()); ok {
			p.RuntimeOverlay = l
			u.note("%s: runtime overlay: generic replaced with %v", ctx, genericSplitOverlays())
		}
	}
}

// override resolves a kernel override of Warewulf 4.5 into "kernel:
// version", or notes that it could not be.
func (u *upgrader) override(p *Profile, override, ctx string) {
	image := ""
	if p.ImageName != nil {
		image = *p.ImageName
	}
	if u.o.ResolveOverride != nil {
		if path, ok := u.o.ResolveOverride(image, override); ok {
			if p.Kernel == nil {
				p.Kernel = &Kernel{}
			}
			if p.Kernel.Version == nil {
				p.Kernel.Version = &path
				u.note("%s: kernel override %s: resolved to kernel version %s", ctx, override, path)
				return
			}
		}
	}
	if image == "" {
		image = "unknown"
	}
	u.note("%s: kernel override %s: unable to resolve (image %s); verify the kernel version manually", ctx, override, image)
}

// replaceOverlay puts with in the place of name, leaving out overlays the
// list already has.
func replaceOverlay(list []string, name string, with []string) ([]string, bool) {
	i := slices.Index(list, name)
	if i < 0 {
		return list, false
	}
	var add []string
	for _, o := range with {
		if o == name || !slices.Contains(list, o) {
			add = append(add, o)
		}
	}
	out := slices.Concat(list[:i], add, list[i+1:])
	return out, true
}

// fstab adds the NFS mounts of an older warewulf.conf to the default
// profile's fstab resource.
func (u *upgrader) fstab(inv *Inventory) {
	p := defaultProfile(inv)
	cur := p.Resources["fstab"]
	if cur != nil && cur.Kind != yaml.SequenceNode {
		u.note("profile \"default\": unable to port NFS mounts from warewulf.conf: the fstab resource is not a list")
		return
	}
	seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	if cur != nil {
		seq.Content = append(seq.Content, cur.Content...)
	}
	for _, e := range u.o.Fstab {
		seq.Content = append(seq.Content, fstabNode(e))
		u.note("profile \"default\": resources: fstab: added %s on %s from warewulf.conf", e.Spec, e.File)
	}
	if p.Resources == nil {
		p.Resources = map[string]*yaml.Node{}
	}
	p.Resources["fstab"] = seq
}

func fstabNode(e FstabEntry) *yaml.Node {
	m := mapping()
	addPair(m, "spec", scalarNode(e.Spec, KindString))
	addPair(m, "file", scalarNode(e.File, KindString))
	addPair(m, "vfstype", scalarNode(e.VfsType, KindString))
	if e.MntOps != "" {
		addPair(m, "mntops", scalarNode(e.MntOps, KindString))
	}
	return m
}

func defaultProfile(inv *Inventory) *Profile {
	p, ok := inv.Profiles["default"]
	if !ok {
		p = &Profile{}
		inv.Profiles["default"] = p
	}
	return p
}

// defaults gives the default profile Warewulf 4.7's default settings
// where it sets nothing.
func (u *upgrader) defaults(inv *Inventory) {
	p := defaultProfile(inv)
	const ctx = `profile "default"`
	if len(p.SystemOverlay) == 0 {
		p.SystemOverlay = wwinitSplitOverlays()
		u.note("%s: system overlay: set to %v", ctx, p.SystemOverlay)
	}
	if len(p.RuntimeOverlay) == 0 {
		p.RuntimeOverlay = genericSplitOverlays()
		u.note("%s: runtime overlay: set to %v", ctx, p.RuntimeOverlay)
	}
	if p.Kernel == nil {
		p.Kernel = &Kernel{}
	}
	if len(p.Kernel.Args) == 0 {
		p.Kernel.Args = []string{"quiet", "crashkernel=no", "net.ifnames=1"}
		u.note("%s: kernel args: set to %v", ctx, p.Kernel.Args)
	}
	for _, s := range []struct {
		key   string
		dst   **string
		value string
	}{{"init", &p.Init, "/sbin/init"}, {"root", &p.Root, "initramfs"}, {"ipxe template", &p.Ipxe, "default"}} {
		if *s.dst == nil || **s.dst == "" {
			*s.dst = ptr(s.value)
			u.note("%s: %s: set to %s", ctx, s.key, s.value)
		}
	}
	if _, ok := p.Resources["fstab"]; !ok {
		if p.Resources == nil {
			p.Resources = map[string]*yaml.Node{}
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range []FstabEntry{
			{Spec: "warewulf:/home", File: "/home", VfsType: "nfs", MntOps: "defaults,nofail"},
			{Spec: "warewulf:/opt", File: "/opt", VfsType: "nfs", MntOps: "defaults,noauto,nofail,ro"},
		} {
			seq.Content = append(seq.Content, fstabNode(e))
		}
		p.Resources["fstab"] = seq
		u.note("%s: resources: fstab: set to the NFS mounts of /home and /opt", ctx)
	}
	if p.Ipmi == nil {
		p.Ipmi = &IPMI{}
	}
	if p.Ipmi.Template == nil || *p.Ipmi.Template == "" {
		p.Ipmi.Template = ptr("ipmitool.tmpl")
		u.note("%s: ipmi template: set to ipmitool.tmpl", ctx)
	}
}

func describeValue(v *yaml.Node) string {
	if v.Kind == yaml.ScalarNode {
		return "was " + quote(v.Value)
	}
	return "a " + map[yaml.Kind]string{yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}[v.Kind]
}

func ptr(s string) *string { return &s }
