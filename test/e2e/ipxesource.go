package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// EnvIpxeSource names an iPXE source tree (a checkout, or its src
// directory) the custom iPXE scenarios build instead of Debian's ipxe
// source package.
const EnvIpxeSource = "WWBOOT_IPXE_SOURCE"

// IpxeSource returns an iPXE source tree for "wwctl ipxe build":
// $WWBOOT_IPXE_SOURCE, else Debian's ipxe source package (apt-get
// source, which needs the deb-src entries scripts/deps.sh --e2e-full adds),
// unpacked with Debian's patches once into cache/ipxe-source. The tree is
// built in place, so its objects stay cached for the next run.
func IpxeSource(ctx context.Context, cache string, log *slog.Logger) (string, error) {
	if d := os.Getenv(EnvIpxeSource); d != "" {
		return filepath.Abs(d)
	}
	base := filepath.Join(cache, "ipxe-source")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	unlock, err := atomicfile.Lock(ctx, base+".lock")
	if err != nil {
		return "", err
	}
	defer unlock()
	if d, ok := unpackedIpxe(base); ok {
		return d, nil
	}
	tmp := base + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return "", err
	}
	log.Info("fetching Debian's ipxe source package", "dir", base)
	cmd := exec.CommandContext(ctx, "apt-get", "source", "-q", "ipxe")
	cmd.Dir = tmp
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("apt-get source ipxe (deb-src entries: scripts/deps.sh --e2e-full; or set %s to an iPXE checkout): %w: %s",
			EnvIpxeSource, err, strings.TrimSpace(tailLines(string(out), 5)))
	}
	if err := os.RemoveAll(base); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, base); err != nil {
		return "", err
	}
	if d, ok := unpackedIpxe(base); ok {
		return d, nil
	}
	return "", fmt.Errorf("apt-get source ipxe left no ipxe-*/src/Makefile in %s", base)
}

func unpackedIpxe(base string) (string, bool) {
	m, _ := filepath.Glob(filepath.Join(base, "ipxe-*", "src", "Makefile"))
	if len(m) == 0 {
		return "", false
	}
	return filepath.Dir(filepath.Dir(m[0])), true
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
