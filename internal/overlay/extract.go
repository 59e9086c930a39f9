package overlay

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
)

// WriteTree writes a rendered tree into the directory dir, as the node
// would unpack it: files, directories and links with their modes and
// owners. Every path stays inside dir (it is opened as an os.Root), and
// existing files are replaced. As Warewulf builds into a directory, a file
// replaced by a template's output (without nobackup) is first copied to
// FILE.wwbackup, and one replaced by an overlay's link is renamed to it,
// unless a FILE.wwbackup exists. "wwctl image exec --node" lays the result
// over the image; "wwctl overlay build -o DIR" writes it into DIR.
func WriteTree(dir string, t Tree) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("write overlay tree: %w", err)
	}
	defer root.Close()
	for _, e := range t.Sorted() {
		if err := writeEntry(root, e); err != nil {
			return fmt.Errorf("write overlay tree: %s: %w", e.Path, err)
		}
	}
	return nil
}

func writeEntry(root *os.Root, e *Entry) error {
	p := path.Clean(e.Path)
	if dir := path.Dir(p); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch e.Kind {
	case KindDir:
		if err := root.Mkdir(p, e.Mode.Perm()); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	case KindSymlink:
		if err := keepBackup(root, e, p); err != nil {
			return err
		}
		if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := root.Symlink(e.Target, p); err != nil {
			return err
		}
		return root.Lchown(p, e.UID, e.GID)
	default:
		if err := keepBackup(root, e, p); err != nil {
			return err
		}
		if err := root.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		if err := root.WriteFile(p, e.Data, e.Mode.Perm()); err != nil {
			return err
		}
	}
	if err := root.Lchown(p, e.UID, e.GID); err != nil {
		return err
	}
	// Modes with setuid, setgid or sticky bits, and any the umask cut.
	return root.Chmod(p, e.Mode&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
}

// keepBackup moves the regular file at p, which e replaces, to
// p.wwbackup unless that exists, as Warewulf's build into a directory
// keeps it: for a template's output (not with nobackup) and for an
// overlay's own link.
func keepBackup(root *os.Root, e *Entry, p string) error {
	keeps := e.Rendered && !e.NoBackup
	if e.Kind == KindSymlink {
		keeps = !e.Rendered
	}
	if !keeps || !isFile(root, p) || isFile(root, p+".wwbackup") {
		return nil
	}
	return root.Rename(p, p+".wwbackup")
}

// isFile reports whether p is a regular file (not followed if a link).
func isFile(root *os.Root, p string) bool {
	st, err := root.Lstat(p)
	return err == nil && st.Mode().IsRegular()
}
