package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// problem is one thing wrong with a configuration. line is 0 when it is not
// known yet; key lets Parse find the line of a problem found after decoding.
type problem struct {
	line int
	key  string
	text string
}

// decoder fills a Config from a yaml.Node tree by hand rather than with
// yaml.v3's Decode, so that every key is checked against the schema and every
// complaint can name its key and line.
type decoder struct {
	problems []problem
	warnings []problem
	// lines maps each key the file gives a value, such as
	// "nfs.export paths[1].path", and every list item, to its line.
	lines map[string]int
}

func newDecoder() *decoder {
	return &decoder{lines: map[string]int{}}
}

// isSet reports whether the file gave key a value.
func (d *decoder) isSet(key string) bool {
	_, ok := d.lines[key]
	return ok
}

func (d *decoder) fail(line int, format string, args ...any) {
	d.problems = append(d.problems, problem{line: line, text: fmt.Sprintf(format, args...)})
}

func (d *decoder) warn(line int, format string, args ...any) {
	d.warnings = append(d.warnings, problem{line: line, text: fmt.Sprintf(format, args...)})
}

// legacyAliases are keys an older warewulf.conf may use for a current key.
func legacyAliases() map[string]string {
	return map[string]string{
		"container mounts": "image mounts",
	}
}

// legacyIgnored are keys older Warewulf versions wrote that no longer mean
// anything; a site file that still has them must load, with a warning.
// List items are written with "[]" instead of an index.
func legacyIgnored() map[string]bool {
	return map[string]bool{
		"WW_INTERNAL":                      true,
		"warewulf.syslog":                  true,
		"nfs.export paths[].mount":         true,
		"nfs.export paths[].mount options": true,
	}
}

// legacyRead are keys of older Warewulf versions whose value readLegacy
// reads into the current keys, with what the warning says.
func legacyRead() map[string]string {
	return map[string]string{
		"ipv6net":            `read as "ipaddr6" and "prefixlen6" where they are not set`,
		"warewulf.datastore": `read as "paths.datadir" if that is not set`,
		"nfs.exports":        `read as "nfs.export paths"`,
	}
}

// UpgradeHint is what a warning about an older form tells the
// administrator to run.
const UpgradeHint = `run "wwctl upgrade config" to convert the file`

// schemaKey turns "nfs.export paths[3].mount" into "nfs.export paths[].mount".
func schemaKey(key string) string {
	var b strings.Builder
	inIndex := false
	for _, r := range key {
		switch {
		case r == '[':
			inIndex = true
			b.WriteRune(r)
		case r == ']':
			inIndex = false
			b.WriteRune(r)
		case !inIndex:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func joinKey(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// maxAliasDepth bounds alias chains; yaml.v3 refuses cycles, so this only
// guards against a very long chain.
const maxAliasDepth = 100

// resolve follows aliases to the node they name.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < maxAliasDepth; i++ {
		n = n.Alias
	}
	return n
}

// isMergeKey reports whether a key node is YAML's merge key, "<<".
func isMergeKey(n *yaml.Node) bool {
	// A quoted "<<" is a plain key, as in yaml.v3.
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!merge"
}

// mergeKeys returns the mapping n with its merge keys ("<<: *anchor", or
// a list of aliases) replaced by the entries they bring, as yaml.v3 reads
// them into Warewulf's structs: a key the mapping gives itself wins, then
// the first mapping of a list. A value that is not a mapping is kept for
// the caller to report as an unknown "<<" key. Nested merges are followed
// up to maxAliasDepth.
func mergeKeys(n *yaml.Node, depth int) *yaml.Node {
	if n.Kind != yaml.MappingNode || depth > maxAliasDepth {
		return n
	}
	hasMerge := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := resolve(n.Content[i]); k != nil && isMergeKey(k) {
			hasMerge = true
		}
	}
	if !hasMerge {
		return n
	}
	out := *n
	out.Content = nil
	given := map[string]bool{}
	var merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), resolve(n.Content[i+1])
		if k == nil || !isMergeKey(k) {
			out.Content = append(out.Content, n.Content[i], n.Content[i+1])
			if k != nil && k.Kind == yaml.ScalarNode {
				given[k.Value] = true
			}
			continue
		}
		sources := []*yaml.Node{v}
		if v != nil && v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			src = resolve(src)
			if src == nil || src.Kind != yaml.MappingNode {
				out.Content = append(out.Content, n.Content[i], n.Content[i+1])
				break
			}
			src = mergeKeys(src, depth+1)
			for j := 0; j+1 < len(src.Content); j += 2 {
				merged = append(merged, [2]*yaml.Node{src.Content[j], src.Content[j+1]})
			}
		}
	}
	for _, kv := range merged {
		k := resolve(kv[0])
		if k == nil || k.Kind != yaml.ScalarNode || given[k.Value] {
			continue
		}
		given[k.Value] = true
		out.Content = append(out.Content, kv[0], kv[1])
	}
	return &out
}

