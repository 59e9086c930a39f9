package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) upgradeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "upgrade <config|nodes> [OPTIONS]",
		Short: "Upgrade configuration files",
		Long: `Upgrade warewulf.conf or nodes.conf from a previous version of Warewulf 4
(4.2 to 4.6) to the current format. wwctl reads the older forms with a
warning that names the command to run; the upgrade writes them in the
current form and lists every change on stderr.`,
	}
	cmd.AddCommand(a.upgradeConfigCommand(), a.upgradeNodesCommand())
	return cmd
}

func (a *app) upgradeConfigCommand() *cobra.Command {
	var input, output string
	cmd := &cobra.Command{
		Use:   "config [OPTIONS]",
		Short: "Upgrade an existing warewulf.conf",
		Long: `Upgrade warewulf.conf from a previous version of Warewulf 4 to the current
format. Comments and keys this version does not know are kept. The file is
replaced atomically; its previous content is kept as <output>-old.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if input == "" {
				input = a.confFile()
			}
			if output == "" {
				output = a.confFile()
			}
			u, err := site.UpgradeConfig(input)
			if err != nil {
				return err
			}
			return a.writeUpgraded(cmd, output, u.Data, 0o644, u.Changes, u.Warnings)
		},
	}
	cmd.Flags().StringVarP(&input, "input-path", "i", "", "Path to a legacy warewulf.conf (default: the warewulf.conf in use)")
	cmd.Flags().StringVarP(&output, "output-path", "o", "", `Path to write the upgraded warewulf.conf to, "-" for stdout (default: the warewulf.conf in use)`)
	return cmd
}

func (a *app) upgradeNodesCommand() *cobra.Command {
	var o site.UpgradeNodesOptions
	var output string
	cmd := &cobra.Command{
		Use:   "nodes [OPTIONS]",
		Short: "Upgrade an existing nodes.conf",
		Long: `Upgrade nodes.conf from a previous version of Warewulf 4 to the current
format. --add-defaults and --replace-overlays must be given (true or false),
as in Warewulf. NFS mounts declared in a legacy warewulf.conf move to the
default profile's fstab resource. Comments and keys this version does not
know are kept. The file is replaced atomically; its previous content is
kept as <output>-old.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Input == "" {
				o.Input = a.cfg.NodesConf()
			}
			if output == "" {
				output = a.cfg.NodesConf()
			}
			if !cmd.Flags().Changed("with-warewulfconf") {
				// Warewulf reads the warewulf.conf in use; without one
				// there are no NFS mounts to move.
				o.WarewulfConf = a.confFile()
				if _, err := os.Stat(o.WarewulfConf); errors.Is(err, fs.ErrNotExist) {
					o.WarewulfConf = ""
				}
			}
			u, err := a.site.UpgradeNodes(o)
			if err != nil {
				return err
			}
			var kept []string
			for _, w := range u.Kept {
				kept = append(kept, w.String())
			}
			return a.writeUpgraded(cmd, output, u.Data, 0o600, u.Changes, kept)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.AddDefaults, "add-defaults", false, "Configure a default profile and set default node values")
	f.BoolVar(&o.ReplaceOverlays, "replace-overlays", false, "Replace 'wwinit' and 'generic' overlays with their split replacements")
	f.StringVarP(&o.Input, "input-path", "i", "", "Path to a legacy nodes.conf (default: the nodes.conf in use)")
	f.StringVarP(&output, "output-path", "o", "", `Path to write the upgraded nodes.conf to, "-" for stdout (default: the nodes.conf in use)`)
	f.StringVar(&o.WarewulfConf, "with-warewulfconf", "", "Path to a legacy warewulf.conf (default: the warewulf.conf in use)")
	_ = cmd.MarkFlagRequired("add-defaults")
	_ = cmd.MarkFlagRequired("replace-overlays")
	return cmd
}

// writeUpgraded lists the changes and the remaining warnings on stderr
// and writes data to output, or to stdout for "-".
func (a *app) writeUpgraded(cmd *cobra.Command, output string, data []byte, perm fs.FileMode, changes, warnings []string) error {
	for _, c := range changes {
		fmt.Fprintln(a.env.Stderr, c)
	}
	for _, w := range warnings {
		a.log.Warn(w)
	}
	if output == "-" {
		_, err := a.out().Write(data)
		return err
	}
	if err := site.WriteUpgraded(cmd.Context(), output, data, perm); err != nil {
		return err
	}
	fmt.Fprintf(a.env.Stderr, "wrote %s (%d changes)\n", output, len(changes))
	return nil
}

// confFile is the warewulf.conf path in use: --warewulfconf, else
// $WAREWULFCONF, else the default path.
func (a *app) confFile() string {
	if a.confPath != "" {
		return a.confPath
	}
	if p := a.env.Getenv("WAREWULFCONF"); p != "" {
		return p
	}
	return config.DefaultPath
}
