package image

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Leftover is something the image store holds for no image: a file or
// directory "wwctl clean" removes.
type Leftover struct {
	Path string
	Why  string
}

// Leftovers lists what deleted images and interrupted operations left:
// old and deleted trees that a crash kept from being removed
// (<Chroots>/.NAME.old-* and .NAME.deleted-*), new trees of imports that
// were killed (.NAME.new-N whose lock nobody holds), and the archives,
// sums, digests, locks and bootstraps under <Provision>/images of images
// that no longer exist.
func (im *Images) Leftovers() ([]Leftover, error) {
	var out []Leftover
	entries, err := os.ReadDir(im.Chroots)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image leftovers: %w", err)
	}
	for _, e := range entries {
		n := e.Name()
		p := filepath.Join(im.Chroots, n)
		switch {
		case !strings.HasPrefix(n, "."):
		case strings.Contains(n, ".old-"):
			out = append(out, Leftover{p, "previous tree of a replaced image"})
		case strings.Contains(n, ".deleted-"):
			out = append(out, Leftover{p, "tree of a deleted image"})
		case strings.Contains(n, newInfix) && e.IsDir() && !lockHeld(p+lockSuffix):
			out = append(out, Leftover{p, "tree of a killed import"})
		case strings.Contains(n, newInfix) && strings.HasSuffix(n, lockSuffix) && !exists(strings.TrimSuffix(p, lockSuffix)) && !lockHeld(p):
			out = append(out, Leftover{p, "lock of a killed import"})
		}
	}
	names, err := im.Names()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(im.Provision, "images")
	files, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image leftovers: %w", err)
	}
	for _, f := range files {
		n := f.Name()
		if !strings.Contains(n, ".img") && !strings.Contains(n, ".bootstrap-") {
			continue
		}
		owned := false
		for _, name := range names {
			if strings.HasPrefix(n, name+".img") || strings.HasPrefix(n, name+".bootstrap-") ||
				// atomicfile's temporary files: .NAME.img.gz.tmp-*
				strings.HasPrefix(n, "."+name+".img") || strings.HasPrefix(n, "."+name+".bootstrap-") {
				owned = true
				break
			}
		}
		if !owned {
			out = append(out, Leftover{filepath.Join(dir, n), "archive of an image that no longer exists"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// lockHeld reports whether someone holds the flock of the file at p; a
// missing file is not held.
func lockHeld(p string) bool {
	f, err := os.OpenFile(p, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	ok, err := lockNB(f)
	return err != nil || !ok
}

// TreeSize is the size of the regular files of an image's root
// filesystem (their apparent sizes), what "image list --chroot" shows.
func (im *Images) TreeSize(name string) (int64, error) {
	var total int64
	err := filepath.WalkDir(im.RootFS(name), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("image %s: %w", name, err)
	}
	return total, nil
}
