// Package hostprog copies programs of the host, with the shared
// libraries they load, into a test's root file system (a chroot, or the
// tree of a busybox image), so that a test can run the distribution's
// own tools (dash, sfdisk, mkfs.ext4...) where the image has none.
package hostprog

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Install copies prog (an absolute path on the host) to as (a path
// relative to root), and every library ldd names for it, including the
// dynamic loader, to the same path under root. Programs and libraries
// are written with mode 0755, replacing what was there (a busybox
// applet's link, for one).
func Install(ctx context.Context, root, prog, as string) error {
	out, err := exec.CommandContext(ctx, "ldd", prog).Output()
	if err != nil {
		return fmt.Errorf("ldd %s: %w", prog, err)
	}
	files := map[string]string{prog: as}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasPrefix(f, "/") {
			files[f] = strings.TrimPrefix(f, "/")
		}
	}
	for src, dst := range files {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		full := filepath.Join(root, dst)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		// A link (busybox's applets are) would be written through.
		if err := os.Remove(full); err != nil && !os.IsNotExist(err) {
			return err
		}
		if err := os.WriteFile(full, data, 0o755); err != nil {
			return err
		}
	}
	return nil
}
