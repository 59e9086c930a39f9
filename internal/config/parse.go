package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads and parses the warewulf.conf at path; see Parse. A missing file
// is an error that wraps fs.ErrNotExist, so a caller may choose Default().
func Load(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path)
}

// Parse reads a warewulf.conf. name, usually the file path, starts every
// message. Keys the file leaves out, or leaves empty, take their default;
// derived paths follow the base directories; an ipaddr or ipaddr6 in CIDR
// form also sets netmask and network, or prefixlen6, when those are unset.
//
// The error, if any, lists every problem found, one per line, as
// "<name>:<line>: <problem>", and the Config is then nil. Warnings name keys
// from older Warewulf versions that were accepted but ignored or renamed;
// they are returned even with an error.
func Parse(data []byte, name string) (*Config, []string, error) {
	root, err := parseYAML(data)
	if err != nil {
		return nil, nil, errors.New(syntaxMessage(name, data, err))
	}
	c := Default()
	d := newDecoder()
	if root != nil && !isNull(root) {
		d.decodeStruct(root, reflect.ValueOf(c).Elem(), "")
		d.readLegacy(root, c)
	}
	c.splitCIDR()
	d.readLenient(c)
	c.fillNetwork()
	c.fillDerived(d.isSet)

	problems := d.problems
	checked, warned := c.check(d.isSet)
	for _, p := range checked {
		if p.line == 0 {
			p.line = d.lineOf(p.key)
		}
		problems = append(problems, p)
	}
	for _, w := range warned {
		w.line = d.lineOf(w.key)
		d.warnings = append(d.warnings, w)
	}
	warnings := format(name, d.warnings)
	if len(problems) > 0 {
		errs := make([]error, 0, len(problems))
		for _, msg := range format(name, problems) {
			errs = append(errs, errors.New(msg))
		}
		return nil, warnings, errors.Join(errs...)
	}
	return c, warnings, nil
}

// parseYAML returns the root node of the only document in data, or nil for
// an empty document.
func parseYAML(data []byte) (root *yaml.Node, err error) {
	// yaml.v3 turns its own failures into errors, but a bug in it would
	// panic; a configuration file must never crash the program.
	defer func() {
		if r := recover(); r != nil {
			root, err = nil, fmt.Errorf("yaml: internal parser error: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, err
	}
	// Further documents: empty ones (a trailing "---") are harmless;
	// yaml.v3 would silently drop one with content, which is refused.
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			return nil, fmt.Errorf("yaml: line %d: only one YAML document is allowed", extra.Line)
		}
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		return resolve(doc.Content[0]), nil
	}
	return nil, nil
}

// syntaxMessage rewrites yaml.v3's "yaml: line 3: problem" as
// "name:3: problem", correcting the line where yaml.v3 gets it wrong.
func syntaxMessage(name string, data []byte, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if n, err := strconv.Atoi(num); err == nil {
				line, msg = n, text
			}
		}
	}
	if parserProblems()[msg] {
		// yaml.v3 reports the parser's marks, unlike the scanner's,
		// counting lines from 0 and leaving out "line 0".
		line++
	}
	if anchor, ok := strings.CutPrefix(msg, "unknown anchor '"); ok && line == 0 {
		anchor = strings.TrimSuffix(anchor, "' referenced")
		if i := bytes.Index(data, []byte("*"+anchor)); i >= 0 {
			line = 1 + bytes.Count(data[:i], []byte("\n"))
		}
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d: %s", name, line, msg)
	}
	return fmt.Sprintf("%s: %s", name, msg)
}

// parserProblems are the messages of yaml.v3's parser, as opposed to its
// scanner, whose line numbers are off by one.
func parserProblems() map[string]bool {
	return map[string]bool{
		"did not find expected <stream-start>":   true,
		"did not find expected <document start>": true,
		"did not find expected node content":     true,
		"did not find expected '-' indicator":    true,
		"did not find expected key":              true,
		"did not find expected ',' or ']'":       true,
		"did not find expected ',' or '}'":       true,
		"found undefined tag handle":             true,
		"found duplicate %YAML directive":        true,
		"found incompatible YAML document":       true,
		"found duplicate %TAG directive":         true,
	}
}

