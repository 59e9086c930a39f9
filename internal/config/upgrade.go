package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// Upgraded is a converted warewulf.conf.
type Upgraded struct {
	Data []byte
	// Changes says what was converted, one line each.
	Changes []string
	// Warnings are what the converted file still warns about: keys no
	// version of the format has, kept as they were.
	Warnings []string
}

// Upgrade converts a warewulf.conf of Warewulf 4.2-4.6 to the current
// format: the keys legacyRead, legacyAliases and legacyIgnored name are
// rewritten as current keys or removed. Everything else, comments and
// unknown keys included, stays as it was. The input must load (see
// Parse); name starts every message.
func Upgrade(data []byte, name string) (*Upgraded, error) {
	if _, _, err := Parse(data, name); err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errors.New(syntaxMessage(name, data, err))
	}
	u := &Upgraded{}
	note := func(line int, format string, args ...any) {
		u.Changes = append(u.Changes, fmt.Sprintf("%s:%d: ", name, line)+fmt.Sprintf(format, args...))
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
		upgradeTree(doc.Content[0], note)
	}
	if len(doc.Content) == 0 {
		// An empty file (or one of comments only) has nothing to
		// upgrade; the encoder would refuse an empty stream.
		u.Data = data
		return u, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("upgrade %s: %w", name, err)
	}
	u.Data = buf.Bytes()
	_, warnings, err := Parse(u.Data, name)
	if err != nil {
		return nil, fmt.Errorf("upgrade %s: the converted file does not load: %w", name, err)
	}
	u.Warnings = warnings
	return u, nil
}

// upgradeTree rewrites the older keys of the root mapping in place.
func upgradeTree(root *yaml.Node, note func(line int, format string, args ...any)) {
	if k, v := take(root, "WW_INTERNAL"); k != nil {
		note(k.Line, "removed WW_INTERNAL (was %s)", describe(v))
	}
	at := index(root, "ipv6net")
	if k, v := take(root, "ipv6net"); k != nil {
		// The new keys take the old one's place.
		var add []*yaml.Node
		if p, err := netip.ParsePrefix(v.Value); err == nil {
			if get(root, "ipaddr6") == nil {
				add = append(add, str("ipaddr6"), str(p.Addr().String()))
				note(k.Line, "ipv6net %s: ipaddr6 set to %s", v.Value, p.Addr())
			}
			if get(root, "prefixlen6") == nil {
				add = append(add, str("prefixlen6"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(p.Bits())})
				note(k.Line, "ipv6net %s: prefixlen6 set to %d", v.Value, p.Bits())
			}
		}
		root.Content = slices.Insert(root.Content, at, add...)
		note(k.Line, "removed ipv6net")
	}
	if ww := get(root, "warewulf"); ww != nil && ww.Kind == yaml.MappingNode {
		if k, _ := take(ww, "syslog"); k != nil {
			note(k.Line, "removed warewulf.syslog: all logs go to stdout and stderr")
		}
		if k, v := take(ww, "datastore"); k != nil {
			paths := get(root, "paths")
			if paths == nil {
				paths = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
				root.Content = append(root.Content, str("paths"), paths)
			}
			if get(paths, "datadir") == nil && !isNull(v) {
				set(paths, "datadir", v.Value)
				note(k.Line, "warewulf.datastore %s: paths.datadir set to %s", v.Value, v.Value)
			}
			note(k.Line, "removed warewulf.datastore")
		}
	}
	if nfs := get(root, "nfs"); nfs != nil && nfs.Kind == yaml.MappingNode {
		upgradeNFS(nfs, note)
	}
	if k, v := take(root, "container mounts"); k != nil {
		if get(root, "image mounts") == nil {
			root.Content = append(root.Content, str("image mounts"), v)
			note(k.Line, "container mounts: renamed image mounts")
		} else {
			note(k.Line, "removed container mounts: image mounts is set")
		}
	}
}

func upgradeNFS(nfs *yaml.Node, note func(line int, format string, args ...any)) {
	paths := get(nfs, "export paths")
	if k, v := take(nfs, "exports"); k != nil {
		if paths == nil || paths.Kind != yaml.SequenceNode {
			paths = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			if _, old := take(nfs, "export paths"); old != nil && old.Kind == yaml.SequenceNode {
				paths.Content = old.Content
			}
			nfs.Content = append(nfs.Content, str("export paths"), paths)
		}
		var items []*yaml.Node
		for _, e := range v.Content {
			m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			m.Content = append(m.Content, str("path"), str(e.Value))
			items = append(items, m)
			note(e.Line, "nfs.exports %s: added to nfs.export paths", e.Value)
		}
		paths.Content = append(items, paths.Content...)
		note(k.Line, "removed nfs.exports")
	}
	if paths == nil || paths.Kind != yaml.SequenceNode {
		return
	}
	for i, item := range paths.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		if k, v := take(item, "mount"); k != nil {
			if b, _ := parseBool(v.Value); b {
				note(k.Line, "removed nfs.export paths[%d].mount: use \"wwctl upgrade nodes --with-warewulfconf=<original file>\" to mount it on the nodes", i)
			} else {
				note(k.Line, "removed nfs.export paths[%d].mount", i)
			}
		}
		if k, _ := take(item, "mount options"); k != nil {
			note(k.Line, "removed nfs.export paths[%d].mount options", i)
		}
	}
}

// LegacyMount is an NFS export an older warewulf.conf asked the nodes to
// mount.
type LegacyMount struct {
	Path, MountOptions string
}

// LegacyNFSMounts returns the NFS exports an older warewulf.conf mounts
// on the nodes, in Warewulf's order: every "nfs.exports" entry (4.2),
// then the "export paths" with "mount: true" (4.3-4.5).
func LegacyNFSMounts(data []byte, name string) ([]LegacyMount, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, errors.New(syntaxMessage(name, data, err))
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	var out []LegacyMount
	if v := lookup(doc.Content[0], "nfs", "exports"); v != nil && v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			out = append(out, LegacyMount{Path: e.Value})
		}
	}
	if v := lookup(doc.Content[0], "nfs", "export paths"); v != nil && v.Kind == yaml.SequenceNode {
		for _, item := range v.Content {
			m := lookup(item, "mount")
			if m == nil {
				continue
			}
			if b, _ := parseBool(m.Value); !b {
				continue
			}
			lm := LegacyMount{}
			if p := lookup(item, "path"); p != nil {
				lm.Path = p.Value
			}
			if o := lookup(item, "mount options"); o != nil {
				lm.MountOptions = o.Value
			}
			out = append(out, lm)
		}
	}
	return out, nil
}

// get returns the value of key in the mapping m.
func get(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// index returns the position of key's key node in the mapping m, -1 if
// m has no such key.
func index(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// take removes key from the mapping m and returns its key and value
// nodes, nil if m has no such key.
func take(m *yaml.Node, key string) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			k, v = m.Content[i], m.Content[i+1]
			m.Content = append(m.Content[:i:i], m.Content[i+2:]...)
			return k, v
		}
	}
	return nil, nil
}

// set gives key the string value in the mapping m, adding it at the end.
func set(m *yaml.Node, key, value string) {
	if v := get(m, key); v != nil {
		*v = *str(value)
		return
	}
	m.Content = append(m.Content, str(key), str(value))
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
