package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/sandbox"
	"github.com/wwboot/wwboot/internal/site"
)

// runFlags are the flags exec and shell share.
type runFlags struct {
	binds    []string
	build    bool
	syncuser bool
	node     string
}

func (rf *runFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&rf.binds, "bind", "b", nil, "Bind mount src[:dst[:ro]], or copy a file in for the command with src[:dst]:copy (repeatable)")
	f.BoolVar(&rf.build, "build", true, "Rebuild the image afterwards (when the command succeeded)")
	f.BoolVar(&rf.syncuser, "syncuser", false, "Give the image's users the server's ids if the command changed etc/passwd or etc/group")
	f.StringVarP(&rf.node, "node", "n", "", "Show the image read-only with this node's rendered overlays on top (nothing is changed or built)")
}

const runLong = `, in new mount, PID and UTS namespaces
with /proc, /sys, /dev and /run mounted, the "image mounts" of warewulf.conf and
--bind src[:dst[:ro]] bind-mounted (src[:dst]:copy, and "copy: true" in
warewulf.conf, copies a file in instead when the image has none there, and
removes it afterwards unless the command changed it). One session changes an
image at a time; a read-only image is refused. When the command succeeds, the
image's etc/warewulf/image_exit.sh runs if it has one, --syncuser gives its
users the server's ids if etc/passwd or etc/group changed, and the image is
rebuilt (--build=false skips that).

--node NODE shows the image as that node sees its root: read-only, with the
node's system and runtime overlays rendered on top. Nothing is written into the
image, and nothing is synchronised or built.`

func (a *app) imageExec() *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:   "exec IMAGE [OPTIONS] -- COMMAND...",
		Short: "Run a command inside an image (to install packages, say)",
		Long: "Run a command inside an image" + runLong + `

Example: wwctl image exec debian -- apt-get install -y htop`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runInImage(cmd.Context(), args[0], args[1:], rf)
		},
	}
	rf.add(cmd)
	return cmd
}

func (a *app) imageShell() *cobra.Command {
	var rf runFlags
	cmd := &cobra.Command{
		Use:     "shell IMAGE [OPTIONS]",
		Aliases: []string{"chroot"},
		Short:   "Open a shell inside an image",
		Long:    "Open a shell ($SHELL, /bin/bash or /bin/sh, the first the image has) inside an image" + runLong,
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
			return a.runInImage(cmd.Context(), args[0], []string{shell}, rf)
		},
	}
	rf.add(cmd)
	return cmd
}

func (a *app) runInImage(ctx context.Context, name string, argv []string, rf runFlags) error {
	o := site.ExecOptions{NoBuild: !rf.build, SyncUser: rf.syncuser, Node: rf.node,
		Stdin: a.env.Stdin, Stdout: a.env.Stdout, Stderr: a.env.Stderr}
	for _, b := range rf.binds {
		bind, err := sandbox.ParseBind(b)
		if err != nil {
			return err
		}
		o.Binds = append(o.Binds, bind)
	}
	res, err := a.site.ExecImage(ctx, name, argv, o)
	if err != nil {
		return err
	}
	if res.Sync != nil {
		if err := a.printSync(name, res.Sync, true); err != nil {
			return err
		}
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(a.env.Stderr, "warning: %s\n", w)
	}
	if res.Build != nil {
		a.printBuild(name, res.Build, 0)
	}
	if res.Code != 0 {
		if rf.build && rf.node == "" {
			fmt.Fprintf(a.env.Stderr, "Image %s not rebuilt: the command failed\n", name)
		}
		return &ExitError{Code: res.Code}
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
	res, err := a.site.SyncImageUsers(ctx, name, write)
	if err != nil {
		return err
	}
	if err := a.printSync(name, res, write); err != nil {
		return err
	}
	if build {
		return a.buildImages(ctx, []string{name}, buildFlags{})
	}
	return nil
}

// printSync shows what syncuser changed, or would change.
func (a *app) printSync(name string, res *image.SyncResult, write bool) error {
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
	return nil
}
