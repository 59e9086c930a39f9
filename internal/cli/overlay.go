package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) overlayCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "overlay COMMAND [OPTIONS]",
		Short: "List, edit, render and build overlays",
		Long: `Overlays are trees of files and templates (*.ww) laid over a node's image: the
system overlays at boot, the runtime overlays also while it runs. Shipped
overlays live in the binary (or <datadir>/warewulf/overlays); a site overlay
of the same name in <wwoverlaydir> replaces one. Changing a shipped overlay
copies it to the site directory first.`,
	}
	cmd.AddCommand(a.overlayList(), a.overlayShow(), a.overlayEdit(), a.overlayImport(), a.overlayCreate(),
		a.overlayDelete(), a.overlayMkdir(), a.overlayChmod(), a.overlayChown(), a.overlayInfo(), a.overlayBuild())
	return cmd
}

func (a *app) overlayList() *cobra.Command {
	var all, long, paths bool
	cmd := &cobra.Command{
		Use:     "list [OVERLAY...]",
		Aliases: []string{"ls"},
		Short:   "List overlays, or their files",
		Long: `List the overlays (or those named) as Warewulf does: each with its number of
files and directories and whether it is a site overlay (SITE), or with --path
its directory instead ("--" for one built into wwctl). --all lists every file
and directory (directories end in "/"), --long every one with its permission
bits, owner and group.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			store := a.site.Overlays()
			names := args
			if len(names) == 0 {
				var err error
				if names, err = store.Names(); err != nil {
					return err
				}
			}
			where := "SITE"
			if paths {
				where = "PATH"
			}
			var t *table
			if long {
				t = newListTable("PERM MODE", "UID", "GID", "OVERLAY", "FILE PATH", where)
			} else {
				t = newListTable("OVERLAY NAME", "FILES/DIRS", where)
			}
			for _, name := range names {
				o, err := store.Get(name)
				if err != nil {
					return err
				}
				loc := strconv.FormatBool(o.Origin == overlay.OriginSite)
				if paths {
					loc = valueOrDash(o.Dir)
				}
				files := walkOrder(o.Files)
				switch {
				case long:
					for _, f := range files {
						t.add(f.Mode.Perm().String(), strconv.Itoa(f.UID), strconv.Itoa(f.GID), name, listedPath(f), loc)
					}
				case all:
					for _, f := range files {
						t.add(name, listedPath(f), loc)
					}
					if len(o.Files) == 0 {
						t.add(name, "0", loc)
					}
				default:
					t.add(name, strconv.Itoa(len(o.Files)), loc)
				}
			}
			return t.write(a.out())
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "List every file")
	cmd.Flags().BoolVarP(&long, "long", "l", false, "List every file with its mode and owner")
	cmd.Flags().BoolVarP(&paths, "path", "p", false, "Show each overlay's directory instead of SITE")
	return cmd
}

// hasFile reports whether o has an entry at path (relative to its rootfs,
// a leading "/" allowed).
func hasFile(o *overlay.Overlay, path string) bool {
	path = strings.TrimPrefix(path, "/")
	return slices.ContainsFunc(o.Files, func(f *overlay.SourceFile) bool { return f.Path == path })
}

// walkOrder returns files in the order a walk of the tree meets them, as
// Warewulf lists them: a directory's contents right after it ("a/b"
// before "a.txt").
func walkOrder(files []*overlay.SourceFile) []*overlay.SourceFile {
	return slices.SortedStableFunc(slices.Values(files), func(a, b *overlay.SourceFile) int {
		return slices.Compare(strings.Split(a.Path, "/"), strings.Split(b.Path, "/"))
	})
}

// listedPath is a file's path as overlay list shows it: relative to the
// overlay's rootfs, a directory's ending in "/".
func listedPath(f *overlay.SourceFile) string {
	if f.Kind == overlay.KindDir {
		return f.Path + "/"
	}
	return f.Path
}

func (a *app) overlayShow() *cobra.Command {
	var node string
	var quiet bool
	cmd := &cobra.Command{
		Use:     "show OVERLAY FILE",
		Aliases: []string{"cat"},
		Short:   "Print a file of an overlay, or what it renders to for a node",
		Long: `Print a file of an overlay. With --render NODE a template is rendered for that
node (a name that is not a node, such as "host", renders for the server itself,
whose Id and ClusterName are its host name, as the host overlay is); FILE may
name the template (etc/motd.ww) or the file it makes (etc/motd). As in Warewulf,
each file rendered comes after the lines "backupFile:", "writeFile:" and
"Filename:" ("Symlink:" for a link) unless --quiet, and a template that aborts
prints "writeFile: false" and "Aborted".`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if node == "" {
				o, err := a.site.Overlays().Get(args[0])
				if err != nil {
					return err
				}
				for _, f := range o.Files {
					if "/"+f.Path == "/"+strings.TrimPrefix(args[1], "/") {
						if f.Kind == overlay.KindSymlink {
							_, err = fmt.Fprintf(a.out(), "-> %s\n", f.Target)
							return err
						}
						_, err = a.out().Write(f.Data)
						return err
					}
				}
				return fmt.Errorf("overlay %q has no file %s", args[0], args[1])
			}
			snap, err := a.site.Snapshot()
			if err != nil {
				return err
			}
			r, err := snap.Renderer(args[0])
			if err != nil {
				return err
			}
			target, host := snap.RenderTarget(node)
			file := args[1]
			// As Warewulf: the name of the file a template makes finds
			// the template.
			if o, err := a.site.Overlays().Get(args[0]); err == nil && !strings.HasSuffix(file, ".ww") &&
				!hasFile(o, file) && hasFile(o, file+".ww") {
				file += ".ww"
			}
			entries, err := r.RenderFile(target, host, args[0], file)
			if err != nil {
				return err
			}
			w := a.out()
			// Without --quiet, Warewulf's lines before each file.
			if len(entries) == 0 && !quiet {
				fmt.Fprint(w, "backupFile: true\nwriteFile: false\nAborted\n")
			}
			for _, e := range entries {
				if !quiet {
					// The name as given: the template's without .ww,
					// or the one given to file(), relative to the
					// template's directory.
					tmpl := strings.TrimPrefix(file, "/")
					name := strings.TrimPrefix(e.Path, path.Dir(tmpl)+"/")
					if e.Path == strings.TrimSuffix(tmpl, ".ww") {
						name = strings.TrimSuffix(args[1], ".ww")
					}
					fmt.Fprintf(w, "backupFile: %v\nwriteFile: true\nFilename: %s\n", !e.NoBackup, name)
				}
				if e.Kind == overlay.KindSymlink {
					if !quiet {
						fmt.Fprintf(w, "Symlink: %s\n", e.Target)
					}
					continue
				}
				if _, err := w.Write(e.Data); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&node, "render", "r", "", "Render the template for this node")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Print only the content, without Warewulf's lines before it")
	return cmd
}

const newTemplateHeader = `{{/* This template is rendered for each node; see "wwctl overlay info". */}}
`

func (a *app) overlayEdit() *cobra.Command {
	var parents bool
	var dirMode string
	cmd := &cobra.Command{
		Use:   "edit OVERLAY FILE",
		Short: "Edit or create a file of an overlay in $EDITOR",
		Long: `Edit (or create) a file of an overlay in $EDITOR. A shipped overlay is copied to
the site directory first. A template (*.ww) is checked when saved and can be
edited again until it parses; nothing is written before. --parents makes
missing directories, with --mode's permissions.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			mode, err := parseMode(dirMode)
			if err != nil {
				return err
			}
			store := a.site.Overlays()
			p, err := store.SitePath(args[0], args[1])
			if err != nil {
				return err
			}
			original, err := os.ReadFile(p)
			switch {
			case err == nil:
			case os.IsNotExist(err):
				if _, err := os.Stat(filepath.Dir(p)); err != nil && !parents {
					return fmt.Errorf("overlay %q has no directory %s (use --parents)", args[0], filepath.Dir(args[1]))
				}
				if strings.HasSuffix(p, ".ww") {
					original = []byte(newTemplateHeader)
				}
			default:
				return err
			}
			text, changed, err := a.editText(cmd.Context(), filepath.Base(p), original, func(b []byte) error {
				return site.CheckTemplate(args[1], b)
			})
			if err != nil || !changed {
				return err
			}
			// An edited file keeps its mode.
			_, _, err = a.site.WriteOverlayFile(site.OverlayFile{Overlay: args[0], Path: args[1], Content: text, DirMode: mode})
			return err
		},
	}
	cmd.Flags().BoolVarP(&parents, "parents", "p", false, "Create missing directories")
	cmd.Flags().StringVarP(&dirMode, "mode", "m", "0755", "Permission mode (octal) of the directories --parents makes")
	return cmd
}

