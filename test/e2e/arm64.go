package e2e

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// FetchBusybox returns the path of Debian's static busybox for
// architecture debArch (busybox-static:arm64), from cacheDir when an
// earlier run fetched it, else through "apt-get download" (never
// installed): the program of an image for another architecture than the
// host's.
func FetchBusybox(ctx context.Context, cacheDir, debArch string, log *slog.Logger) (string, error) {
	deb, err := aptDownload(ctx, cacheDir, "busybox-static", debArch, log)
	if err != nil {
		return "", err
	}
	out := strings.TrimSuffix(deb, ".deb") + ".busybox"
	if st, err := os.Stat(out); err == nil && st.Mode().IsRegular() {
		return out, nil
	}
	tmp := out + ".tmp"
	if err := extractFromDeb(ctx, deb, "bin/busybox", tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, out); err != nil {
		return "", err
	}
	return out, nil
}

// extractFromDeb writes the file name (no leading "./") of the package
// deb to dest, executable.
func extractFromDeb(ctx context.Context, deb, name, dest string) error {
	found := false
	err := readDeb(ctx, deb, func(tr *tar.Reader) error {
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if path.Clean(strings.TrimPrefix(h.Name, "./")) != name || h.Typeflag != tar.TypeReg {
				continue
			}
			f, err := os.OpenFile(dest, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("%s: %w", dest, err)
			}
			found = true
		}
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s holds no %s", deb, name)
	}
	return nil
}

// BusyboxImageFor makes the small test image for another architecture
// than the host's: "wwctl image create NAME --from busybox" (the host's
// busybox tree: its applet links and /etc), with busybox replaced by
// the one given (FetchBusybox) and the kernel k of that architecture,
// then built; the build reads the image's architecture from its busybox.
func (c *Cluster) BusyboxImageFor(ctx context.Context, name, busybox string, k *Kernel) error {
	if _, err := c.Wwctl(ctx, "image", "create", name, "--from", "busybox"); err != nil {
		return err
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	dst := filepath.Join(c.Rootfs(name), "bin", "busybox")
	if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	if err := k.InstallInto(ctx, c.Rootfs(name)); err != nil {
		return fmt.Errorf("image %s: %w", name, err)
	}
	if _, err := c.Wwctl(ctx, "image", "build", name); err != nil {
		return err
	}
	return nil
}

// FetchPackage returns the directory holding the files of Debian's
// package pkg for architecture debArch, unpacked (dpkg-deb -x, never
// installed) in cacheDir from the .deb "apt-get download pkg:debArch"
// fetched there, by an earlier run or now.
func FetchPackage(ctx context.Context, cacheDir, pkg, debArch string, log *slog.Logger) (string, error) {
	deb, err := aptDownload(ctx, cacheDir, pkg, debArch, log)
	if err != nil {
		return "", err
	}
	dir := strings.TrimSuffix(deb, ".deb") + ".d"
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	tmp := dir + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("dpkg-deb -x %s: %w: %s", deb, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return "", err
	}
	return dir, nil
}

// Arm64Loaders returns Debian's signed arm64 shim (shim-signed:arm64)
// and network GRUB (grub-efi-arm64-signed:arm64, grubnetaa64.efi, whose
// prefix is /grub), fetched into cacheDir (FetchPackage).
func Arm64Loaders(ctx context.Context, cacheDir string, log *slog.Logger) (shim, grub string, err error) {
	shimDir, err := FetchPackage(ctx, cacheDir, "shim-signed", "arm64", log)
	if err != nil {
		return "", "", err
	}
	grubDir, err := FetchPackage(ctx, cacheDir, "grub-efi-arm64-signed", "arm64", log)
	if err != nil {
		return "", "", err
	}
	shim = filepath.Join(shimDir, "usr", "lib", "shim", "shimaa64.efi.signed")
	grub = filepath.Join(grubDir, "usr", "lib", "grub", "arm64-efi-signed", "grubnetaa64.efi.signed")
	for _, f := range []string{shim, grub} {
		if _, err := os.Stat(f); err != nil {
			return "", "", fmt.Errorf("arm64 loader: %w", err)
		}
	}
	return shim, grub, nil
}

// SetGrubLoaders sets warewulf.conf's tftp.shim and tftp.grub maps to
// shim and grub for the option 93 architecture code (as "00:0B"): for
// the daemon to read them, before Start.
func (c *Cluster) SetGrubLoaders(code, shim, grub string) error {
	data, err := os.ReadFile(c.Conf)
	if err != nil {
		return err
	}
	const section = "\ntftp:\n"
	if !strings.Contains(string(data), section) {
		return fmt.Errorf("%s has no tftp section", c.Conf)
	}
	lines := fmt.Sprintf("  shim: {%q: %q}\n  grub: {%q: %q}\n", code, shim, code, grub)
	conf := strings.Replace(string(data), section, section+lines, 1)
	return os.WriteFile(c.Conf, []byte(conf), 0o644)
}
