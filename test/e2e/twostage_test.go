package e2e

import (
	"context"
	"regexp"
	"testing"
	"time"
)

// stage1Switch matches stage one's last line.
var stage1Switch = regexp.MustCompile(`wwstage1: switching root to \S+ and running /init, ([0-9.]+) s after stage one started`)

// Scenario f: two-stage boot of the busybox image padded to 64 MB. The
// image is corrupted on the server at first: stage one refuses it and
// retries; it is repaired, and the retry's download is cut mid-way and
// resumes. The runtime overlay comes through stage one from a privileged
// port (warewulf.secure is on). Each artifact is checked against the
// sha256 the daemon sends.
func TestTwoStage(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	if err := tc.PadImage("bb", 60<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.Wwctl(ctx, "image", "build", "bb"); err != nil {
		t.Fatal(err)
	}
	if _, err := tc.HasBootstrap("bb"); err != nil {
		t.Fatal(err)
	}
	const mac, ip = "52:54:00:e2:e0:21", "192.0.2.31"
	tc.addNodes(ctx, "bb", node{name: "t1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe", "--tagadd", "IPXEMenuEntry=twostage"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Stage one asks for the zstd archive; flip a byte in its middle.
	restore, err := CorruptFile(tc.ImageArchive("bb", ".zst"), -(30 << 20))
	if err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "t1", MAC: mac, Firmware: BIOS})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	bootCtx, cancelDaemon := tc.WithDaemon(bootCtx)
	defer cancelDaemon()
	if _, _, err := vm.Console.Wait(bootCtx, regexp.MustCompile(`wwstage1: step "image" failed: .*sha256 mismatch`)); err != nil {
		t.Fatalf("the corrupted image was not refused: %v", err)
	}
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	// The retry's download: cut it after 16 MB.
	if err := tc.Netns().CutTransfer(bootCtx, ip, 16<<20); err != nil {
		t.Fatal(err)
	}
	line, m, err := vm.Console.Wait(bootCtx, stage1Switch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("stage one switched root %s s after it started (%.1f s after QEMU started)", m[1], line.At.Sub(vm.Started).Seconds())
	tc.waitBooted(bootCtx, vm, "t1", ip)
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`wwstage1: retrying in \S+ \(attempt 2 of`),
		regexp.MustCompile(`wwstage1: image: .*sha256 [0-9a-f]+\.\.\. ok, resumed 1 times\)`),
		regexp.MustCompile(`wwstage1: system: \d+ files.*\(sha256 [0-9a-f]+\.\.\. ok\)`),
		regexp.MustCompile(`wwstage1: runtime: \d+ files.*\(sha256 [0-9a-f]+\.\.\. ok\)`),
		regexp.MustCompile(`wwinit: root prepared by stage one`),
	} {
		if _, _, err := vm.Console.Wait(bootCtx, re); err != nil {
			t.Errorf("console: %v", err)
		}
	}
	tc.logTimings(map[string]*VM{"t1": vm})
}
