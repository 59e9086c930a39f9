package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) imageBootstrap() *cobra.Command {
	var all bool
	var kernel string
	cmd := &cobra.Command{
		Use:   "bootstrap IMAGE...",
		Short: "Build the bootstrap initramfs of two-stage boot",
		Long: `Build, for each image's kernel (or --kernel), the small initramfs nodes
boot first in two-stage boot (node tag IPXEMenuEntry=twostage): the stage-one
program, and the kernel modules, firmware and programs that
<sysconfdir>/warewulf/bootstrap.conf selects from the image (its built-in
defaults boot common server NICs, storage and virtio), with their dependencies
from the image's modules.dep and the programs' shared libraries. The programs
(sh, sfdisk, mkfs... by default) run the system overlay's wwinit.d scripts,
which set up the node's disks before stage one prepares the root. It is
reproducible; its sha256 is written beside it. "wwctl image build" makes it
too when the stage-one program is installed.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := args
			if all {
				var err error
				if names, err = a.site.Images().Names(); err != nil {
					return err
				}
			}
			if len(names) == 0 {
				return fmt.Errorf("name the images to make a bootstrap of, or use --all")
			}
			for _, name := range names {
				if err := a.buildBootstrap(cmd.Context(), name, kernel); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Every image")
	cmd.Flags().StringVarP(&kernel, "kernel", "k", "", "Only this kernel version (default: every kernel of the image)")
	return cmd
}

// buildBootstrap makes the bootstraps of an image's kernels (or of the
// one named).
func (a *app) buildBootstrap(ctx context.Context, name, version string) error {
	bs, err := a.site.BuildBootstrap(ctx, name, version)
	a.printBootstraps(name, bs)
	return err
}

func (a *app) printBootstraps(name string, bs []site.Bootstrap) {
	for _, b := range bs {
		progs := "no programs"
		if len(b.Programs) > 0 {
			progs = "programs " + strings.Join(b.Programs, " ")
		}
		fmt.Fprintf(a.out(), "Built bootstrap of image %s, kernel %s: %d modules, %d firmware files, %s\n  %s  %s  sha256:%s\n",
			name, b.Kernel, len(b.Modules), len(b.Firmware), progs, b.Path, humanBytes(b.Size), b.SHA256)
	}
}
