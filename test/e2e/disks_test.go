package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wwboot/wwboot/internal/testkit/hostprog"
)

// diskProbe reports on the console how many boots left their mark on the
// node's disk root before this one (then adds this one's) and whether
// the swap partition can be turned on.
func diskProbe() []File {
	return []File{{Path: "etc/init.d/S99e2edisk", Mode: 0o755, Content: `#!/bin/sh
# wwboot e2e: what the disks set up at boot hold.
m=/var/lib/e2e-boots
n=$(cat "$m" 2>/dev/null || echo 0)
mkdir -p /var/lib && echo $((n + 1)) >"$m" && sync
swap=$(swapon /dev/vda2 2>&1 && awk '$1 == "/dev/vda2" { print $2 }' /proc/swaps)
echo "E2E-DISK boots-before=$n swap=$swap" >/dev/console
`}}
}

// Scenario w: disks set up at boot by Warewulf's sfdisk, mkfs and mkswap
// overlays, from the node's "disks" and "filesystems" in nodes.conf, with
// the node's root on the partition they make. The node boots in one
// stage from a blank virtio disk: /init loads the disk's driver, runs the
// overlays' scripts in /warewulf/wwinit.d (util-linux's and e2fsprogs'
// programs, copied from the host into the busybox image as a
// distribution's image has them), then mounts the new ext4 partition and
// copies the image onto it. The second boot of the same disk partitions
// it again (wipe_table), but formats nothing (no wipe_filesystem): what
// the first boot wrote on the root is still there.
func TestDiskSetup(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := blankDisk(disk, 256<<20); err != nil {
		t.Fatal(err)
	}
	tc.setupImage(ctx)
	for _, p := range []string{"/usr/sbin/sfdisk", "/usr/sbin/wipefs", "/usr/sbin/mkfs", "/usr/sbin/mkfs.ext4", "/usr/sbin/mkswap"} {
		if err := hostprog.Install(ctx, tc.Rootfs("bb"), p, strings.TrimPrefix(p, "/")); err != nil {
			t.Fatalf("%v (scripts/deps.sh installs fdisk and e2fsprogs)", err)
		}
	}
	if _, err := tc.Wwctl(ctx, "image", "build", "bb", "--uncompressed"); err != nil {
		t.Fatal(err)
	}
	if err := tc.WriteOverlay("e2esync", syncOverlay()...); err != nil {
		t.Fatal(err)
	}
	if err := tc.WriteOverlay("e2edisk", diskProbe()...); err != nil {
		t.Fatal(err)
	}
	const name, mac, ip = "w1", "52:54:00:e2:e0:51", "192.0.2.51"
	tc.addNodes(ctx, "bb", node{name: name, mac: mac, ip: ip,
		args: []string{"--system-overlays", "sfdisk,mkfs,mkswap,e2eprobe,e2edisk,e2esync", "--root", "/dev/vda1"}})
	for _, args := range [][]string{
		{"--diskname", "/dev/vda", "--diskwipe", "--partname", "rootfs", "--partnumber", "1", "--partsize", "160", "--partcreate"},
		{"--diskname", "/dev/vda", "--partname", "swap", "--partnumber", "2", "--partsize", "32", "--partcreate"},
		{"--fsname", "/dev/vda1", "--fsformat", "ext4", "--fspath", "/"},
		{"--fsname", "/dev/vda2", "--fsformat", "swap", "--fspath", "swap"},
	} {
		if _, err := tc.Wwctl(ctx, append([]string{"node", "set", name, "--yes"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// boot boots the disk in a VM named vmName, checks that the console
	// shows the lines of steps in their order, then the node booted
	// with its root on /dev/vda1 and the swap partition usable, and
	// returns the boots recorded on the disk before this one.
	boot := func(vmName string, steps []string) string {
		t.Helper()
		vm := tc.startVM(ctx, VMOptions{Name: vmName, MAC: mac, Firmware: BIOS, Disk: disk})
		bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
		defer cancelBoot()
		bootCtx, cancelDaemon := tc.WithDaemon(bootCtx)
		defer cancelDaemon()
		from := 0
		for _, step := range steps {
			_, _, next, err := vm.Console.WaitFrom(bootCtx, from, regexp.MustCompile(regexp.QuoteMeta(step)))
			if err != nil {
				t.Fatalf("%s: %v", vmName, err)
			}
			from = next
		}
		tc.waitBooted(bootCtx, vm, name, ip)
		_, probe, err := vm.Console.Wait(bootCtx, regexp.MustCompile(`E2E-DISK boots-before=(\d+) swap=(.*)`))
		if err != nil {
			t.Fatal(err)
		}
		if probe[2] != "partition" {
			t.Errorf("%s: swapon /dev/vda2 gave %q, want a swap partition in /proc/swaps", vmName, probe[2])
		}
		if _, m, err := vm.Console.Wait(bootCtx, regexp.MustCompile(`E2E-SYNCED root=(\S+ \S+)`)); err != nil {
			t.Fatal(err)
		} else if m[1] != "/dev/vda1 ext4" {
			t.Errorf("%s: the node's root is %q, want /dev/vda1 ext4", vmName, m[1])
		}
		tc.logTimings(map[string]*VM{name: vm})
		if err := vm.Stop(); err != nil {
			t.Logf("stop %s: %v", vmName, err)
		}
		return probe[1]
	}
	if got := boot(name, []string{
		"wwinit: running wwinit.d/10-sfdisk.sh",
		"warewulf: sfdisk: partitioning /dev/vda",
		"wwinit: running wwinit.d/20-mkfs.sh",
		"warewulf: mkfs: formatting /dev/vda1",
		"wwinit: running wwinit.d/20-mkswap.sh",
		"warewulf: mkswap: formatting /dev/vda2",
		"wwinit: copying the image to /dev/vda1",
	}); got != "0" {
		t.Errorf("first boot: %s boots recorded on the blank disk", got)
	}
	parts, err := partitions(ctx, disk)
	if err != nil {
		t.Fatal(err)
	}
	want := []partition{{Node: disk + "1", Size: 160 << 11, Name: "rootfs"}, {Node: disk + "2", Size: 32 << 11, Name: "swap"}}
	// Where each starts is sfdisk's alignment.
	if diff := cmp.Diff(want, parts, cmpopts.IgnoreFields(partition{}, "Start")); diff != "" {
		t.Errorf("partitions on the disk after the first boot (-want +got):\n%s", diff)
	}

	if got := boot(name+"-again", []string{
		"warewulf: sfdisk: partitioning /dev/vda",
		"warewulf: mkfs: skipping /dev/vda1",
		"warewulf: mkswap: skipping /dev/vda2",
		"wwinit: copying the image to /dev/vda1",
	}); got != "1" {
		t.Errorf("second boot: %s boots recorded on the disk, want the first one's", got)
	}

	checkDiskFiles(ctx, t, disk, 1, map[string]string{
		"/etc/hostname":      name + "\n", // the hostname system overlay
		"/var/lib/e2e-boots": "2\n",       // both boots, on one file system
	})
}

// checkDiskFiles checks that each file of want, on the ext4 file system
// of partition part of the disk image at disk, begins with its value.
// The VM was powered off with the file system mounted: the journal is
// replayed first, as the next mount would.
func checkDiskFiles(ctx context.Context, t *testing.T, disk string, part int, want map[string]string) {
	t.Helper()
	fsImage, err := partitionImage(ctx, disk, part)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(ctx, "e2fsck", "-fy", fsImage).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() < 4 {
		err = nil // 1 and 2: errors corrected (the replay counts)
	}
	if err != nil {
		t.Fatalf("e2fsck -fy %s: %v\n%s", fsImage, err, out)
	}
	t.Logf("e2fsck -fy: %s", strings.TrimSpace(string(out)))
	for path, prefix := range want {
		got, err := debugfsCat(ctx, fsImage, path)
		if err != nil {
			t.Errorf("%v", err)
		} else if !strings.HasPrefix(got, prefix) {
			t.Errorf("%s on the disk is %q, want it to begin with %q", path, got, prefix)
		}
	}
}

// partition is what the tests check of a partition in sfdisk --json.
type partition struct {
	Node  string `json:"node"`
	Start int64  `json:"start"`
	Size  int64  `json:"size"` // in 512-byte sectors
	Name  string `json:"name"`
}

// partitions reads the partition table of the disk image at disk with
// sfdisk.
func partitions(ctx context.Context, disk string) ([]partition, error) {
	out, err := exec.CommandContext(ctx, "sfdisk", "--json", disk).Output()
	if err != nil {
		return nil, fmt.Errorf("sfdisk --json %s: %w", disk, err)
	}
	var table struct {
		PartitionTable struct {
			Partitions []partition `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &table); err != nil {
		return nil, fmt.Errorf("sfdisk --json %s: %w", disk, err)
	}
	return table.PartitionTable.Partitions, nil
}

// partitionImage copies partition n (from 1) of the disk image at disk
// into a sparse file beside it, for e2fsprogs.
func partitionImage(ctx context.Context, disk string, n int) (string, error) {
	parts, err := partitions(ctx, disk)
	if err != nil {
		return "", err
	}
	if n < 1 || n > len(parts) {
		return "", fmt.Errorf("%s has %d partitions, not a partition %d", disk, len(parts), n)
	}
	p := parts[n-1]
	out := fmt.Sprintf("%s.part%d", disk, n)
	cmd := exec.CommandContext(ctx, "dd", "if="+disk, "of="+out, "bs=1M", "iflag=skip_bytes,count_bytes",
		fmt.Sprintf("skip=%d", p.Start*512), fmt.Sprintf("count=%d", p.Size*512), "conv=sparse", "status=none")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("copy partition %d out of %s: %w: %s", n, disk, err, msg)
	}
	return out, nil
}
