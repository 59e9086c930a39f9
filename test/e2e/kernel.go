package e2e

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// DefaultCacheDir keeps downloaded kernel packages between runs.
const DefaultCacheDir = "/var/cache/wwboot-e2e"

// Kernel is a Debian kernel and the modules a network-booted busybox node
// needs, unpacked under Root (boot/vmlinuz-VERSION, lib/modules/VERSION).
type Kernel struct {
	Version string
	Root    string
}

// Vmlinuz is the kernel image's path.
func (k *Kernel) Vmlinuz() string { return filepath.Join(k.Root, "boot", "vmlinuz-"+k.Version) }

// nodeModules are the module files (under lib/modules/VERSION/kernel/)
// kept from the package (of either architecture: arm64's has no x86
// and e1000 ones, and its virtio-pci is drivers/virtio/ too). Debian's
// kernel has the virtio and e1000 NIC
// drivers as modules (the e2e README's pitfall 5), and also virtio-blk
// and ext4 with what ext4 needs (jbd2, mbcache, crc16, and the crc32c
// its metadata checksums ask for by softdep), for a node with a disk
// root (scenario h), and 802.1Q VLANs with what they need (garp, mrp,
// stp, llc), for a node on a tagged VLAN (scenario v).
func nodeModules() []string {
	return []string{
		"drivers/virtio/",
		"drivers/net/virtio_net.ko",
		"drivers/net/net_failover.ko",
		"net/core/failover.ko",
		"drivers/net/ethernet/intel/e1000/",
		"drivers/net/ethernet/intel/e1000e/",
		"drivers/block/virtio_blk.ko",
		"fs/ext4/",
		"fs/jbd2/",
		"fs/mbcache.ko",
		"lib/crc16.ko",
		"crypto/crc32c_generic.ko",
		"arch/x86/crypto/crc32c-intel.ko",
		"net/8021q/",
		"net/802/",
		"net/llc/",
	}
}

// cacheName names the unpacked kernel in the cache: by version and by
// the module list, so that a changed list is unpacked anew.
func cacheName(version string) string {
	h := sha256.Sum256([]byte(strings.Join(nodeModules(), "\n")))
	return "kernel-" + version + "-" + hex.EncodeToString(h[:4])
}

// FetchKernel returns Debian's current amd64 kernel with the
// nodeModules, from cacheDir when an earlier run fetched it, else through
// "apt-get download" (the kernel is never installed on the host).
func FetchKernel(ctx context.Context, cacheDir string, log *slog.Logger) (*Kernel, error) {
	return FetchKernelFor(ctx, cacheDir, "amd64", log)
}

// FetchKernelFor is FetchKernel for Debian architecture debArch (amd64,
// arm64): linux-image-<debArch>'s kernel package of that architecture,
// which for another architecture than the host's needs
// "dpkg --add-architecture" and "apt-get update" (scripts/deps.sh
// --e2e does both for arm64).
func FetchKernelFor(ctx context.Context, cacheDir, debArch string, log *slog.Logger) (*Kernel, error) {
	meta := "linux-image-" + debArch + ":" + debArch
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", meta).Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache depends %s: %w (for another architecture than the host's: scripts/deps.sh --e2e-full)", meta, err)
	}
	re := regexp.MustCompile(`Depends: (linux-image-([0-9][^ :]*-` + regexp.QuoteMeta(debArch) + `))(:` + regexp.QuoteMeta(debArch) + `)?\b`)
	m := re.FindStringSubmatch(string(out))
	if m == nil {
		return nil, fmt.Errorf("apt-cache depends %s names no kernel package:\n%s", meta, out)
	}
	pkg, version := m[1], m[2]
	k := &Kernel{Version: version, Root: filepath.Join(cacheDir, cacheName(version))}
	if _, err := os.Stat(filepath.Join(k.Root, "done")); err == nil {
		return k, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, err
	}
	deb, err := aptDownload(ctx, cacheDir, pkg, debArch, log)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(cacheDir, ".kernel-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if err := unpackKernel(ctx, deb, version, tmp); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(tmp, "done"), nil, 0o644); err != nil {
		return nil, err
	}
	// A concurrent run may have won; its tree is as good as ours.
	if err := os.Rename(tmp, k.Root); err != nil && !errors.Is(err, fs.ErrExist) && !errors.Is(err, syscall.ENOTEMPTY) {
		return nil, fmt.Errorf("cache the kernel: %w", err)
	}
	log.Info("kernel unpacked", "version", version, "dir", k.Root)
	return k, nil
}