// isNull reports whether n gives no value: null, an empty node or an
// empty string. Such a key means the same as an absent one.
func isNull(n *yaml.Node) bool {
	if n == nil || n.Kind == 0 {
		return true
	}
	return n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!null" || n.Value == "")
}

// describe names what a node is, for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	default:
		return "an unsupported YAML node"
	}
}

// yamlFields maps each yaml key of struct type t to its field index.
func yamlFields(t reflect.Type) map[string]int {
	fields := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	return fields
}

// decodeStruct reads the mapping n into the struct v, whose key is prefix.
// Keys the mapping does not give keep the value v already holds.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, prefix string) {
	if n.Kind != yaml.MappingNode {
		what := prefix
		if what == "" {
			what = "the top level"
		}
		d.fail(n.Line, "%s: expected a mapping, got %s", what, describe(n))
		return
	}
	n = mergeKeys(n, 0)
	fields := yamlFields(v.Type())
	type seenKey struct {
		line    int
		written string
	}
	seen := map[string]seenKey{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		if kn == nil || kn.Kind != yaml.ScalarNode {
			d.fail(n.Content[i].Line, "%s: a key must be plain text, got %s", prefix, describe(n.Content[i]))
			continue
		}
		written := kn.Value
		name := written
		key := joinKey(prefix, name)
		// prefix holds only schema keys and our own indices, so name
		// cannot smuggle a "[]" into the lookup.
		legacy := joinKey(schemaKey(prefix), name)
		if legacyIgnored()[legacy] {
			d.warn(kn.Line, "%s is no longer used; ignored (%s)", key, UpgradeHint)
			continue
		}
		if how, ok := legacyRead()[legacy]; ok {
			d.warn(kn.Line, "%s is the old form; %s (%s)", key, how, UpgradeHint)
			continue
		}
		if current, ok := legacyAliases()[legacy]; ok {
			name = current
			d.warn(kn.Line, "%q is the old name of %q; read as %q (%s)", written, name, name, UpgradeHint)
			key = joinKey(prefix, name)
		}
		if first, dup := seen[name]; dup {
			switch {
			case first.written == written:
				d.fail(kn.Line, "duplicate key %q (first on line %d)", key, first.line)
				continue
			case written == name:
				// The current name after an old one of the same key:
				// it wins, as in Warewulf.
				d.warn(first.line, "%s is ignored: %s (line %d) is given too", joinKey(prefix, first.written), key, kn.Line)
			default:
				// An old name after the current one is ignored.
				d.warn(kn.Line, "%s is ignored: %s (line %d) is given too", joinKey(prefix, written), key, first.line)
				continue
			}
		}
		seen[name] = seenKey{line: kn.Line, written: written}
		idx, ok := fields[name]
		if !ok {
			// Warewulf warns and goes on: a stray or newer key must not
			// stop every command. The value is not used.
			d.warn(kn.Line, "unknown key %q; ignored", key)
			continue
		}
		d.decodeValue(vn, v.Field(idx), key)
	}
}

// decodeValue reads n into v. A null value leaves v as it is, so an empty
// key keeps its default.
func (d *decoder) decodeValue(n *yaml.Node, v reflect.Value, key string) {
	if isNull(n) {
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, key)
	case reflect.Slice:
		d.decodeList(n, v, key)
	case reflect.Map:
		d.decodeMap(n, v, key)
	default:
		d.decodeScalar(n, v, key)
	}
	if n.Line > 0 {
		d.lines[key] = n.Line
	}
}

