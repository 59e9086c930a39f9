package cli

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

func upper(n site.Kind) string { return strings.ToUpper(string(n)) }

// flatten returns each named entity's own set values, field -> value.
func flatten(n site.Kind, inv *inventory.Inventory, names []string) map[string]map[string]string {
	out := make(map[string]map[string]string, len(names))
	for _, name := range names {
		fields := map[string]string{}
		if raw := n.Own(inv, name); raw != nil {
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
			shownOld := inventory.Value{Field: f, Value: old, Set: hadOld}.Masked()
			shownNew := inventory.Value{Field: f, Value: nw, Set: hasNew}.Masked()
			parts = append(parts, fmt.Sprintf("  %s: %s -> %s", f, shown(shownOld, hadOld), shown(shownNew, hasNew)))
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
func (a *app) completeNames(n site.Kind) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
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
		return n.Names(inv), cobra.ShellCompDirectiveNoFileComp
	}
}