// format orders problems by line, those without a line last, and prefixes
// each with name and line.
func format(name string, problems []problem) []string {
	sorted := append([]problem(nil), problems...)
	sort.SliceStable(sorted, func(i, j int) bool {
		li, lj := sorted[i].line, sorted[j].line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
	out := make([]string, 0, len(sorted))
	for _, p := range sorted {
		if p.line > 0 {
			out = append(out, fmt.Sprintf("%s:%d: %s", name, p.line, p.text))
		} else {
			out = append(out, fmt.Sprintf("%s: %s", name, p.text))
		}
	}
	return out
}

// splitCIDR turns "10.0.0.1/24" in ipaddr into the address, and fills an
// empty netmask and network from it; "fd00::1/64" in ipaddr6 does the same
// for an unset prefixlen6. A malformed value is left for check to report.
func (c *Config) splitCIDR() {
	if p, err := netip.ParsePrefix(c.Ipaddr); err == nil && p.Addr().Is4() {
		c.Ipaddr = p.Addr().String()
		if c.Netmask == "" {
			c.Netmask = netmaskString(p.Bits())
		}
		if c.Network == "" {
			c.Network = p.Masked().Addr().String()
		}
	}
	if p, err := netip.ParsePrefix(c.Ipaddr6); err == nil && p.Addr().Is6() {
		c.Ipaddr6 = p.Addr().String()
		if c.Prefixlen6 == 0 {
			c.Prefixlen6 = p.Bits()
		}
	}
}

// readLenient reads forms Warewulf takes without complaint that check
// would refuse, with a warning each: a netmask written as a prefix length
// ("24" or "/24"), and a tftp.ipxe, shim or grub entry whose key is not
// an architecture code, which no client can ask for and is left out.
func (d *decoder) readLenient(c *Config) {
	if bits, err := strconv.Atoi(strings.TrimPrefix(c.Netmask, "/")); err == nil && bits >= 0 && bits <= 32 {
		mask := netmaskString(bits)
		d.warn(d.lineOf("netmask"), "netmask: %q is a prefix length; read as %s", c.Netmask, mask)
		c.Netmask = mask
	}
	for _, m := range []struct {
		key     string
		entries map[string]string
	}{{"tftp.ipxe", c.Tftp.IpxeBinaries}, {"tftp.shim", c.Tftp.ShimBinaries}, {"tftp.grub", c.Tftp.GrubBinaries}} {
		codes := slices.Sorted(maps.Keys(m.entries))
		for _, code := range codes {
			if !validArch(code) {
				d.warn(d.lineOf(m.key+"."+code), "%s: %q is not an architecture code like \"00:0B\"; left out", m.key, code)
				delete(m.entries, code)
			}
		}
	}
}

// fillNetwork sets an unset network from ipaddr and netmask, as wwctl
// and the daemon of Warewulf 4.6 and later do when they read the file.
func (c *Config) fillNetwork() {
	if c.Network != "" {
		return
	}
	a, err := netip.ParseAddr(c.Ipaddr)
	bits, ok := netmaskBits(c.Netmask)
	if err == nil && a.Is4() && ok {
		c.Network = netip.PrefixFrom(a, bits).Masked().Addr().String()
	}
}

func netmaskString(bits int) string {
	m := ^uint32(0) << (32 - bits)
	if bits == 0 {
		m = 0
	}
	return netip.AddrFrom4([4]byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)}).String()
}

// Marshal returns the effective configuration as warewulf.conf YAML, every
// default and derived value written out. Parse reads it back to an equal
// Config.
func (c *Config) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("marshal config: %w", err)
	}
	return buf.Bytes(), nil
}
