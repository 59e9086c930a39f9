package cli

import (
	"fmt"
	"strings"

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
	var full bool
	cmd := &cobra.Command{
		Use:     "version",
		Aliases: []string{"vers"},
		Short:   "Print the version",
		Long: `Print wwctl's version. --full lists, as Warewulf's "version --full" did, the
version and the directories in use, one KEY=VALUE a line: here they come from
warewulf.conf's paths (with their defaults), not from build time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := a.env.Version
			if v == "" {
				v = "devel"
			}
			if !full {
				_, err := fmt.Fprintf(a.out(), "wwctl version: %s\n", v)
				return err
			}
			base, release, _ := strings.Cut(v, "-")
			p := a.cfg.Paths
			for _, kv := range [][2]string{
				{"VERSION", v}, {"BINDIR", p.Bindir}, {"DATADIR", p.Datadir}, {"SYSCONFDIR", p.Sysconfdir},
				{"LOCALSTATEDIR", p.Localstatedir}, {"SRVDIR", p.Srvdir}, {"TFTPDIR", a.cfg.Tftp.TftpRoot},
				{"SYSTEMDDIR", p.Systemddir}, {"WWOVERLAYDIR", p.Wwoverlaydir}, {"WWCHROOTDIR", p.Wwchrootdir},
				{"WWPROVISIONDIR", p.Wwprovisiondir}, {"BASEVERSION", base}, {"RELEASE", release},
				{"WWCLIENTDIR", p.Wwclientdir}, {"CACHEDIR", p.Cachedir}, {"IPXESOURCE", p.Ipxesource},
			} {
				if _, err := fmt.Fprintf(a.out(), "%s=%s\n", kv[0], kv[1]); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&full, "full", "f", false, "List the version and the directories in use (KEY=VALUE)")
	return cmd
}
