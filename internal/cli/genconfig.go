package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
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
	cmd.AddCommand(wc, a.genconfigManCommand())
	return cmd
}

func (a *app) genconfigManCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "man DIRECTORY",
		Short: "Write a man page for every wwctl command into DIRECTORY",
		Long: `Write a man page (section 1) for every wwctl command into DIRECTORY, as
"make install" and the packages do. The pages are dated SOURCE_DATE_EPOCH
(seconds since 1970) when it is set, so that a build gives the same bytes
again; otherwise today.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			date := time.Now().UTC()
			if v := a.env.Getenv("SOURCE_DATE_EPOCH"); v != "" {
				sec, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return fmt.Errorf("SOURCE_DATE_EPOCH %q: want seconds since 1970", v)
				}
				date = time.Unix(sec, 0).UTC()
			}
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			// The generated pages say nothing about who made them.
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{Title: "WWCTL", Section: "1", Date: &date, Source: "wwboot " + a.version(),
				Manual: "wwctl manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return fmt.Errorf("man pages in %s: %w", args[0], err)
			}
			return nil
		},
	}
}

func (a *app) version() string {
	if a.env.Version == "" {
		return "devel"
	}
	return a.env.Version
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
