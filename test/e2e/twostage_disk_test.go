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

	"github.com/wwboot/wwboot/internal/testkit/hostprog"
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

// Scenario h: two-stage boot with a static address and a disk root that
// stage one partitions and formats. Stage one configures the boot
// interface from the kernel's ip=CLIENT::GW:NETMASK instead of DHCP,
// fetches the system overlay first and runs its wwinit.d scripts (the
// sfdisk and mkfs overlays', with the programs the bootstrap took from
// the image and its own udevadm making /dev/disk/by-partlabel/rootfs) on
// the blank virtio disk, then finds the node's root
// /dev/disk/by-partlabel/rootfs (the form Warewulf's disk layouts use)
// without udev, by reading the disk's new GPT, and extracts the image and
// the overlays onto its ext4 file system. /init does not run the scripts
// again. Once the VM is off, the disk image holds the tree.
func TestTwoStageStaticDisk(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := blankDisk(disk, 256<<20); err != nil {
		t.Fatal(err)
	}
	tc.setupImage(ctx)
	for _, p := range []string{"/usr/sbin/sfdisk", "/usr/sbin/wipefs", "/usr/sbin/mkfs", "/usr/sbin/mkfs.ext4"} {
		if err := hostprog.Install(ctx, tc.Rootfs("bb"), p, strings.TrimPrefix(p, "/")); err != nil {
			t.Fatalf("%v (scripts/deps.sh installs fdisk and e2fsprogs)", err)
		}
	}
	out, err := tc.Wwctl(ctx, "image", "build", "bb", "--uncompressed")
	if err != nil {
		t.Fatal(err)
	}
	// The image's programs, with their libraries, in the new bootstrap.
	if !regexp.MustCompile(`programs sh sfdisk blockdev wipefs mkfs .*mkfs\.ext4`).MatchString(out) {
		t.Fatalf("the bootstrap lacks the image's disk programs:\n%s", out)
	}
	if _, err := tc.HasBootstrap("bb"); err != nil {
		t.Fatal(err)
	}
	if err := tc.WriteOverlay("e2esync", syncOverlay()...); err != nil {
		t.Fatal(err)
	}
	const name, mac, ip = "h1", "52:54:00:e2:e0:41", "192.0.2.41"
	tc.addNodes(ctx, "bb", node{name: name, mac: mac, ip: ip,
		args:       []string{"--system-overlays", "sfdisk,mkfs,e2eprobe,e2esync", "--tagadd", "IPXEMenuEntry=twostage", "--root", rootName},
		kernelArgs: "ip=" + ip + "::" + ServerIP + ":" + Netmask,
	})
	for _, args := range [][]string{
		{"--diskname", "/dev/vda", "--diskwipe", "--partname", "rootfs", "--partnumber", "1", "--partcreate"},
		{"--fsname", rootName, "--fsformat", "ext4", "--fspath", "/"},
	} {
		if _, err := tc.Wwctl(ctx, append([]string{"node", "set", name, "--yes"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
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
	// The disk set up before the root, in this order.
	from := 0
	for _, step := range []string{
		"wwstage1: running the system overlay's wwinit.d scripts (",
		"warewulf: sfdisk: partitioning /dev/vda",
		"warewulf: mkfs: formatting " + rootName,
		"wwstage1: wwinit.d scripts done",
	} {
		_, _, next, err := vm.Console.WaitFrom(bootCtx, from, regexp.MustCompile(regexp.QuoteMeta(step)))
		if err != nil {
			t.Fatal(err)
		}
		from = next
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
		regexp.MustCompile(`wwinit: wwinit.d scripts run by stage one`),
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
	parts, err := partitions(ctx, disk)
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) != 1 || parts[0].Name != "rootfs" {
		t.Errorf("partitions on the disk: %+v, want one named rootfs", parts)
	}
	checkDiskFiles(ctx, t, disk, 1, map[string]string{
		"/etc/hostname":   name + "\n",      // the hostname system overlay
		"/etc/os-release": "NAME=BusyBox\n", // the image
	})
}

// rootName is scenario h's root: the GPT partition named rootfs.
const rootName = "/dev/disk/by-partlabel/rootfs"

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
