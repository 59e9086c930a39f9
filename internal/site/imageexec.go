package site

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/wwboot/wwboot/internal/image"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/sandbox"
)

// ExecOptions are what "image exec" and "image shell" may choose.
type ExecOptions struct {
	// Binds are bind mounts beyond warewulf.conf's "image mounts".
	Binds []sandbox.Bind
	// Build rebuilds the image after a command that succeeded.
	Build BuildOptions
	// NoBuild skips the rebuild.
	NoBuild bool
	// SyncUser runs SyncUsers after a command that changed the image's
	// etc/passwd or etc/group.
	SyncUser bool
	// Node, when set, shows the image read-only with that node's
	// rendered system and runtime overlays on top, as the node sees its
	// root: nothing can change, so nothing is synchronised or built.
	Node string
	// Env is added to the command's environment.
	Env []string

	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// ExecResult is what ExecImage did.
type ExecResult struct {
	// Code is the command's exit status (128+N when killed by signal N).
	Code int
	// Sync is what syncuser changed, nil when it did not run.
	Sync *image.SyncResult
	// Build is the rebuild, nil when none ran.
	Build *ImageBuild
	// Warnings are what went wrong after the command (syncuser).
	Warnings []string
}

// exitScripts are run in the image after a command that succeeded, the
// first that exists (Warewulf's, under its new name and its old one).
var exitScripts = []string{"etc/warewulf/image_exit.sh", "etc/warewulf/container_exit.sh"}

// ExecImage runs argv inside image name, as Warewulf's "image exec" does:
// in new mount, PID and UTS namespaces with warewulf.conf's "image
// mounts" and o.Binds, one session per image at a time (a lock), a
// read-only image refused. After a command that exits 0 it runs the
// image's exit script (etc/warewulf/image_exit.sh), with o.SyncUser gives
// the image's users the server's ids when the command changed its
// etc/passwd or etc/group, and rebuilds the image unless o.NoBuild. A
// command that fails leaves the image unbuilt; its status is in Code.
func (s *Site) ExecImage(ctx context.Context, name string, argv []string, o ExecOptions) (*ExecResult, error) {
	im := s.images
	if !im.Exists(name) {
		return nil, fmt.Errorf("image %q does not exist", name)
	}
	if o.Node == "" && im.ReadOnly(name) {
		return nil, fmt.Errorf("image %q is read-only (remove %s to change it, or look at it with --node)", name, im.ReadOnlyMarker(name))
	}
	var binds []sandbox.Bind
	for _, m := range s.cfg.ImageMounts {
		dest := m.Dest
		if dest == "" {
			dest = m.Source
		}
		binds = append(binds, sandbox.Bind{Source: m.Source, Dest: dest, ReadOnly: m.ReadOnly, Copy: m.Copy})
	}
	opts := sandbox.Options{Root: im.RootFS(name), Hostname: name, Binds: append(binds, o.Binds...),
		Env:   append([]string{"WW_IMAGE_SHELL=" + name, "WW_CONTAINER_SHELL=" + name}, o.Env...),
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr, Log: s.log}
	if o.Node != "" {
		layer, err := os.MkdirTemp("", "wwctl-node-")
		if err != nil {
			return nil, fmt.Errorf("image exec --node: %w", err)
		}
		defer os.RemoveAll(layer)
		if err := s.WriteNodeOverlays(o.Node, layer); err != nil {
			return nil, err
		}
		opts.Layers, opts.ReadOnly = []string{layer}, true
		opts.Hostname = o.Node
	}
	unlock, err := sandbox.Lock(ctx, im.Dir(name))
	if err != nil {
		return nil, err
	}
	defer unlock()
	root := im.RootFS(name)
	before := userDBTimes(root)
	res := &ExecResult{}
	if res.Code, err = sandbox.Run(ctx, opts, argv); err != nil || res.Code != 0 || o.Node != "" {
		return res, err
	}
	for _, script := range exitScripts {
		if st, err := os.Stat(filepath.Join(root, script)); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if res.Code, err = sandbox.Run(ctx, opts, []string{"/bin/sh", "/" + script}); err != nil {
			return res, fmt.Errorf("image %s: exit script /%s: %w", name, script, err)
		}
		if res.Code != 0 {
			return res, nil
		}
		break
	}
	if o.SyncUser {
		if userDBTimes(root) == before {
			s.log.Info("syncuser skipped: the image's passwd and group did not change", "image", name)
		} else if res.Sync, err = s.SyncImageUsers(ctx, name, true); err != nil {
			s.log.Warn("syncuser failed", "image", name, "err", err)
			res.Warnings = append(res.Warnings, err.Error())
		}
	}
	if !o.NoBuild {
		if res.Build, err = s.BuildImage(ctx, name, o.Build); err != nil {
			return res, err
		}
	}
	return res, nil
}

// userDBTimes are the modification times of an image's etc/passwd and
// etc/group (zero when missing).
func userDBTimes(root string) [2]time.Time {
	var t [2]time.Time
	for i, f := range []string{"etc/passwd", "etc/group"} {
		if st, err := os.Stat(filepath.Join(root, f)); err == nil {
			t[i] = st.ModTime()
		}
	}
	return t
}

// SyncImageUsers gives the users and groups that exist both in image name
// and on the server the server's ids (image.SyncUsers); without write it
// only reports.
func (s *Site) SyncImageUsers(ctx context.Context, name string, write bool) (*image.SyncResult, error) {
	if !s.images.Exists(name) {
		return nil, fmt.Errorf("image %q does not exist", name)
	}
	res, err := image.SyncUsers(ctx, s.images.RootFS(name), s.HostPasswd(), s.HostGroup(), write)
	if err != nil {
		return nil, fmt.Errorf("image %s: syncuser: %w", name, err)
	}
	return res, nil
}

// WriteNodeOverlays renders node's system and runtime overlays, as its
// images would carry them, into the directory dir; with names, those
// overlays instead, in that order.
func (s *Site) WriteNodeOverlays(node, dir string, names ...string) error {
	snap, err := s.Snapshot()
	if err != nil {
		return err
	}
	n := snap.Node(node)
	if n == nil {
		return fmt.Errorf("no such node: %s", node)
	}
	if len(names) == 0 {
		names = append(append([]string(nil), n.SystemOverlay...), n.RuntimeOverlay...)
	} else if err := s.CheckOverlaysExist(names...); err != nil {
		return err
	}
	r, err := snap.Renderer(names...)
	if err != nil {
		return fmt.Errorf("node %s: %w", node, err)
	}
	out, err := r.Render(n, node, names)
	if err != nil {
		return fmt.Errorf("node %s: render overlays: %w", node, err)
	}
	return overlay.WriteTree(dir, out.Tree)
}
