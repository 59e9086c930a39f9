package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) nodeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "node COMMAND [OPTIONS]",
		Aliases: []string{"nodes"},
		Short:   "Add, change, list and remove nodes",
		Long: `Nodes are the machines of the cluster, kept in nodes.conf. NODE arguments take
hostlist patterns: n[001-100,200],gpu[1-4].`,
	}
	cmd.AddCommand(a.nodeAdd(), a.setCommand(site.NodeKind), a.unsetCommand(site.NodeKind), a.nodeList(), a.nodeDelete(),
		a.editCommand(site.NodeKind), a.nodeImport(), a.nodeExport(), a.nodeStatus(), a.nodeSensors(), a.nodeConsole())
	return cmd
}

func (a *app) nodeAdd() *cobra.Command {
	var ff *fieldFlags
	cmd := &cobra.Command{
		Use:     "add NODE... [OPTIONS]",
		Aliases: []string{"new", "create"},
		Short:   "Add nodes",
		Long: `Add nodes. A node without --profile gets the "default" profile when it exists.
Adding a range (n[01-10]) with --ipaddr or --ipmiaddr gives each node the next
address.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			names, err := hostlist.Expand(args...)
			if err != nil {
				return err
			}
			if err := a.checkOverlays(ff); err != nil {
				return err
			}
			warnings, err := a.store().Update(cmd.Context(), func(inv *inventory.Inventory) error {
				var exist []string
				for _, name := range names {
					if _, ok := inv.Nodes[name]; ok {
						exist = append(exist, name)
					}
				}
				if len(exist) > 0 {
					return fmt.Errorf("node already exists: %s", hostlist.Compress(exist))
				}
				for i, name := range names {
					n := &inventory.Node{}
					if _, ok := inv.Profiles["default"]; ok && !cmd.Flags().Changed("profile") {
						n.Profiles = []string{"default"}
					}
					if err := ff.applyNode(n, i); err != nil {
						return err
					}
					inv.Nodes[name] = n
				}
				return nil
			})
			a.warn(warnings)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Added %d node(s): %s\n", len(names), hostlist.Compress(names))
			return nil
		},
	}
	ff = addFieldFlags(cmd.Flags(), true)
	return cmd
}

func (a *app) nodeDelete() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:               "delete NODE... [OPTIONS]",
		Aliases:           []string{"rm", "del", "remove"},
		Short:             "Remove nodes",
		Args:              cobra.MinimumNArgs(1),
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			// As in Warewulf, a name that is no node is already gone: a
			// warning, not an error, so that a clean-up can run twice.
			names, missing, err := site.NodeKind.Match(inv, args)
			if err != nil {
				return err
			}
			if len(missing) > 0 {
				a.log.Warn(fmt.Sprintf("no such node: %s", hostlist.Compress(missing)))
			}
			if len(names) == 0 {
				fmt.Fprintln(a.out(), "No changes.")
				return nil
			}
			if err := a.confirm(yes, "Delete %d node(s): %s?", len(names), hostlist.Compress(names)); err != nil {
				return err
			}
			warnings, err := a.store().Update(cmd.Context(), func(inv *inventory.Inventory) error {
				names, _, err := site.NodeKind.Match(inv, args)
				if err != nil {
					return err
				}
				return site.NodeKind.Delete(inv, names)
			})
			a.warn(warnings)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Deleted %d node(s): %s\n", len(names), hostlist.Compress(names))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	return cmd
}

// showChanges prints a change summary; false means there is nothing to
// change.
func (a *app) showChanges(lines []string) bool {
	if len(lines) == 0 {
		fmt.Fprintln(a.out(), "No changes.")
		return false
	}
	for _, l := range lines {
		fmt.Fprintln(a.out(), l)
	}
	return true
}

// modifyOptions are what set and unset share: --all, --yes, and unset's
// --force (names matching nothing are skipped with a warning).
type modifyOptions struct {
	all, yes, skipMissing bool
}

// modify is set and unset for both nouns: preview the change on a
// snapshot, show it, confirm, then apply it again under the store's lock
// on the current file, so that a concurrent edit of other fields is kept.
func (a *app) modify(ctx context.Context, noun site.Kind, args []string, o modifyOptions, change func(inv *inventory.Inventory, name string) error) error {
	all, yes := o.all, o.yes
	if len(args) == 0 && !all {
		return fmt.Errorf("name the %ss to change, or use --all", noun)
	}
	warned := false
	selectNames := func(inv *inventory.Inventory) ([]string, error) {
		if !o.skipMissing || all {
			return noun.Select(inv, args, all)
		}
		names, missing, err := noun.Match(inv, args)
		if err != nil {
			return nil, err
		}
		if len(names) == 0 {
			return nil, fmt.Errorf("no such %s: %s", noun, hostlist.Compress(missing))
		}
		if len(missing) > 0 && !warned {
			a.log.Warn(fmt.Sprintf("skipped, no such %s: %s", noun, hostlist.Compress(missing)))
			warned = true
		}
		return names, nil
	}
	apply := func(inv *inventory.Inventory) ([]string, error) {
		names, err := selectNames(inv)
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			if err := change(inv, name); err != nil {
				return nil, fmt.Errorf("%s %s: %w", noun, name, err)
			}
		}
		return names, nil
	}
	// preview applies the change to inv and describes it.
	preview := func(inv *inventory.Inventory) (names, lines []string, err error) {
		names, err = selectNames(inv)
		if err != nil {
			return nil, nil, err
		}
		before := flatten(noun, inv, names)
		if _, err := apply(inv); err != nil {
			return nil, nil, err
		}
		return names, describeChanges(names, before, flatten(noun, inv, names)), nil
	}
	var names, lines []string
	if yes {
		// Nothing to ask: describe and apply in one locked pass.
		warnings, err := a.store().Update(ctx, func(inv *inventory.Inventory) error {
			var err error
			names, lines, err = preview(inv)
			return err
		})
		a.warn(warnings)
		if err != nil {
			return err
		}
		if !a.showChanges(lines) {
			return nil
		}
	} else {
		inv, err := a.store().Load()
		if err != nil {
			return err
		}
		names, lines, err = preview(inv)
		if err != nil {
			return err
		}
		if !a.showChanges(lines) {
			return nil
		}
		if err := a.confirm(yes, "Modify %d %s(s)?", len(names), noun); err != nil {
			return err
		}
		// Apply again on the current file under the lock, so that what
		// others changed meanwhile is kept.
		warnings, err := a.store().Update(ctx, func(inv *inventory.Inventory) error {
			_, err := apply(inv)
			return err
		})
		a.warn(warnings)
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(a.out(), "Modified %d %s(s)\n", len(names), noun)
	return nil
}
