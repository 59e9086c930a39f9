package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/sandbox"
)

func (a *app) imageExec() *cobra.Command {
	var binds []string
	var build bool
	cmd := &cobra.Command{
		Use:   "exec IMAGE [OPTIONS] -- COMMAND...",
		Short: "Run a command inside an image (to install packages, say)",
		Long: `Run a command inside an image, in new mount, PID and UTS namespaces with /proc,
/sys, /dev and /run mounted, the "image mounts" of warewulf.conf and --bind
src[:dst[:ro]] bind-mounted. One session changes an image at a time; a
read-only image is refused. The image is rebuilt afterwards unless
--build=false. Example: wwctl image exec debian -- apt-get install -y htop`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runInImage(cmd.Context(), args[0], args[1:], binds, build)
		},
	}
	cmd.Flags().StringArrayVarP(&binds, "bind", "b", nil, "Bind mount src[:dst[:ro]] (repeatable)")
	cmd.Flags().BoolVar(&build, "build", true, "Rebuild the image afterwards")
	return cmd
}

func (a *app) imageShell() *cobra.Command {
	var binds []string
	var build bool
	cmd := &cobra.Command{
		Use:     "shell IMAGE [OPTIONS]",
		Aliases: []string{"chroot"},
		Short:   "Open a shell inside an image",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			shell := "/bin/sh"
			for _, s := range []string{a.env.Getenv("SHELL"), "/bin/bash"} {
				if s != "" {
					if _, err := os.Stat(filepath.Join(a.site.Images().RootFS(args[0]), s)); err == nil {
						shell = s
						break
					}
				}
			}
			return a.runInImage(cmd.Context(), args[0], []string{shell}, binds, build)
		},
	}
	cmd.Flags().StringArrayVarP(&binds, "bind", "b", nil, "Bind mount src[:dst[:ro]] (repeatable)")
	cmd.Flags().BoolVar(&build, "build", true, "Rebuild the image afterwards")
	return cmd
}

func (a *app) runInImage(ctx context.Context, name string, argv, bindFlags []string, build bool) error {
	im := a.site.Images()
	if !im.Exists(name) {
		return fmt.Errorf("image %q does not exist", name)
	}
	if im.ReadOnly(name) {
		return fmt.Errorf("image %q is read-only (remove %s to change it)", name, im.ReadOnlyMarker(name))
	}
	var binds []sandbox.Bind
	for _, m := range a.cfg.ImageMounts {
		dest := m.Dest
		if dest == "" {
			dest = m.Source
		}
		binds = append(binds, sandbox.Bind{Source: m.Source, Dest: dest, ReadOnly: m.ReadOnly})
	}
	for _, b := range bindFlags {
		bind, err := sandbox.ParseBind(b)
		if err != nil {
			return err
		}
		binds = append(binds, bind)
	}
	unlock, err := sandbox.Lock(ctx, im.Dir(name))
	if err != nil {
		return err
	}
	code, err := sandbox.Run(ctx, sandbox.Options{Root: im.RootFS(name), Hostname: name, Binds: binds,
		Stdin: a.env.Stdin, Stdout: a.env.Stdout, Stderr: a.env.Stderr, Log: a.log}, argv)
	unlock()
	if err != nil {
		return err
	}
	if build {
		if err := a.buildImages(ctx, []string{name}, buildFlags{}); err != nil {
			return err
		}
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}

func (a *app) imageSyncuser() *cobra.Command {
	var write, build bool
	cmd := &cobra.Command{
		Use:   "syncuser IMAGE",
		Short: "Give an image's users and groups the server's ids",
		Long: `Give the users and groups that exist both in the image and on the server the
server's ids, so files on shared filesystems have the same owners everywhere:
the image's etc/passwd and etc/group are rewritten and every file owned by an
old id changes owner. An image-only user or group in the way is reported and
nothing changes. --write=false only reports.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.syncUsers(cmd.Context(), args[0], write, build)
		},
	}
	cmd.Flags().BoolVar(&write, "write", true, "Change the image (false: only report)")
	cmd.Flags().BoolVarP(&build, "build", "b", false, "Build the image afterwards")
	return cmd
}

func (a *app) syncUsers(ctx context.Context, name string, write, build bool) error {
	im := a.site.Images()
	if !im.Exists(name) {
		return fmt.Errorf("image %q does not exist", name)
	}
	res, err := image.SyncUsers(ctx, im.RootFS(name), a.site.HostPasswd(), a.site.HostGroup(), write)
	if err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	if len(res.Changes) == 0 {
		fmt.Fprintf(a.out(), "Image %s: users and groups already match the server\n", name)
		return nil
	}
	t := newTable("KIND", "NAME", "IMAGE ID", "SERVER ID")
	for _, c := range res.Changes {
		t.add(c.Kind, c.Name, fmt.Sprint(c.From), fmt.Sprint(c.To))
	}
	if err := t.write(a.out()); err != nil {
		return err
	}
	if !write {
		fmt.Fprintln(a.out(), "Nothing changed (--write=false).")
		return nil
	}
	fmt.Fprintf(a.out(), "Changed the owner of %d file(s)\n", res.Files)
	if build {
		return a.buildImages(ctx, []string{name}, buildFlags{})
	}
	return nil
}
