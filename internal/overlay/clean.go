package overlay

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Orphans lists the packs under Dir that belong to no node of keep: what
// deleted (or renamed) nodes left. A node directory (the layout before
// packs held both images) of such a node is listed too.
func (b *Builder) Orphans(keep func(node string) bool) ([]string, error) {
	entries, err := os.ReadDir(b.Dir)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("overlay images: %w", err)
	}
	var out []string
	for _, e := range entries {
		// .shared, .locks, .lock and temporary files are the builds' own.
		node, pack := packNode(e)
		if !pack && e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			node = e.Name()
		} else if !pack {
			continue
		}
		if !keep(node) {
			out = append(out, filepath.Join(b.Dir, e.Name()))
		}
	}
	return out, nil
}

// RemoveOrphans removes the packs and directories Orphans lists, and then the
// shared archives only they used. It waits until no build runs (it takes
// the builds' lock exclusively), so a build never loses a directory it
// writes.
func (b *Builder) RemoveOrphans(ctx context.Context, keep func(node string) bool) ([]string, error) {
	if _, err := os.Stat(b.Dir); os.IsNotExist(err) {
		return nil, nil
	}
	lk, err := openLock(filepath.Join(b.Dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer lk.close()
	if err := lk.lock(ctx, unix.LOCK_EX); err != nil {
		return nil, err
	}
	dirs, err := b.Orphans(keep)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			return removed, fmt.Errorf("remove overlay images of a deleted node: %w", err)
		}
		removed = append(removed, d)
	}
	if len(removed) > 0 {
		if _, err := os.Stat(filepath.Join(b.Dir, sharedDir)); err == nil {
			if err := b.collectShared(); err != nil {
				return removed, fmt.Errorf("remove unused shared overlay archives: %w", err)
			}
		}
	}
	return removed, nil
}
