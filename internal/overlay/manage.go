package overlay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/naming"
)

// SiteDir returns the site directory of an overlay, copying a shipped
// overlay there first so that a change never touches what was shipped
// (Warewulf's "clone to site").
func (s *Store) SiteDir(name string) (string, error) {
	origin, _, ok := s.Locate(name)
	if !ok {
		return "", fmt.Errorf("overlay %q does not exist", name)
	}
	dir := filepath.Join(s.Site, name)
	if origin == OriginSite {
		return dir, nil
	}
	o, err := s.Get(name)
	if err != nil {
		return "", err
	}
	root := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("copy overlay %q to the site directory: %w", name, err)
	}
	for _, f := range o.Files {
		if err := writeSource(filepath.Join(root, filepath.FromSlash(f.Path)), f); err != nil {
			_ = os.RemoveAll(dir)
			return "", fmt.Errorf("copy overlay %q to the site directory: %w", name, err)
		}
	}
	return dir, nil
}

func writeSource(dst string, f *SourceFile) error {
	switch f.Kind {
	case KindDir:
		if err := os.MkdirAll(dst, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(dst, f.Mode); err != nil {
			return err
		}
	case KindSymlink:
		if err := os.Symlink(f.Target, dst); err != nil {
			return err
		}
		return lchown(dst, f.UID, f.GID)
	default:
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, f.Data, f.Mode); err != nil {
			return err
		}
		if err := os.Chmod(dst, f.Mode); err != nil {
			return err
		}
	}
	return lchown(dst, f.UID, f.GID)
}

// lchown sets an owner when we may; an unprivileged user keeps its own.
func lchown(p string, uid, gid int) error {
	if os.Geteuid() != 0 {
		return nil
	}
	return os.Lchown(p, uid, gid)
}

// Create makes an empty site overlay.
func (s *Store) Create(name string) error {
	if err := naming.Overlay.Check(name); err != nil {
		return err
	}
	if _, _, ok := s.Locate(name); ok {
		return fmt.Errorf("overlay %q already exists", name)
	}
	if err := os.MkdirAll(filepath.Join(s.Site, name, "rootfs"), 0o755); err != nil {
		return fmt.Errorf("create overlay %q: %w", name, err)
	}
	return nil
}

// Delete removes a site overlay; one that holds files only with force.
// Shipped overlays cannot be deleted.
func (s *Store) Delete(name string, force bool) error {
	origin, dir, ok := s.Locate(name)
	if !ok {
		return fmt.Errorf("overlay %q does not exist", name)
	}
	if origin != OriginSite {
		return fmt.Errorf("overlay %q is a %s overlay and cannot be deleted", name, origin)
	}
	if !force {
		o, err := s.Get(name)
		if err != nil {
			return err
		}
		for _, f := range o.Files {
			if f.Kind != KindDir {
				return fmt.Errorf("overlay %q is not empty (use --force)", name)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("delete overlay %q: %w", name, err)
	}
	return nil
}

// SitePath returns where file of a site overlay is on disk, copying a
// shipped overlay to the site first; the path is checked to stay inside
// the overlay.
func (s *Store) SitePath(name, file string) (string, error) {
	rel, err := cleanRel(file)
	if err != nil {
		return "", err
	}
	dir, err := s.SiteDir(name)
	if err != nil {
		return "", err
	}
	return filepath.Join(RootDir(dir), filepath.FromSlash(rel)), nil
}

// DeleteFile removes a file or empty directory of an overlay; with
// parents, directories it leaves empty go too.
func (s *Store) DeleteFile(name, file string, force, parents bool) error {
	p, err := s.SitePath(name, file)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err != nil {
		return fmt.Errorf("overlay %q has no %s", name, file)
	}
	remove := os.Remove
	if force {
		remove = os.RemoveAll
	}
	if err := remove(p); err != nil {
		return fmt.Errorf("delete %s from overlay %q: %w", file, name, err)
	}
	if parents {
		root := RootDir(filepath.Join(s.Site, name))
		for dir := filepath.Dir(p); dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil {
				break
			}
		}
	}
	return nil
}

// Mkdir makes a directory in an overlay.
func (s *Store) Mkdir(name, dir string, mode fs.FileMode) error {
	p, err := s.SitePath(name, dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p, mode); err != nil {
		return fmt.Errorf("overlay %q: %w", name, err)
	}
	return os.Chmod(p, mode)
}

// Chmod changes the mode of a file in an overlay.
func (s *Store) Chmod(name, file string, mode fs.FileMode) error {
	p, err := s.SitePath(name, file)
	if err != nil {
		return err
	}
	if err := os.Chmod(p, mode); err != nil {
		return fmt.Errorf("overlay %q: %w", name, err)
	}
	return nil
}

// ParseOwner parses chown's "UID[:GID]" as Warewulf does: numeric ids,
// -1 for the one not given (kept), so "1000" keeps the group and ":100"
// the user.
func ParseOwner(spec string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(spec, ":")
	id := func(s, what string) (int, error) {
		if s == "" {
			return -1, nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("owner %q: the %s id %q is not a number", spec, what, s)
		}
		return n, nil
	}
	if uid, err = id(u, "user"); err != nil {
		return 0, 0, err
	}
	gid = -1
	if hasGroup {
		if gid, err = id(g, "group"); err != nil {
			return 0, 0, err
		}
	}
	if uid == -1 && gid == -1 {
		return 0, 0, fmt.Errorf("owner %q: give a user id, a group id or both (UID[:GID])", spec)
	}
	return uid, gid, nil
}

// Chown changes the owner of a file in an overlay (numeric ids; -1
// keeps the user or the group).
func (s *Store) Chown(name, file string, uid, gid int) error {
	p, err := s.SitePath(name, file)
	if err != nil {
		return err
	}
	if err := os.Lchown(p, uid, gid); err != nil {
		return fmt.Errorf("overlay %q: %w", name, err)
	}
	return nil
}

// Import copies a server file into an overlay as dest; an existing file
// is replaced only with overwrite, and missing directories are made only
// with parents.
func (s *Store) Import(name, src, dest string, overwrite, parents bool) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	st, err := os.Stat(src)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	p, err := s.SitePath(name, dest)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(p); err == nil && !overwrite {
		return fmt.Errorf("overlay %q already has %s (use --overwrite)", name, dest)
	}
	if _, err := os.Stat(filepath.Dir(p)); errors.Is(err, fs.ErrNotExist) {
		if !parents {
			return fmt.Errorf("overlay %q has no directory %s (use --parents)", name, filepath.Dir(dest))
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	if err := atomicfile.WriteFile(p, data, st.Mode().Perm()); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	return os.Chmod(p, st.Mode().Perm())
}
