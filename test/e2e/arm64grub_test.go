package e2e

import (
	"compress/gzip"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/cpio"
)

// Scenario n: an arm64 node boots through GRUB. An aarch64 VM (AAVMF,
// virtio-net without option ROM, booting from the network) whose node is
// tagged Boot=grub and whose image is the arm64 busybox image gets
// Debian's signed arm64 shim from DHCP (client architecture 11), shim
// and Debian's signed network GRUB for arm64 (grubnetaa64.efi) by TFTP,
// GRUB's configuration from /grub/ (stage GRUB), and the arm64 kernel,
// the image and the overlays by TFTP (that GRUB has no HTTP); the node
// runs its init and the arm64 wwclient (the system overlay carries
// wwclient.aarch64) fetches its runtime overlay. Then the same node
// with Secure Boot on (AAVMF with Microsoft's keys): shim, GRUB and the
// signed Debian kernel boot it again; with Debian's unsigned build of
// that kernel in the image, the kernel is refused and never runs. AAVMF
// under TCG is slow: only with WWBOOT_E2E_FULL=1 (make e2e-full).
func TestArm64Grub(t *testing.T) {
	needFull(t, "the arm64 GRUB scenario boots an emulated arm64 VM through its firmware",
		aavmfCode, aavmfVars, aavmfSecureCode, aavmfSecureVars)
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	k, bb := tc.arm64Parts(ctx)
	shim, grub, err := Arm64Loaders(ctx, tc.opts.CacheDir, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	// tftp.shim and tftp.grub for arm64 UEFI (00:0B): the unpacked
	// packages' files, by absolute path, as a site with them elsewhere
	// than /usr/lib would write them.
	if err := tc.SetGrubLoaders("00:0B", shim, grub); err != nil {
		t.Fatal(err)
	}
	if err := tc.BusyboxImageFor(ctx, "arm", bb, k); err != nil {
		t.Fatal(err)
	}
	if err := tc.WriteOverlay("e2eprobe", ProbeOverlay()...); err != nil {
		t.Fatal(err)
	}
	arm64Wwclient(t, tc)
	const name, mac, ip = "g1", "52:54:00:e2:a6:11", "192.0.2.61"
	if _, err := tc.Wwctl(ctx, "node", "add", name, "--image", "arm", "--netdev", "eth0",
		"--ipaddr", ip, "--netmask", Netmask, "--hwaddr", mac,
		"-A", "console=ttyAMA0 panic=30", "--system-overlays", "e2eprobe", "--tagadd", "Boot=grub"); err != nil {
		t.Fatal(err)
	}
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// The system overlay the daemon serves the node carries the arm64
	// wwclient (before the VM starts: the boot's timings ignore it).
	if m, err := tc.overlayAgentMachine(ctx, mac); err != nil {
		t.Fatal(err)
	} else if m != elf.EM_AARCH64 {
		t.Fatalf("node %s's system overlay carries a wwclient for %s, want %s", name, m, elf.EM_AARCH64)
	}

	vm := tc.startVM(ctx, VMOptions{Name: name, MAC: mac, Arch: Aarch64, MemoryMB: 1024})
	bootCtx, cancelBoot := context.WithTimeout(ctx, 3*bootTime)
	defer cancelBoot()
	tc.waitGrubBooted(bootCtx, vm, name, mac, ip)
	// AAVMF has no chassis asset tag: GRUB reads none, without an error.
	for _, l := range vm.Console.Lines() {
		if strings.Contains(l.Text, "failed to retrieve the structure field") {
			t.Errorf("%s: GRUB failed to read the asset key: %s", name, l.Text)
		}
	}
	// The chain came from our servers: DHCP named the arm64 shim, TFTP
	// sent it and the arm64 GRUB (the daemon runs with --debug).
	for _, re := range []string{`msg="dhcp reply" hwaddr=` + mac + ` .*file=/warewulf/shimaa64\.efi`,
		`msg="tftp: sent" file=/warewulf/shimaa64\.efi`, `msg="tftp: sent" file=/warewulf/grubaa64\.efi`} {
		if !tc.daemonLogHas(regexp.MustCompile(re)) {
			t.Errorf("the daemon's log has no line matching %s", re)
		}
	}
	tc.logTimings(map[string]*VM{name: vm})
	if err := vm.Stop(); err != nil {
		t.Errorf("stop %s: %v", name, err)
	}

	// Secure Boot: the firmware verifies shim, shim GRUB, GRUB (through
	// shim) the kernel.
	sb := tc.startVM(ctx, VMOptions{Name: name + "-sb", MAC: mac, Arch: Aarch64, MemoryMB: 1024, Firmware: SecureBoot})
	sbCtx, cancelSB := context.WithTimeout(ctx, 3*bootTime)
	defer cancelSB()
	tc.waitGrubBooted(sbCtx, sb, name, mac, ip)
	tc.logTimings(map[string]*VM{name: sb})
	if err := sb.Stop(); err != nil {
		t.Errorf("stop %s with Secure Boot: %v", name, err)
	}

	// The unsigned build of the same kernel in the image: refused.
	unsigned, err := FetchUnsignedKernelFor(ctx, tc.opts.CacheDir, "arm64", k, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tc.Rootfs("arm"), "boot", "vmlinuz-"+k.Version), data, 0o644); err != nil {
		t.Fatal(err)
	}
	refused := tc.startVM(ctx, VMOptions{Name: name + "-unsigned", MAC: mac, Arch: Aarch64, MemoryMB: 1024, Firmware: SecureBoot})
	refuseCtx, cancelRefuse := context.WithTimeout(ctx, 3*bootTime)
	defer cancelRefuse()
	line, _, err := refused.Console.Wait(refuseCtx, secureBootRefused)
	if err != nil {
		t.Fatalf("%s with an unsigned kernel: no refusal on the console: %v", name, err)
	}
	t.Logf("unsigned arm64 kernel refused %.1f s after QEMU started: %s", line.At.Sub(refused.Started).Seconds(), line.Text)
	failCtx, cancelFail := context.WithTimeout(ctx, time.Minute)
	defer cancelFail()
	if _, _, err := refused.Console.Wait(failCtx, regexp.MustCompile(`The boot failed: no kernel`)); err != nil {
		t.Errorf("%s with an unsigned kernel: GRUB did not report the failure: %v", name, err)
	}
	if _, _, err := refused.Console.Wait(failCtx, regexp.MustCompile(`Linux version|`+InitLine.String())); err == nil {
		t.Errorf("%s ran the unsigned kernel with Secure Boot enforced", name)
	}
}

// overlayAgentMachine returns the machine of the wwclient in the system
// overlay the daemon serves the node with hardware address mac.
func (tc *testCluster) overlayAgentMachine(ctx context.Context, mac string) (elf.Machine, error) {
	url := fmt.Sprintf("http://%s/system/%s?compress=gz", netJoin(ServerIP, DaemonPort), mac)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{DialContext: tc.Netns().DialContext}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w", url, err)
	}
	cr := cpio.NewReader(zr)
	for {
		h, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return 0, fmt.Errorf("GET %s: the system overlay has no warewulf/wwclient", url)
		}
		if err != nil {
			return 0, fmt.Errorf("GET %s: %w", url, err)
		}
		if strings.TrimPrefix(h.Name, "/") != "warewulf/wwclient" {
			continue
		}
		data, err := io.ReadAll(cr)
		if err != nil {
			return 0, fmt.Errorf("GET %s: %w", url, err)
		}
		f, err := elf.NewFile(strings.NewReader(string(data)))
		if err != nil {
			return 0, fmt.Errorf("GET %s: warewulf/wwclient: %w", url, err)
		}
		return f.Machine, nil
	}
}
