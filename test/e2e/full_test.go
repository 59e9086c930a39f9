package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// systemdProbe matches SystemdProbeOverlay's line.
var systemdProbe = regexp.MustCompile(`E2E-PROBE multi-user host=(\S+) wwclient=(\S+) addrs=(\S*) memused=(\d+)MB`)

// Scenario g pads the Debian image with paddingMB of incompressible data
// (the firmware, libraries and packed data that make real images large
// compress little) and boots it in lowMemoryMB: single-stage holds the
// compressed image iPXE loaded and the root unpacked from it at once
// (about 1.4 GB), two-stage only the root (about 1.1 GB at
// multi-user.target).
const (
	paddingMB   = 256
	lowMemoryMB = 1280
)

// bootFailed matches how a single-stage boot runs out of memory: iPXE
// cannot hold the image, or the kernel cannot unpack it or panics.
var bootFailed = regexp.MustCompile(`Kernel panic|Out of memory|Initramfs unpacking failed|No space left|Not enough memory|Cannot allocate|The boot failed`)

// Scenarios e and g: a full Debian image with systemd, made by "wwctl
// image create" (debootstrap). Minutes of work: only with
// WWBOOT_E2E_FULL=1 (make e2e-full).
//
// e: two nodes boot it at once, s1 single-stage and s2 two-stage, reach
// multi-user.target with the host name and network configuration of
// their overlays and run wwclient as a service; their timings compare the
// two methods on the same image. s1 also has a blank disk, partitioned
// and formatted before its root is prepared by the sfdisk and mkfs
// overlays (with udev in the image but not yet running, /init loads the
// disk's driver itself) and mounted on /scratch by the systemd.mount
// overlay's unit.
//
// g: with lowMemoryMB of memory, the image padded to be larger than
// that fails to boot single-stage (m1) and boots two-stage (m2).
func TestDebianSystemd(t *testing.T) {
	needFull(t, "the Debian scenarios take several minutes")
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := tc.Wwctl(ctx, "image", "create", "deb", "--from", "debian-bookworm", "--build"); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrap and build of the Debian image: %.0f s; %s", time.Since(start).Seconds(), tc.imageSizes("deb"))
	if _, err := tc.HasBootstrap("deb"); err != nil {
		t.Fatal(err)
	}
	if err := tc.WriteOverlay("e2esdprobe", SystemdProbeOverlay()...); err != nil {
		t.Fatal(err)
	}
	twoStage := []string{"--tagadd", "IPXEMenuEntry=twostage"}
	nodes := []node{
		{name: "s1", mac: "52:54:00:e2:e0:11", ip: "192.0.2.21"},
		{name: "s2", mac: "52:54:00:e2:e0:12", ip: "192.0.2.22", args: twoStage},
		{name: "m1", mac: "52:54:00:e2:e0:13", ip: "192.0.2.23"},
		{name: "m2", mac: "52:54:00:e2:e0:14", ip: "192.0.2.24", args: twoStage},
	}
	for i := range nodes {
		overlays := "e2esdprobe"
		if i == 0 {
			overlays += ",sfdisk,mkfs,systemd.mount,e2escratch"
		}
		nodes[i].args = append(nodes[i].args, "--system-overlays", overlays)
	}
	if err := tc.WriteOverlay("e2escratch", scratchProbe()...); err != nil {
		t.Fatal(err)
	}
	tc.addNodes(ctx, "deb", nodes...)
	scratch := filepath.Join(t.TempDir(), "scratch.img")
	if err := blankDisk(scratch, 64<<20); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--diskname", "/dev/vda", "--diskwipe", "--partname", "scratch", "--partnumber", "1", "--partcreate"},
		{"--fsname", "/dev/vda1", "--fsformat", "ext4", "--fspath", "/scratch"},
	} {
		if _, err := tc.Wwctl(ctx, append([]string{"node", "set", "s1", "--yes"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}

	// e: single-stage and two-stage side by side.
	vms := map[string]*VM{}
	for i, n := range nodes[:2] {
		o := VMOptions{Name: n.name, MAC: n.mac, Firmware: BIOS, MemoryMB: 2048}
		if i == 0 {
			o.Disk = scratch
		}
		vms[n.name] = tc.startVM(ctx, o)
	}
	for _, n := range nodes[:2] {
		tc.waitMultiUser(ctx, vms[n.name], n)
	}
	if _, m, err := vms["s1"].Console.Wait(ctx, regexp.MustCompile(`E2E-SCRATCH (.*)`)); err != nil {
		t.Error(err)
	} else if m[1] != "/dev/vda1 ext4" {
		t.Errorf("s1: /scratch is %q, want /dev/vda1 ext4", m[1])
	}
	tc.logTimings(vms)
	tc.logStage1(vms["s2"], "s2")
	for _, vm := range vms {
		if err := vm.Stop(); err != nil {
			t.Errorf("stop %s: %v", vm.Name, err)
		}
	}

	// g: not enough memory for single-stage, enough for two-stage.
	if err := tc.PadImage("deb", paddingMB<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Wwctl(ctx, "image", "build", "deb"); err != nil {
		t.Fatal(err)
	}
	t.Logf("Debian image padded with %d MB: %s", paddingMB, tc.imageSizes("deb"))
	m1 := tc.startVM(ctx, VMOptions{Name: "m1", MAC: nodes[2].mac, Firmware: BIOS, MemoryMB: lowMemoryMB})
	m2 := tc.startVM(ctx, VMOptions{Name: "m2", MAC: nodes[3].mac, Firmware: BIOS, MemoryMB: lowMemoryMB})
	failCtx, cancelFail := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelFail()
	line, _, err := m1.Console.Wait(failCtx, bootFailed)
	if err != nil {
		t.Fatalf("m1 booting single-stage with %d MB: no sign of failure: %v", lowMemoryMB, err)
	}
	t.Logf("m1, single-stage with %d MB, failed %.1f s after QEMU started: %s", lowMemoryMB, line.At.Sub(m1.Started).Seconds(), line.Text)
	if err := m1.Stop(); err != nil {
		t.Errorf("stop m1: %v", err)
	}
	tc.waitMultiUser(ctx, m2, nodes[3])
	tc.logStage1(m2, "m2")
	if _, _, err := m1.Console.Wait(ctx, systemdProbe); err == nil {
		t.Errorf("m1 reached multi-user.target single-stage with %d MB: pad the image more or lower lowMemoryMB", lowMemoryMB)
	}
	tc.logTimings(map[string]*VM{"m1": m1, "m2": m2})
}

// scratchProbe reports on the console, once the local file systems are
// mounted, the device and type of the file system on /scratch.
func scratchProbe() []File {
	return []File{
		{Path: "etc/systemd/system/e2e-scratch.service", Mode: 0o644, Content: `[Unit]
Description=wwboot e2e: what is mounted on /scratch
After=local-fs.target

[Service]
Type=oneshot
StandardOutput=tty
TTYPath=/dev/console
ExecStart=/bin/sh -c 'echo "E2E-SCRATCH $(findmnt -n -o SOURCE,FSTYPE /scratch | tr -s " ")"'

[Install]
WantedBy=multi-user.target
`},
		{Path: "etc/systemd/system/multi-user.target.wants/e2e-scratch.service", Target: "../e2e-scratch.service"},
	}
}

// waitMultiUser waits until vm, booting node n, reports multi-user.target
// with its host name, address and wwclient, and wwclient has fetched its
// runtime overlay.
func (tc *testCluster) waitMultiUser(ctx context.Context, vm *VM, n node) {
	tc.t.Helper()
	bootCtx, cancelBoot := context.WithTimeout(ctx, 15*time.Minute)
	defer cancelBoot()
	bootCtx, cancelDaemon := tc.WithDaemon(bootCtx)
	defer cancelDaemon()
	probe, m, err := vm.Console.Wait(bootCtx, systemdProbe)
	if err != nil {
		tc.t.Fatalf("%s: %v", n.name, err)
	}
	if m[1] != n.name {
		tc.t.Errorf("%s: host name %q", n.name, m[1])
	}
	if m[2] != "active" {
		tc.t.Errorf("%s: wwclient.service is %s", n.name, m[2])
	}
	if !strings.Contains(m[3], n.ip+"/24") {
		tc.t.Errorf("%s: addresses %q lack %s/24", n.name, m[3], n.ip)
	}
	tc.t.Logf("%s at multi-user.target %.1f s after QEMU started, %s MB of memory in use", n.name, probe.At.Sub(vm.Started).Seconds(), m[4])
	initLine, _, err := vm.Console.Wait(bootCtx, InitLine)
	if err != nil {
		tc.t.Fatalf("%s: %v", n.name, err)
	}
	err = tc.Status.Wait(bootCtx, n.name+" fetching its runtime overlay (wwclient)", func(events []Event, _ map[string]contract.NodeStatus) bool {
		return len(Heartbeats(events, n.name, initLine.At)) > 0
	})
	if err != nil {
		tc.t.Fatal(err)
	}
}

// logStage1 reports when stage one started and switched root.
func (tc *testCluster) logStage1(vm *VM, name string) {
	tc.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	begin, _, err := vm.Console.Wait(ctx, regexp.MustCompile(`wwstage1: stage one of two-stage boot`))
	if err != nil {
		tc.t.Errorf("%s: no stage one on the console: %v", name, err)
		return
	}
	sw, m, err := vm.Console.Wait(ctx, stage1Switch)
	if err != nil {
		tc.t.Errorf("%s: stage one did not switch root: %v", name, err)
		return
	}
	tc.t.Logf("%s: stage one started %.1f s after QEMU started and switched root %s s later (at %.1f s)", name,
		begin.At.Sub(vm.Started).Seconds(), m[1], sw.At.Sub(vm.Started).Seconds())
}

// imageSizes describes an image's root and archives.
func (tc *testCluster) imageSizes(image string) string {
	var parts []string
	for _, ext := range []string{"", ".gz", ".zst"} {
		if st, err := os.Stat(tc.ImageArchive(image, ext)); err == nil {
			parts = append(parts, fmt.Sprintf("%s.img%s %.0f MB", image, ext, float64(st.Size())/1e6))
		}
	}
	return "archives: " + strings.Join(parts, ", ")
}
