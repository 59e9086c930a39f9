// Package image manages images: root filesystems under
// <wwchrootdir>/<name>/rootfs, built into boot archives under
// <wwprovisiondir>/images, and the kernels inside them.
package image

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wwboot/wwboot/internal/naming"
)

// Images is where images live. It is Warewulf's layout, so an existing
// site's chroots are found where they are.
type Images struct {
	Chroots   string // <wwchrootdir>
	Provision string // <wwprovisiondir>
	// Log receives what Install cleans up; nil discards it.
	Log *slog.Logger
}

func (im *Images) log() *slog.Logger {
	if im.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return im.Log
}

// Dir is the image's directory (it holds rootfs and the markers).
func (im *Images) Dir(name string) string { return filepath.Join(im.Chroots, name) }

// RootFS is the image's root filesystem.
func (im *Images) RootFS(name string) string { return filepath.Join(im.Chroots, name, "rootfs") }

// Archive is the path prefix of the image's boot archives: Build writes
// <Archive>.img, .img.gz and .img.zst.
func (im *Images) Archive(name string) string { return filepath.Join(im.Provision, "images", name) }

// Exists reports whether the image has a root filesystem.
func (im *Images) Exists(name string) bool {
	if !naming.Image.Valid(name) {
		return false
	}
	st, err := os.Stat(im.RootFS(name))
	return err == nil && st.IsDir()
}

// ReadOnly reports whether the image is marked read-only (ReadOnlyMarker
// exists, as in Warewulf): exec and shell refuse it.
func (im *Images) ReadOnly(name string) bool {
	_, err := os.Stat(im.ReadOnlyMarker(name))
	return err == nil
}

// ReadOnlyMarker is the file that marks an image read-only: "readonly"
// beside its rootfs.
func (im *Images) ReadOnlyMarker(name string) string { return filepath.Join(im.Dir(name), "readonly") }

// Names lists the images, sorted.
func (im *Images) Names() ([]string, error) {
	entries, err := os.ReadDir(im.Chroots)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && im.Exists(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// Install makes a new root filesystem for name with fill, which writes
// into an empty directory, and puts it in place only when fill succeeds:
// a failed import or create leaves the previous image as it was. Without
// replace an existing image is an error. With base set, the directory
// starts as a copy of the current root filesystem made by base (--update).
//
// The new tree is made beside the images as <Chroots>/.NAME.new-N, locked
// by <Chroots>/.NAME.new-N.lock while Install runs. Each Install first
// removes the trees (of any image) whose lock is not held: those of
// imports that were killed.
func (im *Images) Install(name string, replace bool, base func(dst string) error, fill func(dst string) error) error {
	if err := naming.Image.Check(name); err != nil {
		return err
	}
	exists := im.Exists(name)
	if exists && !replace {
		return fmt.Errorf("image %q already exists (use --force to replace it or --update to add to it)", name)
	}
	if err := os.MkdirAll(im.Chroots, 0o755); err != nil {
		return fmt.Errorf("image %q: %w", name, err)
	}
	im.RemoveStale()
	tmp, release, err := newTree(im.Chroots, name)
	if err != nil {
		return fmt.Errorf("image %q: %w", name, err)
	}
	defer release()
	keep := false
	defer func() {
		if !keep {
			_ = os.RemoveAll(tmp)
		}
	}()
	root := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(root, 0o755); err != nil {
		return fmt.Errorf("image %q: %w", name, err)
	}
	if base != nil && exists {
		if err := base(root); err != nil {
			return fmt.Errorf("image %q: copy the current root filesystem: %w", name, err)
		}
	}
	if err := fill(root); err != nil {
		return err
	}
	// Keep the markers (readonly, excludes made by the administrator)
	// that live beside rootfs.
	if exists {
		if err := copyMarkers(im.Dir(name), tmp); err != nil {
			return fmt.Errorf("image %q: %w", name, err)
		}
	}
	if exists {
		// Swapped in one step, so there is never a moment without the
		// image; the old tree, now at tmp, is removed under tmp's lock
		// (or by the next Install, should this one be killed).
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, im.Dir(name), unix.RENAME_EXCHANGE)
		if err == nil {
			if err := os.RemoveAll(tmp); err != nil {
				return fmt.Errorf("image %q: remove the previous root filesystem %s: %w", name, tmp, err)
			}
			keep = true
			return nil
		}
		if !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOSYS) && !errors.Is(err, unix.EOPNOTSUPP) {
			return fmt.Errorf("image %q: %w", name, &os.LinkError{Op: "exchange", Old: tmp, New: im.Dir(name), Err: err})
		}
	}
	// No image yet, or a filesystem that cannot exchange (NFS).
	old := ""
	if exists {
		old = filepath.Join(im.Chroots, "."+name+".old-"+fmt.Sprint(time.Now().UnixNano()))
		if err := os.Rename(im.Dir(name), old); err != nil {
			return fmt.Errorf("image %q: %w", name, err)
		}
	}
	if err := os.Rename(tmp, im.Dir(name)); err != nil {
		if old != "" {
			_ = os.Rename(old, im.Dir(name))
		}
		return fmt.Errorf("image %q: %w", name, err)
	}
	keep = true
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("image %q: remove the previous root filesystem %s: %w", name, old, err)
		}
	}
	return nil
}