// editText runs $EDITOR on a copy of text until check accepts it (or the
// user gives up) and reports whether it changed. A check that fails with
// errAborted ends the edit at once.
func (a *app) editText(ctx context.Context, name string, text []byte, check func([]byte) error) ([]byte, bool, error) {
	dir, err := os.MkdirTemp("", "wwctl-edit-")
	if err != nil {
		return nil, false, fmt.Errorf("edit: %w", err)
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, name)
	// The file may hold BMC passwords: owner only.
	if err := os.WriteFile(file, text, 0o600); err != nil {
		return nil, false, fmt.Errorf("edit: %w", err)
	}
	for {
		if err := a.runEditor(ctx, file); err != nil {
			return nil, false, err
		}
		edited, err := os.ReadFile(file)
		if err != nil {
			return nil, false, fmt.Errorf("edit: %w", err)
		}
		if bytes.Equal(edited, text) {
			fmt.Fprintln(a.out(), "No changes.")
			return nil, false, nil
		}
		if err := check(edited); err != nil {
			if errors.Is(err, errAborted) {
				return nil, false, err
			}
			fmt.Fprintf(a.env.Stderr, "%v\n", err)
			if a.confirm(false, "Edit again?") != nil {
				return nil, false, fmt.Errorf("edit abandoned, nothing changed")
			}
			continue
		}
		return edited, true, nil
	}
}

