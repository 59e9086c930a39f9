package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/mkchroot"
	"github.com/wwboot/wwboot/internal/site"
)

// ExitError carries the exit status of a command run inside an image, so
// that "wwctl image exec IMAGE -- false" fails as the command did.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("command exited with status %d", e.Code) }

func (a *app) imageCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "image COMMAND [OPTIONS]",
		Aliases: []string{"vnfs", "container"},
		Short:   "Import, create, change and build node images",
		Long: `An image is a node's operating system: a root filesystem under
<wwchrootdir>/NAME/rootfs, built into a compressed cpio archive under
<wwprovisiondir>/images that nodes unpack into RAM.`,
	}
	cmd.AddCommand(a.imageImport(), a.imageCreate(), a.imageBuild(), a.imageList(), a.imageShow(), a.imageKernels(),
		a.imageCopy(), a.imageRename(), a.imageDelete(), a.imageExec(), a.imageShell(), a.imageSyncuser(), a.imageBootstrap())
	return cmd
}

func (a *app) imageImport() *cobra.Command {
	var build, syncuser bool
	var opts site.ImportOptions
	cmd := &cobra.Command{
		Use:     "import SOURCE [NAME]",
		Aliases: []string{"pull"},
		Short:   "Import an image from a registry, an archive or a directory",
		Long: `Import a root filesystem as image NAME (default: the last part of SOURCE).
SOURCE is docker://REGISTRY/REPO:TAG, an OCI layout directory (oci:DIR), an OCI
archive (oci-archive:FILE), a docker-archive tarball (docker save, podman
save), a root filesystem tarball (.tar, .tar.gz, .tar.zst) or a directory
holding a root filesystem (a chroot, an Apptainer sandbox).

The import is made beside the images and put in place only when it succeeds,
so a failed import changes nothing. Hostile archives (paths or links that
would write outside the image) are refused, naming the entry, and so are
sources over the "image import" limits of warewulf.conf (unpacked size,
entries, path length, depth). Sparse files stay sparse.
Registry credentials: --username/--password or WAREWULF_OCI_USERNAME and
WAREWULF_OCI_PASSWORD; WAREWULF_OCI_NOHTTPS=true and WAREWULF_OCI_PLATFORM
stand for --nohttps and --platform.`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := site.DefaultImageName(args[0])
			if len(args) == 2 {
				name = args[1]
			}
			if opts.Username == "" {
				opts.Username = a.env.Getenv("WAREWULF_OCI_USERNAME")
			}
			if opts.Password == "" {
				opts.Password = a.env.Getenv("WAREWULF_OCI_PASSWORD")
			}
			if v := a.env.Getenv("WAREWULF_OCI_NOHTTPS"); v != "" && !cmd.Flags().Changed("nohttps") {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return fmt.Errorf("WAREWULF_OCI_NOHTTPS=%q: want true or false", v)
				}
				opts.NoHTTPS = b
			}
			if opts.Platform == "" {
				opts.Platform = a.env.Getenv("WAREWULF_OCI_PLATFORM")
			}
			// Warewulf's words, and before anything is fetched.
			if !opts.Replace && !opts.Update && a.site.Images().Exists(name) {
				return fmt.Errorf("image name exists, specify --force, --update, or choose a different name: %s", name)
			}
			opts.Progress = a.byteProgress()
			info, err := a.site.ImportImage(cmd.Context(), args[0], name, opts)
			a.progressDone()
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Imported %s (%s) as image %s\n", args[0], info.Kind, name)
			if syncuser {
				if err := a.syncUsers(cmd.Context(), name, true, false); err != nil {
					return err
				}
			}
			if build {
				return a.buildImages(cmd.Context(), []string{name}, buildFlags{})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.Replace, "force", "f", false, "Replace an image of that name")
	f.BoolVarP(&opts.Update, "update", "u", false, "Add to an image of that name instead of replacing it")
	f.BoolVarP(&build, "build", "b", false, "Build the image afterwards")
	f.BoolVar(&syncuser, "syncuser", false, "Give the image's users the server's ids (see image syncuser)")
	f.StringVar(&opts.Username, "username", "", "Registry user name")
	f.StringVar(&opts.Password, "password", "", "Registry password")
	f.StringVar(&opts.Password, "passwd", "", "Registry password")
	_ = f.MarkHidden("passwd")
	f.BoolVar(&opts.NoHTTPS, "nohttps", false, "The registry speaks plain HTTP, or HTTPS with a certificate not to verify")
	f.StringVar(&opts.Platform, "platform", "", "Platform to pull (default: this machine's), e.g. linux/arm64, or an architecture: aarch64, x86_64")
	f.StringVar(&opts.Platform, "arch", "", "Same as --platform")
	_ = f.MarkHidden("arch")
	return cmd
}

