package config

import (
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// lookup returns the value of the key path in the mapping n, nil if any
// part is missing.
func lookup(n *yaml.Node, path ...string) *yaml.Node {
	for _, key := range path {
		n = resolve(n)
		if n == nil || n.Kind != yaml.MappingNode {
			return nil
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := resolve(n.Content[i]); k != nil && k.Value == key {
				next = resolve(n.Content[i+1])
				break
			}
		}
		if next == nil {
			return nil
		}
		n = next
	}
	return n
}

// readLegacy reads the keys of legacyRead: forms of Warewulf before 4.6
// whose meaning is clear, as Warewulf's own upgrade reads them.
func (d *decoder) readLegacy(root *yaml.Node, c *Config) {
	if v := lookup(root, "ipv6net"); v != nil && !isNull(v) {
		p, err := netip.ParsePrefix(v.Value)
		switch {
		case v.Kind != yaml.ScalarNode || err != nil || !p.Addr().Is6():
			d.fail(v.Line, "ipv6net: %s is not an IPv6 address with a prefix length", describe(v))
		default:
			if !d.isSet("ipaddr6") {
				c.Ipaddr6 = p.Addr().String()
				d.lines["ipaddr6"] = v.Line
			}
			if !d.isSet("prefixlen6") {
				c.Prefixlen6 = p.Bits()
				d.lines["prefixlen6"] = v.Line
			}
		}
	}
	if v := lookup(root, "warewulf", "datastore"); v != nil && !isNull(v) {
		if v.Kind != yaml.ScalarNode {
			d.fail(v.Line, "warewulf.datastore: expected a single value, got %s", describe(v))
		} else if !d.isSet("paths.datadir") {
			c.Paths.Datadir = v.Value
			d.lines["paths.datadir"] = v.Line
		}
	}
	if v := lookup(root, "nfs", "exports"); v != nil && !isNull(v) {
		if v.Kind != yaml.SequenceNode {
			d.fail(v.Line, "nfs.exports: expected a list, got %s", describe(v))
			return
		}
		// Warewulf's upgrade puts these before the export paths.
		var paths []ExportPath
		for _, item := range v.Content {
			item = resolve(item)
			if item == nil || item.Kind != yaml.ScalarNode || isNull(item) {
				d.fail(v.Line, "nfs.exports: items must be paths")
				continue
			}
			paths = append(paths, ExportPath{Path: item.Value, ExportOptions: DefaultExportOptions})
		}
		c.Nfs.ExportPaths = append(paths, c.Nfs.ExportPaths...)
		d.shiftLines("nfs.export paths", len(paths), v.Line)
	}
}

// shiftLines moves the lines recorded for the items of the list key by n
// places, and gives the n new first items line.
func (d *decoder) shiftLines(key string, n, line int) {
	moved := map[string]int{}
	for k, l := range d.lines {
		rest, ok := strings.CutPrefix(k, key+"[")
		if !ok {
			continue
		}
		num, tail, ok := strings.Cut(rest, "]")
		i, err := strconv.Atoi(num)
		if !ok || err != nil {
			continue
		}
		delete(d.lines, k)
		moved[fmt.Sprintf("%s[%d]%s", key, i+n, tail)] = l
	}
	maps.Copy(d.lines, moved)
	for i := range n {
		d.lines[fmt.Sprintf("%s[%d]", key, i)] = line
	}
}
