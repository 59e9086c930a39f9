package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/cpio"
)

// arm64Done matches the last line of arm64Init.
var arm64Done = regexp.MustCompile(`E2E-ARM64 done machine=(\S+) links=(\S*) wwclient-usage=(\S+)`)

// arm64Init is the init of the arm64 pieces' check: it reports the
// machine, the network links (virtio-net on PCI, through the image's
// modules) and whether the arm64 wwclient runs (its usage), then powers
// off.
const arm64Init = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
modprobe virtio_pci 2>/dev/null
modprobe virtio_net 2>/dev/null
usage=no
/warewulf/wwclient -h 2>&1 | grep -q '^Usage: wwclient' && usage=yes
/warewulf/wwclient -h 2>&1 | head -n 1
echo "E2E-ARM64 done machine=$(uname -m) links=$(ls /sys/class/net | tr '\n' ,) wwclient-usage=$usage"
poweroff -f
`

// The arm64 node pieces: Debian's arm64 kernel and busybox-static,
// fetched with apt-get download, make an arm64 busybox image whose
// architecture the build reads (aarch64), for which a node's overlay
// build takes wwclient.aarch64; the kernel boots the image directly
// (-kernel/-initrd, no firmware) in qemu-system-aarch64 under TCG with a
// virtio-net NIC on the cluster's bridge, and the arm64 wwclient runs
// there. The full boot of an arm64 node through GRUB is built on these.
// About a minute under TCG on a loaded host: only with WWBOOT_E2E_FULL=1.
func TestArm64Pieces(t *testing.T) {
	needFull(t, "the arm64 pieces boot an emulated arm64 VM")
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	k, bb := tc.arm64Parts(ctx)
	if err := tc.BusyboxImageFor(ctx, "arm", bb, k); err != nil {
		t.Fatal(err)
	}
	show, err := tc.Wwctl(ctx, "image", "show", "--all", "arm")
	if err != nil {
		t.Fatal(err)
	}
	if s := strings.Join(strings.Fields(show), " "); !strings.Contains(s, "Arch aarch64 ") || !strings.Contains(s, "("+k.Version+")") {
		t.Errorf("image show --all: %s, want arm as aarch64 with kernel %s", show, k.Version)
	}
	// A node of the image gets wwclient.aarch64 in its system overlay:
	// without it, its overlay build fails.
	wwclient := arm64Wwclient(t, tc)
	if _, err := tc.Wwctl(ctx, "node", "add", "a1", "--image", "arm", "--ipaddr", "10.99.0.70", "--hwaddr", "52:54:00:e2:a6:01"); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Wwctl(ctx, "overlay", "build", "a1"); err != nil {
		t.Fatal(err)
	}

	// The initrd: the built image, then the agent and the check's init.
	initrd := filepath.Join(t.TempDir(), "initrd")
	image, err := os.ReadFile(tc.ImageArchive("arm", ".gz"))
	if err != nil {
		t.Fatal(err)
	}
	agent, err := os.ReadFile(wwclient)
	if err != nil {
		t.Fatal(err)
	}
	var extra bytes.Buffer
	zw := gzip.NewWriter(&extra)
	cw := cpio.NewWriter(zw)
	for _, err := range []error{
		cw.AddDir("warewulf", 0o755, 0, 0),
		cw.AddFile("warewulf/wwclient", 0o755, 0, 0, agent),
		cw.AddFile("e2e-init", 0o755, 0, 0, []byte(arm64Init)),
		cw.Close(), zw.Close(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(initrd, append(image, extra.Bytes()...), 0o644); err != nil {
		t.Fatal(err)
	}

	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "a1", MAC: "52:54:00:e2:a6:01", Arch: Aarch64, MemoryMB: 512,
		Kernel: k.Vmlinuz(), Initrd: initrd, Append: "console=ttyAMA0 rdinit=/e2e-init panic=5"})
	line, m, err := vm.Console.Wait(ctx, arm64Done)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("arm64 VM (TCG): from QEMU's start to the arm64 wwclient's usage in %.1f s", line.At.Sub(vm.Started).Seconds())
	if m[1] != "aarch64" || m[3] != "yes" || !strings.Contains(m[2], "eth0") {
		t.Errorf("arm64 VM reported machine=%s links=%s wwclient usage=%s; want aarch64, eth0 and yes", m[1], m[2], m[3])
	}
}

// arm64Wwclient returns the arm64 wwclient next to the cluster's wwctl,
// where the overlay build looks for wwclient.aarch64: "make build"'s,
// else built for the test (when the binaries were too).
func arm64Wwclient(t *testing.T, tc *testCluster) string {
	t.Helper()
	wwclient := filepath.Join(tc.BinDir(), "wwclient.aarch64")
	if _, err := os.Stat(wwclient); err == nil {
		return wwclient
	}
	if os.Getenv(envBin) != "" {
		t.Fatalf("%s has no wwclient.aarch64: run make build", tc.BinDir())
	}
	// The binaries were built for the test, in a directory of its own.
	built := filepath.Join(t.TempDir(), "wwclient.aarch64")
	cmd := exec.Command("go", "build", "-ldflags", "-s -w", "-o", built, "./cmd/wwclient")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build wwclient for arm64: %v\n%s", err, out)
	}
	if err := os.Symlink(built, wwclient); err != nil {
		t.Fatal(err)
	}
	return wwclient
}

// arm64Parts fetches Debian's arm64 kernel and busybox-static into the
// cluster's cache (apt-get download, never installed) and returns the
// kernel and the path of busybox.
func (tc *testCluster) arm64Parts(ctx context.Context) (*Kernel, string) {
	tc.t.Helper()
	k, err := FetchKernelFor(ctx, tc.opts.CacheDir, "arm64", tc.log)
	if err != nil {
		tc.t.Fatal(err)
	}
	bb, err := FetchBusybox(ctx, tc.opts.CacheDir, "arm64", tc.log)
	if err != nil {
		tc.t.Fatal(err)
	}
	return k, bb
}
