package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
)

// noun lets the commands that nodes and profiles share work on either.
type noun string

const (
	nodeNoun    noun = "node"
	profileNoun noun = "profile"
)

func (n noun) names(inv *inventory.Inventory) []string {
	if n == nodeNoun {
		return inv.NodeNames()
	}
	return inv.ProfileNames()
}

func (n noun) has(inv *inventory.Inventory, name string) bool {
	if n == nodeNoun {
		_, ok := inv.Nodes[name]
		return ok
	}
	_, ok := inv.Profiles[name]
	return ok
}

// raw returns an entity's own fields; a profile is returned as a node
// without node-only fields so both flatten the same way.
func (n noun) raw(inv *inventory.Inventory, name string) *inventory.Node {
	if n == nodeNoun {
		return inv.Nodes[name]
	}
	if p := inv.Profiles[name]; p != nil {
		return &inventory.Node{Profile: *p}
	}
	return nil
}

func upper(n noun) string { return strings.ToUpper(string(n)) }

// selectNames expands hostlist patterns into existing names, in natural
// order; every name must exist. With all, every entity is selected.
func selectNames(n noun, inv *inventory.Inventory, patterns []string, all bool) ([]string, error) {
	if all {
		return n.names(inv), nil
	}
	names, err := hostlist.Expand(patterns...)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, name := range names {
		if !n.has(inv, name) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no such %s: %s", n, hostlist.Compress(missing))
	}
	sort.SliceStable(names, func(i, j int) bool { return inventory.NaturalLess(names[i], names[j]) })
	return names, nil
}

// flatten returns each named entity's own set values, field -> value.
func flatten(n noun, inv *inventory.Inventory, names []string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(names))
	for _, name := range names {
		fields := map[string]string{}
		if raw := n.raw(inv, name); raw != nil {
			m := &inventory.Merged{Name: name, Node: *raw}
			for _, v := range m.Values(false) {
				if v.Field != "Id" {
					fields[v.Field] = v.Value
				}
			}
		}
		out[name] = fields
	}
	return out
}

// describeChanges lists what changed per entity, grouping entities that
// changed the same way: "n[001-100]: ImageName: rocky -> alma".
func describeChanges(names []string, before, after map[string]map[string]string) []string {
	var order []string
	groups := map[string][]string{}
	for _, name := range names {
		b, a := before[name], after[name]
		var fields []string
		for f := range b {
			fields = append(fields, f)
		}
		for f := range a {
			if _, ok := b[f]; !ok {
				fields = append(fields, f)
			}
		}
		sort.Strings(fields)
		var parts []string
		for _, f := range fields {
			old, hadOld := b[f]
			nw, hasNew := a[f]
			if hadOld == hasNew && old == nw {
				continue
			}
			parts = append(parts, fmt.Sprintf("  %s: %s -> %s", f, shown(old, hadOld), shown(nw, hasNew)))
		}
		if len(parts) == 0 {
			continue
		}
		key := strings.Join(parts, "\n")
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], name)
	}
	var lines []string
	for _, key := range order {
		lines = append(lines, hostlist.Compress(groups[key])+":", key)
	}
	return lines
}

func shown(v string, set bool) string {
	switch {
	case !set:
		return "(unset)"
	case v == "":
		return `""`
	}
	return v
}

// completeNames completes node or profile names from nodes.conf.
func (a *app) completeNames(n noun) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, _ []string, _ string) ([]string, cobra.ShellCompDirective) {
		if a.cfg == nil {
			if err := a.setup(); err != nil {
				return nil, cobra.ShellCompDirectiveError
			}
		}
		inv, err := a.store().Load()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		return n.names(inv), cobra.ShellCompDirectiveNoFileComp
	}
}
