package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// secureBootRefused matches how shim's verifier or the firmware refuse an
// unsigned kernel (GRUB: "bad shim signature"; shim: "Verification
// failed"; the firmware: "Access Denied").
var secureBootRefused = regexp.MustCompile(`bad shim signature|Verification failed|Access Denied|Security Violation`)

// Scenario s: Secure Boot enforced (OVMF with Microsoft's keys): the
// node, tagged Boot=grub, boots Debian's signed shim and network GRUB by
// TFTP, GRUB loads its configuration from /grub/ and the image's signed
// Debian kernel over HTTP, to the runtime overlay. Then the same node
// with Debian's unsigned build of that kernel is refused and never runs
// it, which proves Secure Boot is enforced. OVMF's Secure Boot build
// under TCG is slow: only with WWBOOT_E2E_FULL=1 (make e2e-full).
func TestSecureBootGrub(t *testing.T) {
	needFull(t, "the Secure Boot scenario takes minutes under TCG", ovmfSecureCode, ovmfSecureVars, debianShimX64, debianGrubX64)
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:51", "192.0.2.51"
	tc.addNodes(ctx, "bb", node{name: "sb1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe", "--tagadd", "Boot=grub"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "sb1", MAC: mac, Firmware: SecureBoot, NoROM: true})
	bootCtx, cancelBoot := context.WithTimeout(ctx, 2*bootTime)
	defer cancelBoot()
	tc.waitGrubBooted(bootCtx, vm, "sb1", mac, ip)
	// The chain came from our servers: DHCP named shim, TFTP sent shim
	// and GRUB (the daemon runs with --debug, which logs transfers).
	for _, re := range []string{`msg="dhcp reply" hwaddr=` + mac + ` .*file=/warewulf/shim\.efi`,
		`msg="tftp: sent" file=/warewulf/shim\.efi`, `msg="tftp: sent" file=/warewulf/grubx64\.efi`} {
		if !tc.daemonLogHas(regexp.MustCompile(re)) {
			t.Errorf("the daemon's log has no line matching %s", re)
		}
	}
	tc.logTimings(map[string]*VM{"sb1": vm})
	if err := vm.Stop(); err != nil {
		t.Errorf("stop sb1: %v", err)
	}

	// The unsigned build of the same kernel in the image: refused.
	unsigned, err := FetchUnsignedKernel(ctx, tc.opts.CacheDir, tc.kernel, tc.log)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tc.Rootfs("bb"), "boot", "vmlinuz-"+tc.kernel.Version), data, 0o644); err != nil {
		t.Fatal(err)
	}
	vm2 := tc.startVM(ctx, VMOptions{Name: "sb1-unsigned", MAC: mac, Firmware: SecureBoot, NoROM: true})
	refuseCtx, cancelRefuse := context.WithTimeout(ctx, 2*bootTime)
	defer cancelRefuse()
	line, _, err := vm2.Console.Wait(refuseCtx, secureBootRefused)
	if err != nil {
		t.Fatalf("sb1 with an unsigned kernel: no refusal on the console: %v", err)
	}
	t.Logf("unsigned kernel refused %.1f s after QEMU started: %s", line.At.Sub(vm2.Started).Seconds(), line.Text)
	// GRUB then says the boot failed and restarts; the kernel never ran.
	failCtx, cancelFail := context.WithTimeout(ctx, time.Minute)
	defer cancelFail()
	if _, _, err := vm2.Console.Wait(failCtx, regexp.MustCompile(`The boot failed: no kernel`)); err != nil {
		t.Errorf("sb1 with an unsigned kernel: GRUB did not report the failure: %v", err)
	}
	if _, _, err := vm2.Console.Wait(failCtx, regexp.MustCompile(`Linux version|`+InitLine.String())); err == nil {
		t.Errorf("sb1 ran the unsigned kernel with Secure Boot enforced")
	}
}