// unpackKernel extracts from deb the kernel image, the nodeModules and
// the module lists depmod needs.
func unpackKernel(ctx context.Context, deb, version, dest string) error {
	found := false
	err := readDeb(ctx, deb, func(tr *tar.Reader) error {
		var err error
		found, err = extractKernelFiles(tr, version, dest)
		return err
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("%s holds no boot/vmlinuz-%s", deb, version)
	}
	return nil
}

// aptDownload returns the .deb of Debian's package pkg for architecture
// debArch ("" is the host's) in cacheDir, fetched there by "apt-get
// download" now or by an earlier run (never installed).
func aptDownload(ctx context.Context, cacheDir, pkg, debArch string, log *slog.Logger) (string, error) {
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	name, glob := pkg, filepath.Join(cacheDir, pkg+"_*.deb")
	if debArch != "" {
		name, glob = pkg+":"+debArch, filepath.Join(cacheDir, pkg+"_*_"+debArch+".deb")
	}
	debs, _ := filepath.Glob(glob)
	if len(debs) == 0 {
		log.Info("downloading a package", "package", name, "dir", cacheDir)
		cmd := exec.CommandContext(ctx, "apt-get", "download", name)
		cmd.Dir = cacheDir
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("apt-get download %s: %w: %s (for another architecture than the host's: scripts/deps.sh --e2e-full)", name, err, out)
		}
		if debs, _ = filepath.Glob(glob); len(debs) == 0 {
			return "", fmt.Errorf("apt-get download %s left no .deb in %s", name, cacheDir)
		}
	}
	return debs[len(debs)-1], nil
}

// readDeb runs fn on the files of the package deb (dpkg-deb
// --fsys-tarfile), then reads what fn left so that dpkg-deb can finish.
func readDeb(ctx context.Context, deb string, fn func(*tar.Reader) error) error {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	ferr := fn(tar.NewReader(stdout))
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %w: %s", deb, err, stderr.String())
	}
	if ferr != nil {
		return fmt.Errorf("unpack %s: %w", deb, ferr)
	}
	return nil
}

func extractKernelFiles(tr *tar.Reader, version, dest string) (foundKernel bool, err error) {
	modDir := "lib/modules/" + version + "/"
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return foundKernel, nil
		}
		if err != nil {
			return foundKernel, err
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if h.Typeflag != tar.TypeReg || strings.Contains(name, "..") {
			continue
		}
		keep := name == "boot/vmlinuz-"+version
		if rest, ok := strings.CutPrefix(name, modDir); ok {
			if strings.HasPrefix(rest, "modules.builtin") || rest == "modules.order" {
				keep = true
			}
			for _, m := range nodeModules() {
				if strings.HasPrefix(rest, "kernel/"+m) {
					keep = true
				}
			}
		}
		if !keep {
			continue
		}
		foundKernel = foundKernel || name == "boot/vmlinuz-"+version
		p := filepath.Join(dest, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return foundKernel, err
		}
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return foundKernel, err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return foundKernel, fmt.Errorf("%s: %w", name, err)
		}
	}
}

// InstallInto copies the kernel and modules into an image's root file
// system and indexes the modules (depmod -b), so that busybox modprobe
// finds them and their dependencies.
func (k *Kernel) InstallInto(ctx context.Context, rootfs string) error {
	err := filepath.WalkDir(k.Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(k.Root, p)
		if rel == "done" {
			return nil
		}
		dst := filepath.Join(rootfs, rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		return fmt.Errorf("copy kernel %s into %s: %w", k.Version, rootfs, err)
	}
	if err := run(ctx, "depmod", "-b", rootfs, k.Version); err != nil {
		return fmt.Errorf("index the modules: %w", err)
	}
	return nil
}

// FetchUnsignedKernel returns the file of k's kernel as Debian builds it
// before signing (linux-image-<version>-unsigned), which Secure Boot must
// refuse: from cacheDir when an earlier run fetched it, else through
// "apt-get download".
func FetchUnsignedKernel(ctx context.Context, cacheDir string, k *Kernel, log *slog.Logger) (string, error) {
	return FetchUnsignedKernelFor(ctx, cacheDir, "", k, log)
}

// FetchUnsignedKernelFor is FetchUnsignedKernel for Debian architecture
// debArch ("" for the host's).
func FetchUnsignedKernelFor(ctx context.Context, cacheDir, debArch string, k *Kernel, log *slog.Logger) (string, error) {
	dst := filepath.Join(cacheDir, "vmlinuz-"+k.Version+".unsigned")
	if _, err := os.Stat(dst); err == nil {
		return dst, nil
	}
	deb, err := aptDownload(ctx, cacheDir, "linux-image-"+k.Version+"-unsigned", debArch, log)
	if err != nil {
		return "", err
	}
	tmp := dst + ".tmp"
	if err := extractFromDeb(ctx, deb, "boot/vmlinuz-"+k.Version, tmp); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", err
	}
	return dst, nil
}