func (d *decoder) decodeScalar(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.ScalarNode {
		d.fail(n.Line, "%s: expected a single value, got %s", key, describe(n))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Int:
		i, err := parseInt(n.Value)
		if err != nil {
			d.fail(n.Line, "%s: %q is not a number", key, n.Value)
			return
		}
		v.SetInt(int64(i))
	case reflect.Bool:
		b, ok := parseBool(n.Value)
		if !ok {
			d.fail(n.Line, "%s: %q is not a boolean (true or false)", key, n.Value)
			return
		}
		v.SetBool(b)
	default:
		// Only reachable if Config gains a field of a new kind.
		d.fail(n.Line, "%s: values of this key cannot be read", key)
	}
}

// parseBool accepts YAML's true and false and the yes/no and on/off words
// that older YAML and Warewulf's own writer produce.
// parseInt reads an integer as yaml.v3 reads one into Warewulf's int
// fields: decimal, or with a 0x, 0o, 0b or (octal) 0 prefix, and
// underscores between digits with a prefix.
func parseInt(s string) (int, error) {
	i, err := strconv.ParseInt(s, 0, strconv.IntSize)
	if err != nil {
		// "09" is no octal number, but yaml.v3 still reads it, as 9.
		i, err = strconv.ParseInt(s, 10, strconv.IntSize)
	}
	return int(i), err
}

// parseBool reads a boolean as yaml.v3 reads one into a bool field:
// YAML 1.2's true and false, and YAML 1.1's y, yes, on, n, no and off.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(s) {
	case "true", "yes", "on", "y":
		return true, true
	case "false", "no", "off", "n":
		return false, true
	}
	return false, false
}

// decodeList replaces v with the items of the sequence n. Items of a struct
// type start from their defaults.
func (d *decoder) decodeList(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, "%s: expected a list, got %s", key, describe(n))
		return
	}
	list := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		itemKey := fmt.Sprintf("%s[%d]", key, i)
		// An empty item stays zero for check to report with this line.
		d.lines[itemKey] = item.Line
		item = resolve(item)
		elem := list.Index(i)
		if ep, ok := elem.Addr().Interface().(*ExportPath); ok {
			ep.ExportOptions = DefaultExportOptions
		}
		d.decodeValue(item, elem, itemKey)
	}
	v.Set(list)
}

// decodeMap replaces v with the entries of the mapping n. Only string maps
// exist in Config.
func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, "%s: expected a mapping, got %s", key, describe(n))
		return
	}
	n = mergeKeys(n, 0)
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolve(n.Content[i]), resolve(n.Content[i+1])
		if kn == nil || kn.Kind != yaml.ScalarNode {
			d.fail(n.Content[i].Line, "%s: a key must be plain text, got %s", key, describe(n.Content[i]))
			continue
		}
		entryKey := joinKey(key, kn.Value)
		if first, dup := firstLine[kn.Value]; dup {
			d.fail(kn.Line, "duplicate key %q (first on line %d)", entryKey, first)
			continue
		}
		firstLine[kn.Value] = kn.Line
		if isNull(vn) {
			d.fail(kn.Line, "%s: empty value", entryKey)
			continue
		}
		if vn.Kind != yaml.ScalarNode {
			d.fail(vn.Line, "%s: expected a single value, got %s", entryKey, describe(vn))
			continue
		}
		m.SetMapIndex(reflect.ValueOf(kn.Value), reflect.ValueOf(vn.Value))
		d.lines[entryKey] = kn.Line
	}
	v.Set(m)
}

// lineOf returns the line of key, or of the closest enclosing key the file
// gave, such as the list item of a field the item leaves out; 0 if none.
func (d *decoder) lineOf(key string) int {
	for key != "" {
		if line, ok := d.lines[key]; ok {
			return line
		}
		cut := strings.LastIndexAny(key, ".[")
		if cut < 0 {
			return 0
		}
		key = key[:cut]
	}
	return 0
}