func (a *app) overlayImport() *cobra.Command {
	var overwrite, parents bool
	var workers int
	cmd := &cobra.Command{
		Use:     "import OVERLAY FILE [NEWNAME]",
		Aliases: []string{"cp"},
		Short:   "Copy a file of the server into an overlay",
		Long: `Copy FILE of the server into OVERLAY as NEWNAME (default: the same path). A
shipped overlay is copied to the site directory first. Nothing is built: the
daemon and "wwctl overlay build" rebuild the images whose inputs changed.
--workers is accepted for Warewulf's scripts and has no effect, as in
Warewulf 4.7, whose import no longer builds either.`,
		Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			dest := args[1]
			if len(args) == 3 {
				dest = args[2]
			}
			return a.site.Overlays().Import(args[0], args[1], dest, overwrite, parents)
		},
	}
	cmd.Flags().BoolVarP(&overwrite, "overwrite", "o", false, "Replace a file that exists")
	cmd.Flags().BoolVarP(&parents, "parents", "p", false, "Create missing directories")
	cmd.Flags().IntVar(&workers, "workers", 0, "Accepted for Warewulf's scripts; nothing is built (no effect)")
	return cmd
}

func (a *app) overlayCreate() *cobra.Command {
	return &cobra.Command{
		Use:     "create OVERLAY",
		Aliases: []string{"new", "add"},
		Short:   "Create an empty site overlay",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.site.Overlays().Create(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.out(), "Created overlay %s\n", args[0])
			return nil
		},
	}
}

