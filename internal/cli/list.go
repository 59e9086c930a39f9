package cli

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/site"
)

type listOptions struct {
	all, allFields, long, net, ipmi, json, yaml bool
}

const allFieldsHelp = "Show every field, set or not, with its source (profiles merged)"

func (a *app) nodeList() *cobra.Command {
	var o listOptions
	cmd := &cobra.Command{
		Use:     "list [NODE...]",
		Aliases: []string{"ls"},
		Short:   "List nodes with their profiles applied",
		Long: `List nodes with their profiles applied, in Warewulf's tables: a header, a
row of dashes, then one row per node. Names that match no node are skipped.

--all shows the fields that have a value, each with the profile it came from
("--": the node's own; SUPERSEDED: the node's own value replaces a profile's;
"default,n01": a list the node appends to). --all-fields shows every field,
set or not.`,
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.list(site.NodeKind, args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show the fields that are set, with the profile each comes from")
	f.BoolVar(&o.allFields, "all-fields", false, allFieldsHelp)
	f.BoolVarP(&o.long, "long", "l", false, "Show kernel version, image and overlays")
	f.BoolVarP(&o.net, "net", "n", false, "Show network devices")
	f.BoolVarP(&o.ipmi, "ipmi", "i", false, "Show IPMI settings")
	f.BoolVarP(&o.json, "json", "j", false, "Print JSON")
	f.BoolVarP(&o.yaml, "yaml", "y", false, "Print YAML")
	return cmd
}

// listNames selects what a list command shows: every entity without
// patterns (or with patterns that are only commas, as Warewulf reads
// ","), else the entities the patterns name; names that match nothing are
// skipped, as Warewulf does, with a warning on stderr.
func (a *app) listNames(n site.Kind, inv *inventory.Inventory, args []string) ([]string, error) {
	var patterns []string
	for _, arg := range args {
		if strings.Trim(arg, ",") != "" {
			patterns = append(patterns, arg)
		}
	}
	if len(patterns) == 0 {
		return n.Names(inv), nil
	}
	names, missing, err := n.Match(inv, patterns)
	if err != nil {
		return nil, err
	}
	if len(missing) > 0 {
		a.log.Warn(fmt.Sprintf("no such %s: %s", n, hostlist.Compress(missing)))
	}
	return names, nil
}

func (a *app) list(n site.Kind, args []string, o listOptions) error {
	inv, err := a.store().Load()
	if err != nil {
		return err
	}
	names, err := a.listNames(n, inv, args)
	if err != nil {
		return err
	}
	switch {
	case (o.json || o.yaml) && o.allFields:
		merged, err := n.Merge(inv, names, true)
		if err != nil {
			return err
		}
		return a.writeFieldRows(merged, o.json)
	case (o.json || o.yaml) && n == site.ProfileKind:
		// Warewulf prints a profile's own fields.
		doc := n.Encode(inv, names)
		inventory.MaskSecrets(doc)
		if o.json {
			return writeJSON(a.out(), nodeToAny(doc))
		}
		return writeYAML(a.out(), doc)
	case o.json || o.yaml:
		merged, err := n.Merge(inv, names, false)
		if err != nil {
			return err
		}
		doc := n.EncodeMerged(names, merged)
		inventory.MaskSecrets(doc)
		if o.json {
			return writeJSON(a.out(), nodeToAny(doc))
		}
		return writeYAML(a.out(), doc)
	case o.allFields:
		merged, err := n.Merge(inv, names, true)
		if err != nil {
			return err
		}
		return allFieldsTable(n, merged).write(a.out())
	case o.all && n == site.ProfileKind:
		t, err := profileFieldsTable(inv, names)
		if err != nil {
			return err
		}
		return t.write(a.out())
	case o.all:
		merged, err := n.Merge(inv, names, true)
		if err != nil {
			return err
		}
		return setFieldsTable(merged).write(a.out())
	}
	merged, err := n.Merge(inv, names, false)
	if err != nil {
		return err
	}
	var t *table
	switch {
	case n == site.ProfileKind:
		t = newListTable("PROFILE NAME", "COMMENT/DESCRIPTION")
		for _, m := range merged {
			t.add(m.Name, val(m.Comment))
		}
	case o.net:
		t = newListTable("NODE", "NETWORK", "HWADDR", "IPADDR", "GATEWAY", "DEVICE")
		for _, m := range merged {
			if len(m.NetDevs) == 0 {
				t.add(m.Name, "--", "--", "--", "--", "--")
			}
			for _, net := range inventory.SortedNames(m.NetDevs) {
				d := m.NetDevs[net]
				hw := val(d.Hwaddr)
				if d.Hwaddr != nil {
					hw = shown(naming.NormalizeMAC(*d.Hwaddr), true)
				}
				t.add(m.Name, net, hw, val(d.Ipaddr), val(d.Gateway), val(d.Device))
			}
		}
	case o.ipmi:
		t = newListTable("NODE", "IPMI IPADDR", "IPMI PORT", "IPMI USERNAME", "IPMI INTERFACE")
		for _, m := range merged {
			i := m.Ipmi
			if i == nil {
				i = &inventory.IPMI{}
			}
			t.add(m.Name, val(i.Ipaddr), val(i.Port), val(i.UserName), val(i.Interface))
		}
	case o.long:
		t = newListTable("NODE NAME", "KERNEL VERSION", "IMAGE", "OVERLAYS (S/R)")
		for _, m := range merged {
			kv := "--"
			if m.Kernel != nil {
				kv = val(m.Kernel.Version)
			}
			// As Warewulf: "SYSTEM/RUNTIME", either side empty when unset.
			t.add(m.Name, kv, val(m.ImageName), strings.Join(m.SystemOverlay, ",")+"/"+strings.Join(m.RuntimeOverlay, ","))
		}
	default:
		t = newListTable("NODE NAME", "PROFILES", "NETWORK")
		for _, m := range merged {
			t.add(m.Name, valueOrDash(strings.Join(m.Profiles, ",")), valueOrDash(strings.Join(inventory.SortedNames(m.NetDevs), ", ")))
		}
	}
	return t.write(a.out())
}

// setFieldsTable is Warewulf's "node list --all": each field that has a
// value, with where it came from.
func setFieldsTable(merged []*inventory.Merged) *table {
	t := newListTable("NODE", "FIELD", "PROFILE", "VALUE")
	for _, m := range merged {
		for _, v := range m.Values(false) {
			if v.Field == "Id" {
				continue
			}
			t.add(m.Name, v.Field, valueOrDash(v.Source), warewulfValue(m, v))
		}
	}
	return t
}

// profileFieldsTable is Warewulf's "profile list --all": each profile's
// own fields (not those of the profiles it includes), unset ones as "--";
// kernel and IPMI fields only when the profile has those sections.
func profileFieldsTable(inv *inventory.Inventory, names []string) (*table, error) {
	t := newListTable("PROFILE", "FIELD", "VALUE")
	for _, name := range names {
		m, err := inv.OwnProfile(name)
		if err != nil {
			return nil, err
		}
		for _, v := range m.Values(true) {
			switch {
			case v.Field == "Id",
				!v.Set && strings.HasSuffix(v.Field, "Tags"),
				m.Kernel == nil && strings.HasPrefix(v.Field, "Kernel."),
				m.Ipmi == nil && strings.HasPrefix(v.Field, "Ipmi."):
				continue
			}
			value := "--"
			if v.Set {
				value = warewulfValue(m, v)
			}
			t.add(m.Name, v.Field, value)
		}
	}
	return t, nil
}

// warewulfValue shows a set value as Warewulf's tables do: resources as
// JSON; an explicitly empty value, which Warewulf cannot hold, as "".
func warewulfValue(m *inventory.Merged, v inventory.Value) string {
	if key, ok := strings.CutPrefix(v.Field, "Resources["); ok {
		if r := m.Resources[strings.TrimSuffix(key, "]")]; r != nil {
			if b, err := json.Marshal(nodeToAny(r)); err == nil {
				return string(b)
			}
		}
	}
	return shown(v.Masked(), true)
}

// allFieldsTable is wwboot's own "--all-fields": every field, set or not,
// with its source; a profile's included profiles are merged too.
func allFieldsTable(n site.Kind, merged []*inventory.Merged) *table {
	source := "PROFILE"
	if n == site.ProfileKind {
		source = "SOURCE"
	}
	t := newListTable(strings.ToUpper(string(n)), "FIELD", source, "VALUE")
	for _, m := range merged {
		for _, v := range m.Values(true) {
			value := "--"
			if v.Set {
				value = shown(v.Masked(), true)
			}
			t.add(m.Name, v.Field, valueOrDash(v.Source), value)
		}
	}
	return t
}

// writeFieldRows prints the --all-fields view as JSON or YAML rows.
func (a *app) writeFieldRows(merged []*inventory.Merged, asJSON bool) error {
	type row struct {
		Name   string `json:"name" yaml:"name"`
		Field  string `json:"field" yaml:"field"`
		Source string `json:"source" yaml:"source"`
		Value  string `json:"value" yaml:"value"`
		Set    bool   `json:"set" yaml:"set"`
	}
	var rows []row
	for _, m := range merged {
		for _, v := range m.Values(true) {
			rows = append(rows, row{m.Name, v.Field, v.Source, v.Masked(), v.Set})
		}
	}
	if asJSON {
		return writeJSON(a.out(), rows)
	}
	var node yaml.Node
	if err := node.Encode(rows); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	return writeYAML(a.out(), &node)
}

func val(s *string) string {
	if s == nil {
		return "--"
	}
	return shown(*s, true)
}
