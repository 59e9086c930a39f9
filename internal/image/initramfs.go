package image

import (
	"fmt"
	"path"
	"strings"
)

// initramfsPatterns are where distributions put a kernel's initramfs:
// dracut's initramfs-<ver>.img (EL, SUSE), initramfs-tools'
// initrd.img-<ver> (Debian, Ubuntu), and initrd-<ver>.
var initramfsPatterns = []string{"/boot/initramfs-*", "/boot/initrd.img-*", "/boot/initrd-*"}

// FindInitramfs returns the path inside the image at root of the
// initramfs made for kernel version, for two-stage boot with the image's
// own initramfs (Warewulf's dracut method). A name's version must start
// with the kernel's; kdump and rescue images are skipped.
func FindInitramfs(root, version string) (string, error) {
	if version == "" {
		return "", fmt.Errorf("no kernel version to find an initramfs for")
	}
	for _, pattern := range initramfsPatterns {
		prefix := strings.TrimSuffix(path.Base(pattern), "*")
		paths, err := GlobIn(root, pattern)
		if err != nil {
			return "", err
		}
		for _, p := range paths {
			rest := strings.TrimPrefix(path.Base(p), prefix)
			if !strings.HasPrefix(rest, version) || strings.Contains(rest, "kdump") || strings.Contains(rest, "rescue") {
				continue
			}
			// "6.1.0-1-amd64" must not match "6.1.0-10-amd64".
			if tail := rest[len(version):]; tail == "" || tail == ".img" || strings.HasPrefix(tail, ".img") && !isChecksumFile(p) {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("no initramfs for kernel %s in /boot (looked for %s)", version, strings.Join(initramfsPatterns, ", "))
}
