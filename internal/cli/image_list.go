package cli

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) imageList() *cobra.Command {
	var long, kernel, size, chroot, compressed bool
	cmd := &cobra.Command{
		Use:     "list [IMAGE...]",
		Aliases: []string{"ls"},
		Short:   "List images",
		Long: `List the images (or those named), with Warewulf's columns: the name alone, or
with --kernel the nodes using each and its default kernel, with --size the
size of its uncompressed archive NAME.img (0 B when it was not built
uncompressed: see image build --uncompressed), --compressed that of NAME.img.gz,
--chroot that of its root filesystem, and with --long all of that and when the
image was made and last built. Every form but the bare list has an ARCH column:
the image's architecture (x86_64, aarch64), from its OCI platform at import and
then from the ELF header of its programs at each build; "unknown" when neither
told it.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			im := a.site.Images()
			names, err := im.Names()
			if err != nil {
				return err
			}
			if len(args) > 0 {
				names = slices.DeleteFunc(names, func(n string) bool { return !slices.Contains(args, n) })
			}
			showSize := size || chroot || compressed
			if !long && !kernel && !showSize {
				t := newTable("IMAGE NAME")
				for _, name := range names {
					t.add(name)
				}
				return t.write(a.out())
			}
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			merged := inv.MergeAll()
			sizeOf := func(name string) string {
				var n int64
				switch {
				case chroot:
					n, err = im.TreeSize(name)
					if err != nil {
						a.log.Error("image size", "err", err)
						n = 0
					}
				case compressed:
					if st, err := os.Stat(im.Archive(name) + ".img.gz"); err == nil {
						n = st.Size()
					}
				default:
					if st, err := os.Stat(im.Archive(name) + ".img"); err == nil {
						n = st.Size()
					}
				}
				return humanBytes(n)
			}
			kernelOf := func(name string) string {
				if ks, err := image.Kernels(im.RootFS(name)); err == nil {
					if k, err := image.FindKernel(ks, ""); err == nil {
						return k.Version
					}
				}
				return ""
			}
			archOf := func(name string) string {
				if info, err := im.Arch(name); err == nil && info.Arch != "" {
					return info.Arch
				}
				return "unknown"
			}
			var t *table
			switch {
			case long:
				t = newTable("IMAGE NAME", "ARCH", "NODES", "KERNEL VERSION", "CREATION TIME", "MODIFICATION TIME", "SIZE")
			case kernel:
				t = newTable("IMAGE NAME", "ARCH", "NODES", "KERNEL VERSION")
			default:
				t = newTable("IMAGE NAME", "ARCH", "NODES", "SIZE")
			}
			for _, name := range names {
				nodes := strconv.Itoa(len(site.ImageNodes(merged, name)))
				arch := archOf(name)
				switch {
				case long:
					created, built := time.Unix(0, 0), time.Unix(0, 0)
					if st, err := os.Stat(im.Dir(name)); err == nil {
						created = st.ModTime()
					}
					// The newest form of the archive: wwboot writes the
					// plain one only when asked.
					if b := im.Archives(name); len(b) > 0 {
						built = b[0].ModTime
					}
					t.add(name, arch, nodes, kernelOf(name), created.Format(time.RFC822), built.Format(time.RFC822), sizeOf(name))
				case kernel:
					t.add(name, arch, nodes, kernelOf(name))
				default:
					t.add(name, arch, nodes, sizeOf(name))
				}
			}
			return t.write(a.out())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&long, "long", "l", false, "Show nodes, kernel, creation and build times and size")
	f.BoolVarP(&kernel, "kernel", "k", false, "Show the nodes using each image and its kernel version")
	f.BoolVarP(&size, "size", "s", false, "Show the size of the uncompressed archive")
	f.BoolVarP(&chroot, "chroot", "c", false, "Show the size of the root filesystem")
	f.BoolVar(&compressed, "compressed", false, "Show the size of the gzip archive")
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
			if info, err := im.Arch(name); err == nil && info.Arch != "" {
				t.add("Arch", info.Arch+" (from "+info.Source+")")
			} else {
				t.add("Arch", "unknown")
			}
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
