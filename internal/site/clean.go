package site

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wwboot/wwboot/internal/image"
)

// Leftover is something Clean removes, or would remove.
type Leftover = image.Leftover

// OCICacheDir is where image imports keep registry blobs:
// <cachedir>/warewulf, Warewulf's OCI blob cache.
func (s *Site) OCICacheDir() string { return filepath.Join(s.CacheDir(), "warewulf") }

// Clean removes what deleted nodes and images and interrupted operations
// left, as Warewulf's "wwctl clean" does and more: the overlay images of
// nodes no longer in nodes.conf (waiting for running builds), the image
// store's leftovers (image.Leftovers) and the OCI blob cache. With dryRun
// it only lists them. It returns what it removed (or would).
func (s *Site) Clean(ctx context.Context, dryRun bool) ([]Leftover, error) {
	inv, err := s.nodes.Load()
	if err != nil {
		return nil, err
	}
	keep := func(node string) bool { _, ok := inv.Nodes[node]; return ok }
	b := s.NewBuilder(1)
	const orphanWhy = "overlay images of a node no longer in nodes.conf"
	var out []Leftover
	if dryRun {
		dirs, err := b.Orphans(keep)
		if err != nil {
			return nil, err
		}
		for _, d := range dirs {
			out = append(out, Leftover{Path: d, Why: orphanWhy})
		}
	} else {
		dirs, err := b.RemoveOrphans(ctx, keep)
		for _, d := range dirs {
			out = append(out, Leftover{Path: d, Why: orphanWhy})
		}
		if err != nil {
			return out, err
		}
	}
	left, err := s.images.Leftovers()
	if err != nil {
		return out, err
	}
	if _, err := os.Lstat(s.OCICacheDir()); err == nil {
		left = append(left, Leftover{Path: s.OCICacheDir(), Why: "OCI blob cache of image imports"})
	}
	for _, l := range left {
		if !dryRun {
			if err := os.RemoveAll(l.Path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return out, fmt.Errorf("clean: %w", err)
			}
		}
		out = append(out, l)
	}
	return out, nil
}
