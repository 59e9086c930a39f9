package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// table collects rows and prints them with aligned columns: a header line
// in upper case, then the rows.
type table struct {
	header []string
	rows   [][]string
	// underline adds Warewulf's row of dashes under the header, as long
	// as each header cell, so that "tail -n +3" gives the first row.
	underline bool
	// padded keeps the spaces that pad the cells before an empty last
	// one, as Warewulf's overlay info prints its rows (its other tables
	// print "--" for an empty cell).
	padded bool
}

func newTable(header ...string) *table { return &table{header: header} }

// newListTable is a table as Warewulf's list commands print it: the
// header, its underline, then the rows.
func newListTable(header ...string) *table { return &table{header: header, underline: true} }

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	widths := make([]int, len(t.header))
	measure := func(cells []string) {
		for i, c := range cells {
			if i < len(widths) {
				widths[i] = max(widths[i], utf8.RuneCountInString(c))
			}
		}
	}
	measure(t.header)
	for _, r := range t.rows {
		measure(r)
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	line := func(cells []string) {
		var b strings.Builder
		for i, c := range cells {
			if i == len(cells)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c)+2))
		}
		if t.padded {
			bw.WriteString(b.String())
		} else {
			bw.WriteString(strings.TrimRight(b.String(), " "))
		}
		bw.WriteByte('\n')
	}
	line(t.header)
	if t.underline {
		dashes := make([]string, len(t.header))
		for i, h := range t.header {
			dashes[i] = strings.Repeat("-", utf8.RuneCountInString(h))
		}
		line(dashes)
	}
	for _, r := range t.rows {
		line(r)
	}
	return bw.Flush()
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// writeYAML prints a YAML tree.
func writeYAML(w io.Writer, n *yaml.Node) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(4) // yaml.Marshal's, which Warewulf prints with
	if err := enc.Encode(n); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	return enc.Close()
}

// nodeToAny turns a YAML tree into plain values for JSON: mappings keep
// their keys, scalars stay the strings they are in nodes.conf except
// booleans, so JSON output matches the file.
func nodeToAny(n *yaml.Node) any {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return nodeToAny(n.Content[0])
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = nodeToAny(n.Content[i+1])
		}
		return m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			l = append(l, nodeToAny(c))
		}
		return l
	case yaml.AliasNode:
		return nodeToAny(n.Alias)
	default:
		switch n.Tag {
		case "!!null":
			return nil
		case "!!bool":
			return n.Value == "true"
		}
		return n.Value
	}
}

// valueOrDash shows an unset value as "--", as Warewulf's tables do.
func valueOrDash(s string) string {
	if s == "" {
		return "--"
	}
	return s
}
