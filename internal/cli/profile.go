package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) profileCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile COMMAND [OPTIONS]",
		Short: "Add, change, list and remove node profiles",
		Long: `Profiles hold settings that nodes inherit. A node applies its profiles in
order (profiles a profile includes come first); later values win, lists are
appended, maps merged, and the node's own values win over all.`,
	}
	cmd.AddCommand(a.profileAdd(), a.setCommand(site.ProfileKind), a.unsetCommand(site.ProfileKind), a.profileList(),
		a.profileDelete(), a.editCommand(site.ProfileKind))
	return cmd
}

func (a *app) profileAdd() *cobra.Command {
	var ff *fieldFlags
	cmd := &cobra.Command{
		Use:     "add PROFILE... [OPTIONS]",
		Aliases: []string{"new", "create"},
		Short:   "Add profiles",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := hostlist.Expand(args...)
			if err != nil {
				return err
			}
			if err := a.checkOverlays(ff); err != nil {
				return err
			}
			warnings, err := a.store().Update(cmd.Context(), func(inv *inventory.Inventory) error {
				for _, name := range names {
					if _, ok := inv.Profiles[name]; ok {
						return fmt.Errorf("profile %q already exists", name)
					}
					p := &inventory.Profile{}
					if err := ff.applyProfile(p, 0); err != nil {
						return err
					}
					inv.Profiles[name] = p
				}
				return nil
			})
			a.warn(warnings)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Added %d profile(s): %s\n", len(names), strings.Join(names, ","))
			return nil
		},
	}
	ff = addFieldFlags(cmd.Flags(), false)
	return cmd
}

func (a *app) profileList() *cobra.Command {
	var o listOptions
	cmd := &cobra.Command{
		Use:     "list [PROFILE...]",
		Aliases: []string{"ls"},
		Short:   "List profiles",
		Long: `List profiles in Warewulf's tables: a header, a row of dashes, then one row
per profile. --all shows each profile's own fields, unset ones as "--";
--all-fields shows every field with the included profiles merged and the
source of each value. Names that match no profile are skipped.`,
		ValidArgsFunction: a.completeNames(site.ProfileKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.list(site.ProfileKind, args, o)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "Show each profile's own fields")
	f.BoolVar(&o.allFields, "all-fields", false, allFieldsHelp)
	f.BoolVarP(&o.json, "json", "j", false, "Print JSON")
	f.BoolVarP(&o.yaml, "yaml", "y", false, "Print YAML")
	return cmd
}

func (a *app) profileDelete() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:               "delete PROFILE...",
		Aliases:           []string{"rm", "del", "remove"},
		Short:             "Remove profiles that no node or profile uses",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeNames(site.ProfileKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			check := func(inv *inventory.Inventory) ([]string, error) {
				names, err := site.ProfileKind.Select(inv, args, false)
				if err != nil {
					return nil, err
				}
				if err := site.ProfileKind.CheckDeletable(inv, names); err != nil {
					return nil, err
				}
				return names, nil
			}
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			names, err := check(inv)
			if err != nil {
				return err
			}
			if err := a.confirm(yes, "Delete %d profile(s): %s?", len(names), strings.Join(names, ",")); err != nil {
				return err
			}
			warnings, err := a.store().Update(cmd.Context(), func(inv *inventory.Inventory) error {
				names, err := check(inv)
				if err != nil {
					return err
				}
				return site.ProfileKind.Delete(inv, names)
			})
			a.warn(warnings)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Deleted %d profile(s): %s\n", len(names), strings.Join(names, ","))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	return cmd
}