func (a *app) overlayDelete() *cobra.Command {
	var force, parents bool
	cmd := &cobra.Command{
		Use:     "delete OVERLAY [FILE]",
		Aliases: []string{"rm", "remove", "del"},
		Short:   "Delete a site overlay, or a file of an overlay",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return a.site.Overlays().Delete(args[0], force)
			}
			return a.site.Overlays().DeleteFile(args[0], args[1], force, parents)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Delete an overlay or directory that is not empty")
	cmd.Flags().BoolVarP(&parents, "parents", "p", false, "Also delete directories left empty")
	return cmd
}

func (a *app) overlayMkdir() *cobra.Command {
	var mode string
	cmd := &cobra.Command{
		Use:   "mkdir OVERLAY DIRECTORY",
		Short: "Make a directory in an overlay",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := parseMode(mode)
			if err != nil {
				return err
			}
			return a.site.Overlays().Mkdir(args[0], args[1], m)
		},
	}
	cmd.Flags().StringVarP(&mode, "mode", "m", "0755", "Permission mode (octal)")
	return cmd
}

func (a *app) overlayChmod() *cobra.Command {
	return &cobra.Command{
		Use:   "chmod OVERLAY FILE MODE",
		Short: "Change the mode of a file in an overlay",
		Args:  cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := parseMode(args[2])
			if err != nil {
				return err
			}
			return a.site.Overlays().Chmod(args[0], args[1], m)
		},
	}
}

func (a *app) overlayChown() *cobra.Command {
	return &cobra.Command{
		Use:   "chown OVERLAY FILE UID[:GID]",
		Short: "Change the owner of a file in an overlay (numeric ids)",
		Long: `Change the owner of a file in an overlay to the numeric user id UID and, when
given, the group id GID. UID alone keeps the group; :GID alone keeps the user.`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			uid, gid, err := overlay.ParseOwner(args[2])
			if err != nil {
				return err
			}
			return a.site.Overlays().Chown(args[0], args[1], uid, gid)
		},
	}
}

func parseMode(s string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("mode %q is not an octal permission mode such as 0644", s)
	}
	return fs.FileMode(m), nil
}

func (a *app) overlayInfo() *cobra.Command {
	return &cobra.Command{
		Use:     "info OVERLAY FILE",
		Aliases: []string{"variables", "vars"},
		Short:   "List the template data a template uses",
		Long: `List what a template documents of itself (its {{/* wwdoc: ... */}} comments,
by key: wwdoc, wwdoc1, ...) and the template data it uses: each variable as
written (.Id, $.Id, or $dev.Ipaddr in a range over .NetDevs), its node or
profile option, type and help (the template's own {{/* .Variable: help */}}
comment, else the option's help).`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o, err := a.site.Overlays().Get(args[0])
			if err != nil {
				return err
			}
			for _, f := range o.Files {
				if "/"+f.Path != "/"+strings.TrimPrefix(args[1], "/") {
					continue
				}
				if !f.Template() {
					return fmt.Errorf("%s is not a template", args[1])
				}
				vars, docs, err := overlay.Variables(f.Data)
				if err != nil {
					return err
				}
				for _, d := range docs {
					fmt.Fprintln(a.out(), d)
				}
				if len(docs) > 0 {
					fmt.Fprintln(a.out())
				}
				t := newListTable("VARIABLE", "OPTION", "TYPE", "HELP")
				t.padded = true
				for _, v := range vars {
					t.add(v.Name, v.Option, v.Type, v.Help)
				}
				return t.write(a.out())
			}
			return fmt.Errorf("overlay %q has no file %s", args[0], args[1])
		},
	}
}

