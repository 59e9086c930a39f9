package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) imageList() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "list [IMAGE...]",
		Aliases: []string{"ls"},
		Short:   "List images",
		RunE: func(cmd *cobra.Command, args []string) error {
			im := a.site.Images()
			names, err := a.imageNames(args)
			if err != nil {
				return err
			}
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			merged := inv.MergeAll()
			t := newTable("IMAGE NAME", "NODES", "KERNEL VERSION", "BUILT", "SIZE (ZSTD)")
			for _, name := range names {
				users := site.ImageNodes(merged, name)
				kv := "--"
				if ks, err := image.Kernels(im.RootFS(name)); err == nil {
					if k, err := image.FindKernel(ks, ""); err == nil {
						kv = k.Version
					}
				}
				built, size := "--", "--"
				for _, b := range im.Archives(name) {
					built = b.ModTime.Format("2006-01-02 15:04")
					if strings.HasSuffix(b.Path, ".zst") {
						size = humanBytes(b.Size)
					}
				}
				t.add(name, fmt.Sprint(len(users)), kv, built, size)
			}
			return t.write(a.out())
		},
	}
	return cmd
}

func (a *app) imageShow() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "show IMAGE",
		Short: "Show an image's root filesystem path (--all: more)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			im := a.site.Images()
			name := args[0]
			if !im.Exists(name) {
				return fmt.Errorf("image %q does not exist", name)
			}
			if !all {
				fmt.Fprintln(a.out(), im.RootFS(name))
				return nil
			}
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			users := site.ImageNodes(inv.MergeAll(), name)
			kernel := "--"
			if ks, err := image.Kernels(im.RootFS(name)); err == nil {
				if k, err := image.FindKernel(ks, ""); err == nil {
					kernel = k.Path + " (" + k.Version + ")"
				}
			}
			t := newTable("FIELD", "VALUE")
			t.add("Name", name)
			t.add("RootFS", im.RootFS(name))
			t.add("ReadOnly", fmt.Sprint(im.ReadOnly(name)))
			t.add("Kernel", kernel)
			for _, b := range im.Archives(name) {
				t.add("Archive", fmt.Sprintf("%s (%s, %s)", b.Path, humanBytes(b.Size), b.ModTime.Format(time.RFC3339)))
			}
			t.add("Nodes", valueOrDash(strings.Join(users, ",")))
			return t.write(a.out())
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Show kernel, archives and nodes too")
	return cmd
}

func (a *app) imageKernels() *cobra.Command {
	return &cobra.Command{
		Use:     "kernels [IMAGE...]",
		Aliases: []string{"kernel"},
		Short:   "List the kernels in images",
		RunE: func(cmd *cobra.Command, args []string) error {
			im := a.site.Images()
			names, err := a.imageNames(args)
			if err != nil {
				return err
			}
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			merged := inv.MergeAll()
			t := newTable("IMAGE", "KERNEL", "VERSION", "DEFAULT", "NODES")
			for _, name := range names {
				ks, err := image.Kernels(im.RootFS(name))
				if err != nil {
					return err
				}
				// Nodes per kernel path: each node of the image boots the
				// kernel its version selects.
				nodes := map[string]int{}
				for _, m := range merged {
					if m.ImageName == nil || *m.ImageName != name {
						continue
					}
					want := ""
					if m.Kernel != nil && m.Kernel.Version != nil {
						want = *m.Kernel.Version
					}
					if sel, err := image.FindKernel(ks, want); err == nil {
						nodes[sel.Path]++
					}
				}
				for _, k := range ks {
					t.add(name, k.Path, k.Version, fmt.Sprint(k.Default), fmt.Sprint(nodes[k.Path]))
				}
			}
			return t.write(a.out())
		},
	}
}

// imageNames returns the named images, or every image when none are
// named; each must exist.
func (a *app) imageNames(args []string) ([]string, error) {
	im := a.site.Images()
	if len(args) == 0 {
		return im.Names()
	}
	for _, name := range args {
		if !im.Exists(name) {
			return nil, fmt.Errorf("image %q does not exist", name)
		}
	}
	return args, nil
}
