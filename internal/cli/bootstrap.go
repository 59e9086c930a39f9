package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/bootstrap"
	"github.com/wwboot/wwboot/internal/image"
)

func (a *app) imageBootstrap() *cobra.Command {
	var all bool
	var kernel string
	cmd := &cobra.Command{
		Use:   "bootstrap IMAGE...",
		Short: "Build the bootstrap initramfs of two-stage boot",
		Long: `Build, for each image's kernel (or --kernel), the small initramfs nodes
boot first in two-stage boot (node tag IPXEMenuEntry=twostage): the stage-one
program, and the kernel modules and firmware that <sysconfdir>/warewulf/bootstrap.conf
selects from the image (its built-in defaults boot common server NICs, storage
and virtio), with their dependencies from the image's modules.dep. It is
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
	im := a.site.Images()
	if !im.Exists(name) {
		return fmt.Errorf("image %q does not exist", name)
	}
	exe, _ := os.Executable()
	stage1, err := bootstrap.FindStage1(bootstrap.Stage1Paths(exe, a.env.Getenv("WWSTAGE1")))
	if err != nil {
		return fmt.Errorf("bootstrap of image %s: %w", name, err)
	}
	conf, err := bootstrap.Load(a.site.BootstrapConf())
	if err != nil {
		return err
	}
	var mtime int64
	if s := a.env.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		if mtime, err = strconv.ParseInt(s, 10, 64); err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH %q is not a number of seconds", s)
		}
	}
	kernels, err := image.Kernels(im.RootFS(name))
	if err != nil {
		return fmt.Errorf("bootstrap of image %s: %w", name, err)
	}
	var versions []string
	if version != "" {
		k, err := image.FindKernel(kernels, version)
		if err != nil {
			return fmt.Errorf("bootstrap of image %s: %w", name, err)
		}
		versions = append(versions, k.Version)
	} else {
		for _, k := range kernels {
			versions = append(versions, k.Version)
		}
	}
	if len(versions) == 0 {
		return fmt.Errorf("bootstrap of image %s: the image has no kernel", name)
	}
	for _, v := range versions {
		res, err := bootstrap.Build(ctx, bootstrap.Options{
			Root: im.RootFS(name), Version: v, Config: conf, Stage1: stage1,
			Out: bootstrap.OutName(im.Archive(name), v, conf.Compress), ModTime: mtime, Log: a.log,
		})
		if err != nil {
			return fmt.Errorf("image %s: %w", name, err)
		}
		fmt.Fprintf(a.out(), "Built bootstrap of image %s, kernel %s: %d modules, %d firmware files\n  %s  %s  sha256:%s\n",
			name, v, len(res.Modules), len(res.Firmware), res.Path, humanBytes(res.Size), res.SHA256)
	}
	return nil
}

// autoBootstrap makes the image's bootstraps after a build, when the
// stage-one program is installed; without it two-stage boot falls back
// to the image's own initramfs, so its absence is only logged, and a
// failure is a warning: the image build succeeded.
func (a *app) autoBootstrap(ctx context.Context, name string) {
	exe, _ := os.Executable()
	if _, err := bootstrap.FindStage1(bootstrap.Stage1Paths(exe, a.env.Getenv("WWSTAGE1"))); err != nil {
		a.log.Info("no bootstrap made for two-stage boot", "image", name, "err", err)
		return
	}
	if ks, err := image.Kernels(a.site.Images().RootFS(name)); err != nil || len(ks) == 0 {
		a.log.Info("no bootstrap made for two-stage boot: the image has no kernel", "image", name)
		return
	}
	if err := a.buildBootstrap(ctx, name, ""); err != nil {
		// The image itself is built; two-stage boot of it falls back to
		// the image's own initramfs until the bootstrap is fixed.
		a.log.Warn("bootstrap for two-stage boot not made", "image", name, "err", err)
	}
}
