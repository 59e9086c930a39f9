package site

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
)

// UpgradeNodesOptions are what "wwctl upgrade nodes" converts.
type UpgradeNodesOptions struct {
	// Input is the nodes.conf to convert.
	Input string
	// WarewulfConf is an older warewulf.conf whose NFS mounts move to
	// the default profile's fstab resource; "" reads none.
	WarewulfConf string
	// AddDefaults and ReplaceOverlays: see inventory.UpgradeOptions.
	AddDefaults, ReplaceOverlays bool
}

// UpgradeNodes converts the nodes.conf o.Input names to the current
// format. A Warewulf 4.5 kernel override naming a kernel imported with
// "wwctl kernel import" becomes the path of the kernel of that version in
// the entity's image (Images.ResolveKernelOverride). Nothing is written.
func (s *Site) UpgradeNodes(o UpgradeNodesOptions) (*inventory.Upgraded, error) {
	data, err := os.ReadFile(o.Input)
	if err != nil {
		return nil, fmt.Errorf("upgrade nodes: %w", err)
	}
	opts := inventory.UpgradeOptions{AddDefaults: o.AddDefaults, ReplaceOverlays: o.ReplaceOverlays,
		ResolveOverride: s.images.ResolveKernelOverride}
	if o.WarewulfConf != "" {
		conf, err := os.ReadFile(o.WarewulfConf)
		if err != nil {
			return nil, fmt.Errorf("upgrade nodes: %w", err)
		}
		mounts, err := config.LegacyNFSMounts(conf, o.WarewulfConf)
		if err != nil {
			return nil, err
		}
		for _, m := range mounts {
			opts.Fstab = append(opts.Fstab, inventory.FstabEntry{
				Spec: "warewulf:" + m.Path, File: m.Path, VfsType: "nfs", MntOps: m.MountOptions})
		}
	}
	return inventory.Upgrade(data, o.Input, opts)
}

// UpgradeConfig converts the warewulf.conf at path to the current
// format. Nothing is written.
func UpgradeConfig(path string) (*config.Upgraded, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("upgrade config: %w", err)
	}
	return config.Upgrade(data, path)
}

// WriteUpgraded replaces the file at path with data atomically, under the
// lock nodes.conf's writers take, after copying its previous content to
// path-old as Warewulf does. A new file gets perm; an existing one keeps
// its mode.
func WriteUpgraded(ctx context.Context, path string, data []byte, perm fs.FileMode) error {
	unlock, err := atomicfile.Lock(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer unlock()
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("upgrade: %w", err)
	default:
		if st, err := os.Stat(path); err == nil {
			perm = st.Mode().Perm()
		}
		if err := atomicfile.WriteFile(path+"-old", old, perm); err != nil {
			return fmt.Errorf("upgrade: keep the previous %s: %w", path, err)
		}
	}
	if err := atomicfile.WriteFile(path, data, perm); err != nil {
		return fmt.Errorf("upgrade: %w", err)
	}
	return nil
}