func (a *app) overlayBuild() *cobra.Command {
	var workers int
	var force bool
	var only []string
	var outDir string
	cmd := &cobra.Command{
		Use:   "build [NODE...]",
		Short: "Build nodes' system and runtime overlay images",
		Long: `Build the system and runtime overlay images of the nodes (all when none are
named). Only images whose inputs changed are rebuilt; --force rebuilds all and
rewrites their archives, which repairs one damaged on disk (nodes refuse it: each
image's sha256 is recorded at build and sent with it).

Warewulf 4.6's forms work too: --output DIR --overlay NAME[,NAME] NODE renders
those overlays for that one node into DIR instead of an image (to look at what
a node gets); as in Warewulf, a file a template replaces there is kept once as
FILE.wwbackup. --overlay alone builds the nodes' images, which hold all of
their overlays together.`,
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			if outDir == "" {
				defer a.buildHeap()()
			}
			snap, err := a.site.Snapshot()
			if err != nil {
				return err
			}
			names, err := hostlist.Expand(args...)
			if err != nil {
				return err
			}
			for _, n := range names {
				if snap.Node(n) == nil {
					return fmt.Errorf("no such node: %s", n)
				}
			}
			if outDir != "" {
				switch {
				case len(only) == 0:
					return errors.New("--output: name the overlays to render with --overlay")
				case len(names) != 1:
					return errors.New("--output: name the one node to render the overlays for")
				}
				if err := os.MkdirAll(outDir, 0o755); err != nil {
					return err
				}
				if err := a.site.WriteNodeOverlays(names[0], outDir, only...); err != nil {
					return err
				}
				fmt.Fprintf(a.out(), "Rendered overlays %s of node %s into %s\n", strings.Join(only, ","), names[0], outDir)
				return nil
			}
			if len(only) > 0 {
				if err := a.site.CheckOverlaysExist(only...); err != nil {
					return err
				}
				fmt.Fprintf(a.env.Stderr, "note: --overlay: a node's overlays are built together, into its system and runtime images\n")
			}
			if workers <= 0 { // as Warewulf: one per CPU
				workers = runtime.NumCPU()
			}
			b := a.site.NewBuilder(workers)
			progress := a.progress("building overlays")
			start := time.Now()
			results, err := b.Build(cmd.Context(), snap, names, []overlay.ImageKind{overlay.System, overlay.Runtime}, force, progress)
			a.progressDone()
			if err != nil {
				return err
			}
			count := map[overlay.Status]int{}
			// One line per distinct failure, naming the nodes it hit.
			var order []string
			failed := map[string][]string{}
			for _, r := range results {
				count[r.Status]++
				if r.Err != nil {
					msg := fmt.Sprintf("%s overlay: %v", r.Kind, strings.TrimPrefix(r.Err.Error(), "node "+r.Node+": "))
					if _, ok := failed[msg]; !ok {
						order = append(order, msg)
					}
					failed[msg] = append(failed[msg], r.Node)
				}
				a.log.Info("overlay image", "node", r.Node, "kind", r.Kind, "status", r.Status, "bytes", r.Bytes)
			}
			for _, msg := range order {
				fmt.Fprintf(a.env.Stderr, "%s: %s\n", hostlist.Compress(failed[msg]), msg)
			}
			fmt.Fprintf(a.out(), "Overlay images: %d built, %d unchanged, %d failed (%s)\n",
				count[overlay.Built], count[overlay.Unchanged], count[overlay.Failed], time.Since(start).Round(time.Millisecond))
			if n := count[overlay.Failed]; n > 0 {
				return fmt.Errorf("%d overlay image(s) failed to build", n)
			}
			return nil
		},
	}
	cmd.Flags().IntVar(&workers, "workers", 0, "Images built at once (0 or less: one per CPU)")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Rebuild images whose inputs did not change and rewrite their archives")
	cmd.Flags().StringSliceVarP(&only, "overlay", "O", nil, "With --output: the overlays to render (Warewulf 4.6)")
	cmd.Flags().StringVarP(&outDir, "output", "o", "", "Render the --overlay overlays of one node into this directory instead of building images (Warewulf 4.6)")
	return cmd
}