func (a *app) imageCreate() *cobra.Command {
	var from, mirror string
	var packages []string
	var list, force, build bool
	cmd := &cobra.Command{
		Use:   "create NAME --from TEMPLATE",
		Short: "Make a new image from a template (debootstrap, dnf, busybox)",
		Long: `Make a new root filesystem from a template, as Warewulf v3's wwmkchroot did:
Debian and Ubuntu suites through debootstrap, RPM distributions through dnf
--installroot where dnf exists, and a minimal busybox image that needs no
network. --list shows the templates and what each needs.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if list {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				t := newTable("TEMPLATE", "AVAILABLE", "DESCRIPTION")
				var needs []string
				for _, tp := range mkchroot.Templates() {
					avail := "yes"
					if !tp.Available {
						avail = "no"
						needs = append(needs, tp.Name+" needs "+tp.Missing)
					}
					t.add(tp.Name, avail, tp.Description)
				}
				if err := t.write(a.out()); err != nil {
					return err
				}
				for _, n := range needs {
					fmt.Fprintln(a.out(), n)
				}
				return nil
			}
			if from == "" {
				return fmt.Errorf("name a template with --from (see --list)")
			}
			opts := mkchroot.Options{Mirror: mirror, Packages: packages, Log: a.log, Stdout: a.env.Stderr, Stderr: a.env.Stderr}
			err := a.site.Images().Install(args[0], force, nil, func(dst string) error {
				return mkchroot.Create(cmd.Context(), from, dst, opts)
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Created image %s from %s\n", args[0], from)
			if build {
				return a.buildImages(cmd.Context(), args, buildFlags{})
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "Template to create from")
	f.StringVar(&mirror, "mirror", "", "Package mirror (default: this machine's)")
	f.StringSliceVar(&packages, "package", nil, "More packages to install")
	f.BoolVar(&list, "list", false, "List the templates")
	f.BoolVarP(&force, "force", "f", false, "Replace an image of that name")
	f.BoolVarP(&build, "build", "b", false, "Build the image afterwards")
	return cmd
}

type buildFlags struct {
	syncuser     bool
	force        bool
	uncompressed bool
	excludes     []string
	hybridPath   string
}

func (a *app) imageBuild() *cobra.Command {
	var all bool
	var bf buildFlags
	cmd := &cobra.Command{
		Use:   "build IMAGE...",
		Short: "Build images into the archives nodes boot",
		Long: `Build each image's root filesystem into a reproducible cpio archive,
compressed with gzip and zstd (and uncompressed with --uncompressed, or when
it was built uncompressed before: that archive is kept current), with its
sha256 beside it. --syncuser first gives the image's users the server's ids
(see image syncuser). Paths matching "image excludes" in warewulf.conf, the
image's own etc/warewulf/excludes or --exclude are left out; --hybridpath DIR
turns each of them into a symbolic link to DIR/path instead, for a tree
shared over a network filesystem. An unchanged tree is not rebuilt.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := args
			if all {
				var err error
				if names, err = a.site.Images().Names(); err != nil {
					return err
				}
			}
			if len(names) == 0 {
				return fmt.Errorf("name the images to build, or use --all")
			}
			return a.buildImages(cmd.Context(), names, bf)
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&all, "all", "a", false, "Build every image")
	f.BoolVarP(&bf.force, "force", "f", false, "Rebuild an unchanged image")
	f.BoolVar(&bf.uncompressed, "uncompressed", false, "Also write the uncompressed archive")
	f.BoolVar(&bf.syncuser, "syncuser", false, "Synchronize the image's user and group ids with the server's first")
	f.StringArrayVar(&bf.excludes, "exclude", nil, "Leave this path pattern out (repeatable)")
	f.StringVar(&bf.hybridPath, "hybridpath", "", "Make excluded paths links into this directory")
	return cmd
}

