package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
)

// BusyboxImage makes the small test image: "wwctl image create NAME
// --from busybox", plus Debian's kernel and the modules of nodeModules
// (busybox has neither), then "wwctl image build --uncompressed" so that
// nodes can boot it compressed or not.
func (c *Cluster) BusyboxImage(ctx context.Context, name string, k *Kernel) error {
	if _, err := c.Wwctl(ctx, "image", "create", name, "--from", "busybox"); err != nil {
		return err
	}
	if err := k.InstallInto(ctx, c.Rootfs(name)); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	if _, err := c.Wwctl(ctx, "image", "build", name, "--uncompressed"); err != nil {
		return err
	}
	return nil
}

// Rootfs is the root file system of an image.
func (c *Cluster) Rootfs(image string) string { return filepath.Join(c.ChrootDir, image, "rootfs") }

// File is a file of an overlay.
type File struct {
	Path    string // relative to the overlay's rootfs
	Mode    os.FileMode
	Content string
	// Target makes the file a symbolic link to Target.
	Target string
}

// WriteOverlay creates (or adds to) a site overlay with files. The daemon
// notices the change by itself.
func (c *Cluster) WriteOverlay(name string, files ...File) error {
	for _, f := range files {
		p := filepath.Join(c.OverlayDir, name, "rootfs", filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		// Written beside and renamed, so the daemon never reads half.
		tmp := p + ".e2e-tmp"
		_ = os.Remove(tmp)
		if f.Target != "" {
			if err := os.Symlink(f.Target, tmp); err != nil {
				return err
			}
		} else {
			if err := os.WriteFile(tmp, []byte(f.Content), f.Mode); err != nil {
				return err
			}
			if err := os.Chmod(tmp, f.Mode); err != nil {
				return err
			}
		}
		if err := os.Rename(tmp, p); err != nil {
			return fmt.Errorf("overlay %s: %w", name, err)
		}
	}
	return nil
}

// ProbeOverlay is the system overlay through which a busybox node reports
// on its console what the tests check: once, its host name, whether
// wwclient runs, its addresses and modules; then wwclient's log, and the
// content of /etc/e2e-marker (from a runtime overlay) each time it
// changes.
func ProbeOverlay() []File {
	return []File{{Path: "etc/init.d/S99e2eprobe", Mode: 0o755, Content: `#!/bin/sh
# wwboot e2e probe: reports on the console what the virtual cluster
# tests check.
(
	exec </dev/null >/dev/console 2>&1
	echo "E2E-PROBE up host=$(hostname) wwclient=$(pidof wwclient || echo none) addrs=$(ip -4 -o addr show | awk '$2 != "lo" { printf "%s,", $4 }') modules=$(cut -d' ' -f1 /proc/modules | tr '\n' ,)"
	# wwclient's log on the console too, for a failing test's report.
	tail -n +1 -f /var/log/wwclient.log 2>/dev/null | while IFS= read -r l; do echo "E2E-WWCLIENT $l"; done &
	last=
	while :; do
		cur=$(cat /etc/e2e-marker 2>/dev/null)
		if [ "$cur" != "$last" ]; then
			echo "E2E-MARKER $cur"
			last=$cur
		fi
		sleep 1
	done
) &
`}}
}

// SystemdProbeOverlay does the same for an image with systemd: once
// multi-user.target is active it reports the host name, wwclient's state,
// the addresses and the memory in use (MemTotal - MemAvailable, which
// counts the tmpfs root).
func SystemdProbeOverlay() []File {
	return []File{
		{Path: "etc/systemd/system/e2e-probe.service", Mode: 0o644, Content: `[Unit]
Description=wwboot e2e probe: reports on the console what the tests check

[Service]
Type=simple
ExecStart=/usr/local/sbin/e2e-probe

[Install]
WantedBy=multi-user.target
`},
		{Path: "etc/systemd/system/multi-user.target.wants/e2e-probe.service", Target: "../e2e-probe.service"},
		{Path: "usr/local/sbin/e2e-probe", Mode: 0o755, Content: `#!/bin/sh
exec </dev/null >/dev/console 2>&1
until systemctl is-active -q multi-user.target; do sleep 1; done
echo "E2E-PROBE multi-user host=$(hostname) wwclient=$(systemctl is-active wwclient) addrs=$(ip -4 -o addr show | awk '$2 != "lo" { printf "%s,", $4 }') memused=$(awk '/^MemTotal:/ { t = $2 } /^MemAvailable:/ { a = $2 } END { printf "%d", (t - a) / 1024 }' /proc/meminfo)MB"
`},
	}
}

// PadImage adds size bytes of incompressible data to an image's root
// (/var/lib/e2e-padding), so that it is as large as a real image without
// a real image's build time; the bytes are the same in every run. The
// image must be built again afterwards.
func (c *Cluster) PadImage(image string, size int64) error {
	p := filepath.Join(c.Rootfs(image), "var", "lib", "e2e-padding")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	_, err = io.CopyN(f, rand.NewChaCha8([32]byte{'w', 'w'}), size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pad image %s: %w", image, err)
	}
	return nil
}

// ImageArchive is the path of an image's built archive with suffix ext
// ("", ".gz" or ".zst").
func (c *Cluster) ImageArchive(image, ext string) string {
	return filepath.Join(c.imagesDir(), image+".img"+ext)
}

// HasBootstrap reports whether "wwctl image build" made the image's
// bootstrap initramfs (it only warns when it cannot), naming the file.
func (c *Cluster) HasBootstrap(image string) (string, error) {
	matches, _ := filepath.Glob(filepath.Join(c.imagesDir(), image+".bootstrap-*.img.*"))
	for _, m := range matches {
		if filepath.Ext(m) != ".sha256" {
			return m, nil
		}
	}
	return "", fmt.Errorf("image %s has no bootstrap initramfs: two-stage boot would fall back to the image's own initramfs (see wwctl's warning)", image)
}

// imagesDir is where the cluster's built images are.
func (c *Cluster) imagesDir() string {
	return filepath.Join(c.opts.Dir, "var", "warewulf", "provision", "images")
}
