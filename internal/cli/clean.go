package cli

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (a *app) cleanCommand() *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "clean",
		Short: "Remove what deleted nodes and images left behind",
		Long: `Remove what deleted nodes and images and interrupted commands left behind: the
built overlay images of nodes no longer in nodes.conf (once running overlay
builds have finished), the trees and archives of replaced or deleted images
(<wwchrootdir>/.NAME.old-* and .NAME.deleted-*, <wwprovisiondir>/images/NAME.*
of images that no longer exist), new trees of killed imports, and the OCI blob
cache of image imports (<cachedir>/warewulf). --dry-run only lists them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			left, err := a.site.Clean(cmd.Context(), dryRun)
			verb := "Removed"
			if dryRun {
				verb = "Would remove"
			}
			for _, l := range left {
				fmt.Fprintf(a.out(), "%s %s (%s)\n", verb, l.Path, l.Why)
			}
			if err == nil && len(left) == 0 {
				fmt.Fprintln(a.out(), "Nothing to clean")
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&dryRun, "dry-run", "n", false, "Only list what would be removed")
	return cmd
}