func (a *app) buildImages(ctx context.Context, names []string, bf buildFlags) error {
	if bf.syncuser {
		for _, name := range names {
			if err := a.syncUsers(ctx, name, true, false); err != nil {
				return err
			}
		}
	}
	for _, name := range names {
		start := time.Now()
		res, err := a.site.BuildImage(ctx, name, site.BuildOptions{
			Force: bf.force, Uncompressed: bf.uncompressed, Excludes: bf.excludes, HybridPath: bf.hybridPath,
			Progress: a.byteProgress(),
		})
		a.progressDone()
		if err != nil {
			return err
		}
		a.printBuild(name, res, time.Since(start))
	}
	return nil
}

// printBuild shows what an image build did; took, when not 0, is how
// long it took.
func (a *app) printBuild(name string, res *site.ImageBuild, took time.Duration) {
	if res.Skipped {
		fmt.Fprintf(a.out(), "Image %s unchanged (use --force to rebuild)\n", name)
		return
	}
	fmt.Fprintf(a.out(), "Built image %s: %d files, %s", name, res.Files, humanBytes(res.Bytes))
	if took > 0 {
		fmt.Fprintf(a.out(), " in %s", took.Round(10*time.Millisecond))
	}
	fmt.Fprintln(a.out())
	for _, o := range res.Outputs {
		fmt.Fprintf(a.out(), "  %s  %s  sha256:%s\n", o.Path, humanBytes(o.Size), o.SHA256)
		if o.SecretPath != "" {
			fmt.Fprintf(a.out(), "  %s  %s  secret files, for nodes that prove themselves; sha256 of both:%s\n", o.SecretPath, humanBytes(o.SecretSize), o.SecretSHA256)
		}
	}
	// The site logged any bootstrap warning; the image is built.
	a.printBootstraps(name, res.Bootstraps)
}

// byteProgress shows bytes done on a terminal.
func (a *app) byteProgress() func(done, total int64) {
	p := a.progress("progress")
	if p == nil {
		return nil
	}
	last := time.Time{}
	return func(done, total int64) {
		if time.Since(last) < 200*time.Millisecond && done != total {
			return
		}
		last = time.Now()
		f := a.env.Stderr.(*os.File)
		if total > 0 {
			fmt.Fprintf(f, "\r%s / %s (%d%%)   ", humanBytes(done), humanBytes(total), done*100/total)
		} else {
			fmt.Fprintf(f, "\r%s   ", humanBytes(done))
		}
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func (a *app) imageCopy() *cobra.Command {
	var build bool
	cmd := &cobra.Command{
		Use:     "copy IMAGE NEWNAME",
		Aliases: []string{"cp"},
		Short:   "Copy an image",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.site.CopyImage(cmd.Context(), args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Copied image %s to %s\n", args[0], args[1])
			if build {
				return a.buildImages(cmd.Context(), args[1:], buildFlags{})
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&build, "build", "b", false, "Build the copy")
	return cmd
}

func (a *app) imageRename() *cobra.Command {
	var build bool
	cmd := &cobra.Command{
		Use:     "rename IMAGE NEWNAME",
		Aliases: []string{"mv"},
		Short:   "Rename an image, and the nodes and profiles that name it",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, to := args[0], args[1]
			if err := a.site.RenameImage(cmd.Context(), from, to); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Renamed image %s to %s\n", from, to)
			if build {
				return a.buildImages(cmd.Context(), []string{to}, buildFlags{})
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&build, "build", "b", false, "Build the renamed image")
	return cmd
}

func (a *app) imageDelete() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:     "delete IMAGE...",
		Aliases: []string{"rm", "remove", "del"},
		Short:   "Delete images no node or profile names",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := a.store().Load()
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := a.site.CheckImageDeletable(inv, name); err != nil {
					return err
				}
			}
			if err := a.confirm(yes, "Delete %d image(s): %s?", len(args), strings.Join(args, ", ")); err != nil {
				return err
			}
			var errs []error
			for _, name := range args {
				if err := a.site.DeleteImage(name); err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.out(), "Deleted image %s\n", name)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "Do not ask for confirmation")
	return cmd
}
