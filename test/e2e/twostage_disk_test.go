package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// syncOverlay makes a busybox node write its disk out (sync) and say so
// with the device and type of its root, so that the disk image holds the
// tree when the test powers the VM off.
func syncOverlay() []File {
	return []File{{Path: "etc/init.d/S99e2esync", Mode: 0o755, Content: `#!/bin/sh
# wwboot e2e: flush the disk root before the test powers the VM off.
sync
echo "E2E-SYNCED root=$(awk '$2 == "/" { r = $1 " " $3 } END { print r }' /proc/mounts)" >/dev/console
`}}
}

// Scenario h: two-stage boot with a static address and a disk root.
// Stage one configures the boot interface from the kernel's
// ip=CLIENT::GW:NETMASK instead of DHCP, finds the node's root
// /dev/disk/by-partlabel/rootfs (the form Warewulf's disk layouts use)
// without udev, by reading the virtio disk's GPT, and extracts the image
// and the overlays onto its ext4 file system instead of a tmpfs. Once
// the VM is off, the disk image holds the tree.
func TestTwoStageStaticDisk(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := makeDisk(ctx, disk, 256<<20); err != nil {
		t.Fatal(err)
	}
	tc.setupImage(ctx)
	if _, err := tc.HasBootstrap("bb"); err != nil {
		t.Fatal(err)
	}
	if err := tc.WriteOverlay("e2esync", syncOverlay()...); err != nil {
		t.Fatal(err)
	}
	const name, mac, ip = "h1", "52:54:00:e2:e0:41", "192.0.2.41"
	tc.addNodes(ctx, "bb", node{name: name, mac: mac, ip: ip,
		args:       []string{"--system-overlays", "e2eprobe,e2esync", "--tagadd", "IPXEMenuEntry=twostage", "--root", rootName},
		kernelArgs: "ip=" + ip + "::" + ServerIP + ":" + Netmask,
	})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: name, MAC: mac, Firmware: BIOS, Disk: disk})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	bootCtx, cancelDaemon := tc.WithDaemon(bootCtx)
	defer cancelDaemon()

	started, m, err := vm.Console.Wait(bootCtx, regexp.MustCompile(`wwstage1: stage one of two-stage boot: .* root (\S+)`))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != rootName {
		t.Errorf("stage one's root is %q, want %s", m[1], rootName)
	}
	_, m, err = vm.Console.Wait(bootCtx, regexp.MustCompile(`wwstage1: network: (.*) \([0-9.]+ s\)`))
	if err != nil {
		t.Fatal(err)
	}
	// A lease would end in "(DHCP)"; the static address has no suffix.
	if want := ip + "/24 via " + ServerIP; !strings.HasSuffix(m[1], want) {
		t.Errorf("stage one configured %q, want the static %q", m[1], want)
	}
	// The switch, or the first failure (a missing driver shows here).
	line, m, err := vm.Console.Wait(bootCtx, regexp.MustCompile(`wwstage1: (?:switching root to `+regexp.QuoteMeta(rootName)+` and running /init, ([0-9.]+) s after stage one started|(step .* failed: .*))`))
	if err != nil {
		t.Fatal(err)
	}
	if m[2] != "" {
		t.Fatalf("stage one: %s", m[2])
	}
	t.Logf("stage one switched root %s s after it started (%.1f s after QEMU started)", m[1], line.At.Sub(vm.Started).Seconds())
	tc.waitBooted(bootCtx, vm, name, ip)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`wwstage1: image: \d+ files.*\(sha256 [0-9a-f]+\.\.\. ok\)`),
		regexp.MustCompile(`wwinit: root prepared by stage one`),
	} {
		if _, _, err := vm.Console.Wait(bootCtx, re); err != nil {
			t.Errorf("console: %v", err)
		}
	}
	if _, m, err = vm.Console.Wait(bootCtx, regexp.MustCompile(`E2E-SYNCED root=(\S+ \S+)`)); err != nil {
		t.Fatal(err)
	} else if m[1] != "/dev/vda1 ext4" {
		t.Errorf("the node's root is %q, want /dev/vda1 ext4", m[1])
	}
	// Only iPXE asked for a lease: the daemon recorded no DHCP after
	// stage one started.
	for _, e := range NodeEvents(tc.Status.Events(), name) {
		if e.Stage == StageDHCP && e.At.After(started.At) {
			t.Errorf("DHCP of %s at %s, after stage one started (%s)", name, e.At.Format(time.TimeOnly), started.At.Format(time.TimeOnly))
		}
	}
	tc.logTimings(map[string]*VM{name: vm})

	if err := vm.Stop(); err != nil {
		t.Logf("stop %s: %v", name, err)
	}
	checkDiskFiles(ctx, t, disk, 1, map[string]string{
		"/etc/hostname":   name + "\n",      // the hostname system overlay
		"/etc/os-release": "NAME=BusyBox\n", // the image
	})
}

// rootName is scenario h's root: the GPT partition named rootfs.
const rootName = "/dev/disk/by-partlabel/rootfs"

// partStart is where makeDisk's partition begins.
const partStart = 1 << 20

// blankDisk makes a disk image of size bytes at p: a sparse file of
// zeros, with no partition table.
func blankDisk(p string, size int64) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// makeDisk makes a sparse file of size bytes with a GPT and one
// partition named rootfs, holding an empty ext4 file system.
func makeDisk(ctx context.Context, p string, size int64) error {
	if err := blankDisk(p, size); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "sgdisk", "-o", "-n", fmt.Sprintf("1:%d:0", partStart/512), "-c", "1:rootfs", p).CombinedOutput(); err != nil {
		return fmt.Errorf("sgdisk %s: %w: %s (scripts/deps.sh installs gdisk)", p, err, out)
	}
	// The partition ends 33 sectors before the disk (the backup GPT);
	// the file system fits in whole MiB below that.
	fsSize := fmt.Sprintf("%dk", (size-partStart-(1<<20))>>10)
	if out, err := exec.CommandContext(ctx, "mkfs.ext4", "-F", "-q", "-E", fmt.Sprintf("offset=%d", partStart), p, fsSize).CombinedOutput(); err != nil {
		return fmt.Errorf("mkfs.ext4 %s: %w: %s (scripts/deps.sh --e2e installs e2fsprogs)", p, err, out)
	}
	return nil
}

// debugfsCat reads a file of the ext4 file system in the image at disk.
func debugfsCat(ctx context.Context, disk, path string) (string, error) {
	cmd := exec.CommandContext(ctx, "debugfs", "-R", "cat "+path, disk)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err == nil && len(out) == 0 {
		// debugfs says what it could not read, and exits 0.
		err = errors.New("no output")
	}
	if err != nil {
		return "", fmt.Errorf("debugfs cat %s: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
