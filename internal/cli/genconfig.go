package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) genconfigCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "genconfig COMMAND",
		Aliases: []string{"cnf"},
		Short:   "Print generated configuration",
	}
	wc := &cobra.Command{
		Use:   "warewulfconf COMMAND",
		Short: "warewulf.conf",
	}
	wc.AddCommand(&cobra.Command{
		Use:   "print",
		Short: "Print the effective warewulf.conf: the file with every default filled in",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, err := a.cfg.Marshal()
			if err != nil {
				return err
			}
			_, err = a.out().Write(out)
			return err
		},
	})
	cmd.AddCommand(wc)
	return cmd
}

func (a *app) versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Aliases: []string{"vers"},
		Short:   "Print the version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := a.env.Version
			if v == "" {
				v = "devel"
			}
			_, err := fmt.Fprintf(a.out(), "wwctl version: %s\n", v)
			return err
		},
	}
}