func copyMarkers(from, to string) error {
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "rootfs" || e.IsDir() || e.Name() == ".lock" {
			continue
		}
		data, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), data, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Rename renames an image and its archives.
func (im *Images) Rename(from, to string) error {
	if err := naming.Image.Check(to); err != nil {
		return err
	}
	if !im.Exists(from) {
		return fmt.Errorf("image %q does not exist", from)
	}
	if _, err := os.Lstat(im.Dir(to)); err == nil {
		return fmt.Errorf("image %q already exists", to)
	}
	if err := os.Rename(im.Dir(from), im.Dir(to)); err != nil {
		return fmt.Errorf("rename image %q: %w", from, err)
	}
	im.removeArchives(from)
	return nil
}

// Delete removes an image's root filesystem and archives.
func (im *Images) Delete(name string) error {
	if !im.Exists(name) {
		return fmt.Errorf("image %q does not exist", name)
	}
	// Rename first, so a half-deleted tree never looks like an image.
	gone := filepath.Join(im.Chroots, "."+name+".deleted-"+fmt.Sprint(time.Now().UnixNano()))
	if err := os.Rename(im.Dir(name), gone); err != nil {
		return fmt.Errorf("delete image %q: %w", name, err)
	}
	im.removeArchives(name)
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("delete image %q: %w", name, err)
	}
	return nil
}

func (im *Images) removeArchives(name string) {
	matches, _ := filepath.Glob(im.Archive(name) + ".img*")
	// The two-stage bootstraps made from the image's kernels.
	bootstraps, _ := filepath.Glob(im.Archive(name) + ".bootstrap-*")
	matches = append(matches, bootstraps...)
	for _, m := range matches {
		_ = os.Remove(m)
	}
}

// Built describes an image's boot archives, when built.
type Built struct {
	Path    string
	Size    int64
	ModTime time.Time
}

// Archives returns the image's built archives (uncompressed, .gz, .zst
// as present).
func (im *Images) Archives(name string) []Built {
	var out []Built
	for _, ext := range []string{".img", ".img.gz", ".img.zst"} {
		p := im.Archive(name) + ext
		if st, err := os.Stat(p); err == nil {
			out = append(out, Built{Path: p, Size: st.Size(), ModTime: st.ModTime()})
		}
	}
	return out
}

// Build builds the named image's boot archives (Build), leaving out what
// opts.Excludes names and what the image's own etc/warewulf/excludes
// does.
func (im *Images) Build(ctx context.Context, name string, opts BuildOptions) (*BuildResult, error) {
	own, err := ReadExcludes(filepath.Join(im.RootFS(name), ExcludesFile))
	if err != nil {
		return nil, err
	}
	opts.Excludes = append(append([]string(nil), opts.Excludes...), own...)
	res, err := Build(ctx, im.RootFS(name), im.Archive(name), opts)
	if err != nil {
		return nil, fmt.Errorf("build image %s: %w", name, err)
	}
	// The architecture is read once per build that changed the tree (and
	// once for an image that has no record yet).
	if _, err := os.Stat(filepath.Join(im.Dir(name), ArchFile)); !res.Skipped || err != nil {
		if _, err := im.RecordArch(name, im.log().Warn); err != nil {
			return nil, fmt.Errorf("build image %s: %w", name, err)
		}
	}
	return res, nil
}
