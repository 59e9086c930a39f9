package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// SetIpxe returns the warewulf.conf data with its tftp.ipxe map replaced
// by binaries, and every other line, comment and blank line as it was:
// the map's lines are rewritten in place, or added under "tftp:" (or a
// new tftp section at the end) when the file has none. name starts the
// messages. A file that does not parse is refused, and so is a tftp
// section or ipxe map written in flow style ({...}), which cannot be
// edited line by line. The result is parsed again and must give
// binaries as tftp.ipxe.
func SetIpxe(data []byte, name string, binaries map[string]string) ([]byte, error) {
	if len(binaries) == 0 {
		return nil, fmt.Errorf("%s: no tftp.ipxe entries to write", name)
	}
	for _, code := range slices.Sorted(maps.Keys(binaries)) {
		if !validArch(code) {
			return nil, fmt.Errorf("tftp.ipxe: %q is not an architecture code like \"00:0B\"", code)
		}
		if binaries[code] == "" {
			return nil, fmt.Errorf("tftp.ipxe.%s: the binary path is empty", code)
		}
	}
	if _, _, err := Parse(data, name); err != nil {
		return nil, fmt.Errorf("%s has problems, fix them before it is edited:\n%w", name, err)
	}
	root, err := parseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	text := string(data)
	if text != "" && !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	lines := strings.SplitAfter(text, "\n")
	lines = lines[:len(lines)-1] // the "" after the last newline

	var out []string
	switch tftpKey, tftp := mappingEntry(root, "tftp"); {
	case tftpKey == nil:
		out = append(lines, "tftp:\n")
		out = append(out, ipxeBlock("  ", "  ", binaries)...)
	case isNull(tftp):
		at := tftpKey.Line // 1-based line of "tftp:": insert after it
		if strings.TrimSpace(stripComment(lines[at-1])) != "tftp:" {
			return nil, fmt.Errorf("%s:%d: tftp: expected a mapping or nothing after \"tftp:\"", name, at)
		}
		out = splice(lines, at, at, ipxeBlock("  ", "  ", binaries))
	case tftp.Kind != yaml.MappingNode || tftp.Style&yaml.FlowStyle != 0:
		return nil, fmt.Errorf("%s:%d: tftp: written in flow style or not a mapping; edit tftp.ipxe by hand", name, tftp.Line)
	default:
		indent := strings.Repeat(" ", tftp.Content[0].Column-1)
		ipxeKey, ipxe := mappingEntry(tftp, "ipxe")
		if ipxeKey == nil {
			out = splice(lines, tftpKey.Line, tftpKey.Line, ipxeBlock(indent, "  ", binaries))
			break
		}
		if ipxe.Style&yaml.FlowStyle != 0 && lastLine(ipxe) != ipxeKey.Line {
			return nil, fmt.Errorf("%s:%d: tftp.ipxe: a flow mapping over several lines; edit it by hand", name, ipxeKey.Line)
		}
		step := "  "
		if ipxe.Kind == yaml.MappingNode && ipxe.Style&yaml.FlowStyle == 0 && len(ipxe.Content) > 0 && ipxe.Content[0].Column > ipxeKey.Column {
			step = strings.Repeat(" ", ipxe.Content[0].Column-ipxeKey.Column)
		}
		end := max(lastLine(ipxe), ipxeKey.Line)
		out = splice(lines, ipxeKey.Line-1, end, ipxeBlock(indent, step, binaries))
	}
	result := []byte(strings.Join(out, ""))
	c, _, err := Parse(result, name)
	if err != nil {
		return nil, fmt.Errorf("%s: the edited tftp.ipxe map does not parse (a bug; nothing written):\n%w", name, err)
	}
	if !maps.Equal(c.Tftp.IpxeBinaries, binaries) {
		return nil, fmt.Errorf("%s: the edited file gives tftp.ipxe %v, not %v (a bug; nothing written)", name, c.Tftp.IpxeBinaries, binaries)
	}
	return result, nil
}

// mappingEntry returns the key and value nodes of key in the mapping m.
func mappingEntry(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	if i := index(m, key); i >= 0 {
		return m.Content[i], resolve(m.Content[i+1])
	}
	return nil, nil
}

// lastLine is the last line any node under n starts on.
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}

// splice replaces lines[from:to] (0-based, to exclusive) with repl.
func splice(lines []string, from, to int, repl []string) []string {
	return slices.Concat(lines[:from], repl, lines[to:])
}

// ipxeBlock renders "ipxe:" at indent and its entries one step deeper,
// sorted by architecture code, the codes quoted as the shipped file has
// them.
func ipxeBlock(indent, step string, binaries map[string]string) []string {
	out := []string{indent + "ipxe:\n"}
	for _, code := range slices.Sorted(maps.Keys(binaries)) {
		out = append(out, fmt.Sprintf("%s%s%s: %s\n", indent, step, strconv.Quote(code), yamlScalar(binaries[code])))
	}
	return out
}

var plainPath = regexp.MustCompile(`^[A-Za-z0-9_./][A-Za-z0-9_./+=@-]*$`)

// yamlScalar writes a path plain when YAML reads it back as the same
// string, double-quoted otherwise.
func yamlScalar(s string) string {
	if plainPath.MatchString(s) && !slices.Contains([]string{"true", "false", "null", "yes", "no", "on", "off", "~"}, strings.ToLower(s)) {
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return s
		}
	}
	return strconv.Quote(s)
}

// stripComment removes a " #" comment from a line of plain YAML.
func stripComment(line string) string {
	if i := strings.Index(line, " #"); i >= 0 {
		return line[:i]
	}
	if strings.HasPrefix(strings.TrimSpace(line), "#") {
		return ""
	}
	return line
}
