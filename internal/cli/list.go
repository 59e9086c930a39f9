package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/naming"
	"github.com/wwboot/wwboot/internal/site"
)

type listOptions struct {
	all, long, net, ipmi, json, yaml bool
}

func (a *app) nodeList() *cobra.Command {
	var o listOptions
	cmd := &cobra.Command{
		Use:     "list [NODE...]",
		Aliases: []string{"ls"},
		Short:   "List nodes with their profiles applied",
		Long: `List nodes with their profiles applied. --all shows every field with the
profile it came from ("--": the node's own; SUPERSEDED: the node's own value
replaces a profile's).`,
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.list(site.NodeKind, args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show every field, with its source")
	f.BoolVarP(&o.long, "long", "l", false, "Show image, kernel and overlays")
	f.BoolVarP(&o.net, "net", "n", false, "Show network devices")
	f.BoolVarP(&o.ipmi, "ipmi", "i", false, "Show IPMI settings")
	f.BoolVarP(&o.json, "json", "j", false, "Print JSON")
	f.BoolVarP(&o.yaml, "yaml", "y", false, "Print YAML")
	return cmd
}

func (a *app) list(n site.Kind, args []string, o listOptions) error {
	inv, err := a.store().Load()
	if err != nil {
		return err
	}
	names, err := n.Select(inv, args, len(args) == 0)
	if err != nil {
		return err
	}
	// Provenance costs a map per node; only --all shows it.
	merged, err := n.Merge(inv, names, o.all)
	if err != nil {
		return err
	}
	switch {
	case (o.json || o.yaml) && o.all:
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
				rows = append(rows, row{m.Name, v.Field, v.Source, v.Value, v.Set})
			}
		}
		if o.json {
			return writeJSON(a.out(), rows)
		}
		var node yaml.Node
		if err := node.Encode(rows); err != nil {
			return fmt.Errorf("write YAML: %w", err)
		}
		return writeYAML(a.out(), &node)
	case o.json || o.yaml:
		nodes := make(map[string]*inventory.Node, len(merged))
		for _, m := range merged {
			nodes[m.Name] = &m.Node
		}
		doc := inventory.EncodeNodes(names, nodes)
		if o.json {
			return writeJSON(a.out(), nodeToAny(doc))
		}
		return writeYAML(a.out(), doc)
	}
	var t *table
	label := strings.ToUpper(string(n)) + " NAME"
	switch {
	case o.all:
		source := "PROFILE"
		if n == site.ProfileKind {
			source = "SOURCE"
		}
		t = newTable(strings.ToUpper(string(n)), "FIELD", source, "VALUE")
		for _, m := range merged {
			for _, v := range m.Values(true) {
				value := "--"
				if v.Set {
					value = shown(v.Value, true)
				}
				t.add(m.Name, v.Field, valueOrDash(v.Source), value)
			}
		}
	case o.net:
		t = newTable(label, "NETWORK", "HWADDR", "IPADDR", "GATEWAY", "DEVICE")
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
		t = newTable(label, "IPMI IPADDR", "IPMI PORT", "IPMI USERNAME", "IPMI INTERFACE")
		for _, m := range merged {
			i := m.Ipmi
			if i == nil {
				i = &inventory.IPMI{}
			}
			t.add(m.Name, val(i.Ipaddr), val(i.Port), val(i.UserName), val(i.Interface))
		}
	case o.long:
		t = newTable(label, "KERNEL VERSION", "IMAGE", "OVERLAYS (S/R)")
		for _, m := range merged {
			kv := "--"
			if m.Kernel != nil {
				kv = val(m.Kernel.Version)
			}
			t.add(m.Name, kv, val(m.ImageName),
				valueOrDash(strings.Join(m.SystemOverlay, ","))+"/"+valueOrDash(strings.Join(m.RuntimeOverlay, ",")))
		}
	default:
		if n == site.ProfileKind {
			t = newTable("PROFILE NAME", "COMMENT/DESCRIPTION")
			for _, m := range merged {
				t.add(m.Name, val(m.Comment))
			}
			break
		}
		t = newTable(label, "PROFILES", "NETWORK")
		for _, m := range merged {
			t.add(m.Name, valueOrDash(strings.Join(m.Profiles, ",")), valueOrDash(strings.Join(inventory.SortedNames(m.NetDevs), ",")))
		}
	}
	return t.write(a.out())
}

func val(s *string) string {
	if s == nil {
		return "--"
	}
	return shown(*s, true)
}
