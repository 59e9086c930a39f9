package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

// changer is what "set" and "unset" share: flags saying what to change,
// applied to a node or a profile.
type changer interface {
	changed() bool
	setNode(n *inventory.Node) error
	setProfile(p *inventory.Profile) error
}

func (ff *fieldFlags) setNode(n *inventory.Node) error       { return ff.applyNode(n, 0) }
func (ff *fieldFlags) setProfile(p *inventory.Profile) error { return ff.applyProfile(p, 0) }
func (uf *unsetFlags) setNode(n *inventory.Node) error       { return uf.applyNode(n) }
func (uf *unsetFlags) setProfile(p *inventory.Profile) error { return uf.applyProfile(p) }

func (a *app) setCommand(n site.Kind) *cobra.Command {
	cmd := &cobra.Command{
		Use:     fmt.Sprintf("set [%s...] [OPTIONS]", upper(n)),
		Aliases: []string{"modify"},
		Short:   fmt.Sprintf("Change fields of existing %ss", n),
		Long: fmt.Sprintf(`Change fields of existing %ss. Only the flags given are changed. A value of
UNSET clears a field so that it is inherited again; an empty value ("") sets
it empty, overriding what profiles give. The changes are shown and confirmed
before they are written, unless --yes.`, n),
	}
	return a.changeCommand(n, cmd, "nothing to change", func(fs *pflag.FlagSet) changer {
		return addFieldFlags(fs, n == site.NodeKind)
	})
}

func (a *app) unsetCommand(n site.Kind) *cobra.Command {
	cmd := &cobra.Command{
		Use:   fmt.Sprintf("unset [%s...] [OPTIONS]", upper(n)),
		Short: fmt.Sprintf("Clear fields of existing %ss, so they are inherited again", n),
		Long: fmt.Sprintf(`Clear fields of existing %ss, so that they are inherited again. Each field
flag takes no value: "wwctl %s unset NAME --comment --ipaddr". As in Warewulf:
network flags apply to --netname, "default" unless given; disk flags need
--diskname, partition flags --diskname and --partname, filesystem flags
--fsname. --netname given alone removes the whole network device (likewise
--diskname, --fsname; --partname alone removes the partition from
--diskname, or from every disk that has it). Clearing what is not there
changes nothing, and network devices, disks, partitions and filesystems left
empty are removed.`, n, n),
	}
	return a.changeCommand(n, cmd, "nothing to clear", func(fs *pflag.FlagSet) changer {
		return addUnsetFlags(fs, n == site.NodeKind)
	})
}

// changeCommand completes a set or unset command: a profile command
// without names changes the "default" profile, as Warewulf before 4.7 did.
func (a *app) changeCommand(n site.Kind, cmd *cobra.Command, nothing string, flags func(*pflag.FlagSet) changer) *cobra.Command {
	var all, yes, force bool
	c := flags(cmd.Flags())
	_, unset := c.(*unsetFlags)
	cmd.ValidArgsFunction = a.completeNames(n)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if !c.changed() {
			return fmt.Errorf("%s: give at least one field flag (see --help)", nothing)
		}
		if ff, ok := c.(*fieldFlags); ok {
			if err := a.checkOverlays(ff); err != nil {
				return err
			}
		}
		if uf, ok := c.(*unsetFlags); ok {
			if err := uf.check(); err != nil {
				return err
			}
		}
		return a.modify(cmd.Context(), n, args, modifyOptions{all: all, yes: yes, skipMissing: unset && force}, func(inv *inventory.Inventory, name string) error {
			if n == site.NodeKind {
				return c.setNode(inv.Nodes[name])
			}
			return c.setProfile(inv.Profiles[name])
		})
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, fmt.Sprintf("Change every %s", n))
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	if unset {
		cmd.Flags().BoolVarP(&force, "force", "f", false, fmt.Sprintf("Skip names that match no %s, with a warning, rather than fail", n))
	} else {
		// Warewulf's set has -f/--force, deprecated and without effect.
		cmd.Flags().BoolVarP(&force, "force", "f", false, "No effect")
		_ = cmd.Flags().MarkHidden("force")
		_ = cmd.Flags().MarkDeprecated("force", "it has no effect, as in Warewulf (--yes skips the question)")
	}
	return cmd
}
