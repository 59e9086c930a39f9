package cli

import (
	"cmp"
	"fmt"
	"os"
	"regexp"
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
with --kernel the nodes using each and its default kernel's version, with
--size the size of its uncompressed archive NAME.img (0 B when it was not built
uncompressed: see image build --uncompressed), --compressed that of NAME.img.gz,
--chroot that of its root filesystem, and with --long all of that and when the
image was made and last built. An image's architecture is in image show --all.`,
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
				t := newListTable("IMAGE NAME")
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
						return warewulfKernelVersion(k.Path)
					}
				}
				return ""
			}
			var t *table
			switch {
			case long:
				t = newListTable("IMAGE NAME", "NODES", "KERNEL VERSION", "CREATION TIME", "MODIFICATION TIME", "SIZE")
			case kernel:
				t = newListTable("IMAGE NAME", "NODES", "KERNEL VERSION")
			default:
				t = newListTable("IMAGE NAME", "NODES", "SIZE")
			}
			for _, name := range names {
				nodes := strconv.Itoa(len(site.ImageNodes(merged, name)))
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
					t.add(name, nodes, kernelOf(name), created.Format(time.RFC822), built.Format(time.RFC822), sizeOf(name))
				case kernel:
					t.add(name, nodes, kernelOf(name))
				default:
					t.add(name, nodes, sizeOf(name))
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
			// Warewulf's header, in its case.
			t := newListTable("Image", "Kernel", "Version", "Default", "Nodes")
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
				// Warewulf's order: by where the kernel is, then by name
				// (not by version).
				slices.SortStableFunc(ks, func(a, b image.Kernel) int {
					return cmp.Or(cmp.Compare(kernelPlace(a.Path), kernelPlace(b.Path)), strings.Compare(a.Path, b.Path))
				})
				for _, k := range ks {
					t.add(name, k.Path, valueOrDash(warewulfKernelVersion(k.Path)), fmt.Sprint(k.Default), fmt.Sprint(nodes[k.Path]))
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

// kernelPlace ranks a kernel's path as Warewulf lists kernels: /boot/Image-*,
// /boot/vmlinuz-*, /lib/modules/*/vmlinuz, then /lib/modules/*/vmlinuz.gz.
func kernelPlace(path string) int {
	switch {
	case strings.HasPrefix(path, "/boot/Image-"):
		return 0
	case strings.HasPrefix(path, "/boot/"):
		return 1
	case strings.HasSuffix(path, ".gz"):
		return 3
	}
	return 2
}

// warewulfVersion finds the version in a kernel's path as Warewulf shows
// it: the last "X.Y.Z" or "X.Y.Z-N.N..." in the path, so that
// /boot/vmlinuz-5.14.0-427.18.1.el9_4.x86_64 is 5.14.0-427.18.1 and
// /boot/vmlinuz-6.1.0-28-amd64 is 6.1.0-28. A path without one (a rescue
// kernel's) has none: "".
var warewulfVersion = regexp.MustCompile(`\d+\.\d+\.\d+(-[\d.]+|)`)

// warewulfKernelVersion is the version image kernels and image list -k
// show for the kernel at path (Warewulf's; a node's kernel version may
// be given either way).
func warewulfKernelVersion(path string) string {
	ms := warewulfVersion.FindAllString(path, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		core, pre, dash := strings.Cut(strings.TrimSuffix(ms[i], "."), "-")
		var nums []string
		for _, n := range strings.Split(core, ".") {
			v, err := strconv.ParseUint(n, 10, 64)
			if err != nil {
				break
			}
			nums = append(nums, strconv.FormatUint(v, 10))
		}
		badPre := dash && (pre == "" || strings.Contains(pre, "..") || strings.HasPrefix(pre, ".") || strings.HasSuffix(pre, "."))
		if len(nums) != 3 || badPre {
			continue
		}
		v := strings.Join(nums, ".")
		if pre != "" {
			v += "-" + pre
		}
		return v
	}
	return ""
}
