package e2e

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// bootTime bounds one VM's boot under TCG on a loaded 2-core host
// (10-40 s measured) with room for the slowest case.
const bootTime = 5 * time.Minute

// updateInterval is the shortened warewulf.update interval of the tests.
const updateInterval = 8

// Scenario a: BIOS with the NIC's iPXE ROM, single stage, compressed
// busybox image; wwclient heartbeats, and a runtime overlay edit reaches
// the node within two update intervals.
func TestBIOSBusybox(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	if err := tc.WriteOverlay("e2emarker", File{Path: "etc/e2e-marker", Mode: 0o644, Content: "first\n"}); err != nil {
		t.Fatal(err)
	}
	const mac, ip = "52:54:00:e2:e0:01", "192.0.2.11"
	tc.addNodes(ctx, "bb", node{name: "n1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe", "--runtime-overlays", "e2emarker"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "n1", MAC: mac, Firmware: BIOS})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, vm, "n1", ip)
	// The image came compressed: iPXE asked for it with compress=gz.
	if !tc.daemonLogHas(regexp.MustCompile(`provision request" stage=IMAGE .*node=n1 .*compress=gz`)) {
		t.Errorf("the daemon's log has no compressed image request of n1")
	}
	if _, _, err := vm.Console.Wait(bootCtx, regexp.MustCompile(`E2E-MARKER first$`)); err != nil {
		t.Fatalf("runtime overlay of the boot: %v", err)
	}
	tc.logTimings(map[string]*VM{"n1": vm})

	// Heartbeats: wwclient keeps fetching the runtime overlay.
	hbCtx, cancelHB := context.WithTimeout(ctx, 4*updateInterval*time.Second)
	defer cancelHB()
	since := time.Now()
	err := tc.Status.Wait(hbCtx, "two wwclient heartbeats of n1", func(events []Event, _ map[string]contract.NodeStatus) bool {
		return len(Heartbeats(events, "n1", since)) >= 2
	})
	if err != nil {
		t.Fatal(err)
	}

	// A runtime overlay edit on the server shows up on the node within
	// two update intervals.
	from := vm.Console.Len()
	edited := time.Now()
	if err := tc.WriteOverlay("e2emarker", File{Path: "etc/e2e-marker", Mode: 0o644, Content: "second\n"}); err != nil {
		t.Fatal(err)
	}
	editCtx, cancelEdit := context.WithTimeout(ctx, 2*updateInterval*time.Second)
	defer cancelEdit()
	if _, _, _, err := vm.Console.WaitFrom(editCtx, from, regexp.MustCompile(`E2E-MARKER second$`)); err != nil {
		t.Fatalf("the edited runtime overlay did not reach n1 within two update intervals (%ds): %v", 2*updateInterval, err)
	}
	t.Logf("runtime overlay edit reached n1 after %.1f s (update interval %d s)", time.Since(edited).Seconds(), updateInterval)
}

// Scenario b: UEFI (OVMF) without a NIC ROM: the firmware's PXE client
// loads snponly.efi over our TFTP, which then boots over HTTP.
func TestUEFIFirmwarePXE(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:02", "192.0.2.12"
	tc.addNodes(ctx, "bb", node{name: "u1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "u1", MAC: mac, Firmware: UEFI, NoROM: true})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	// OVMF's own PXE client, then iPXE, which only TFTP can have brought.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`Start PXE over IPv4`),
		regexp.MustCompile(`iPXE .*Open Source Network Boot Firmware`),
		regexp.MustCompile(`wwboot now booting u1`),
	} {
		if _, _, err := vm.Console.Wait(bootCtx, re); err != nil {
			t.Fatalf("u1: %v", err)
		}
	}
	tc.waitBooted(bootCtx, vm, "u1", ip)
	tc.logTimings(map[string]*VM{"u1": vm})
}

// Scenario u: UEFI HTTP boot. OVMF without a NIC ROM and with its PXE
// clients off asks DHCP as an HTTP client (vendor class HTTPClient,
// architecture 16), gets the URL of iPXE under /efiboot/, loads it over
// HTTP and boots the node with it.
func TestUEFIHTTPBoot(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:21", "192.0.2.21"
	tc.addNodes(ctx, "bb", node{name: "u2", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "u2", MAC: mac, Firmware: UEFI, NoROM: true, HTTPBoot: true})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`Start HTTP Boot over IPv4`),
		regexp.MustCompile(`iPXE .*Open Source Network Boot Firmware`),
		regexp.MustCompile(`wwboot now booting u2`),
	} {
		if _, _, err := vm.Console.Wait(bootCtx, re); err != nil {
			t.Fatalf("u2: %v", err)
		}
	}
	tc.waitBooted(bootCtx, vm, "u2", ip)
	// The firmware asked as an HTTP client and was answered with the URL
	// of iPXE under /efiboot/ (the daemon's log: its status is replaced
	// by the download within a poll), which the daemon then sent (stage
	// EFI): no TFTP server could have, the firmware having no PXE client.
	if !tc.daemonLogHas(regexp.MustCompile(`dhcp reply" hwaddr=` + mac + ` request=REQUEST reply=ACK .*file=http://192\.0\.2\.1:[0-9]+/efiboot/\S*snponly\S*\.efi$`)) {
		t.Errorf("the daemon's log has no acknowledgement to %s with an /efiboot/ iPXE URL", mac)
	}
	efiSent := false
	events := NodeEvents(tc.Status.Events(), "u2")
	for _, e := range events {
		if e.Stage == contract.StageEFIBoot && strings.Contains(e.Sent, "snponly") {
			efiSent = true
		}
	}
	if !efiSent {
		t.Errorf("u2's status never showed iPXE sent from /efiboot/ (stage EFI); its changes:\n%s", EventLines(events))
	}
	tc.logTimings(map[string]*VM{"u2": vm})
}

// Scenario c: a node tagged for uncompressed images boots uncompressed
// while its neighbour boots compressed.
func TestUncompressedNeighbour(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	tc.addNodes(ctx, "bb",
		node{name: "c1", mac: "52:54:00:e2:e0:03", ip: "192.0.2.13", args: []string{"--system-overlays", "e2eprobe"}},
		node{name: "c2", mac: "52:54:00:e2:e0:04", ip: "192.0.2.14", args: []string{"--system-overlays", "e2eprobe", "--tagadd", "IPXEMenuEntry=initrd_nocompress"}},
	)
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c1 := tc.startVM(ctx, VMOptions{Name: "c1", MAC: "52:54:00:e2:e0:03", Firmware: BIOS})
	c2 := tc.startVM(ctx, VMOptions{Name: "c2", MAC: "52:54:00:e2:e0:04", Firmware: BIOS})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, c1, "c1", "192.0.2.13")
	tc.waitBooted(bootCtx, c2, "c2", "192.0.2.14")
	// What iPXE said it loads (console) and what the daemon was asked
	// for (its log).
	if _, _, err := c1.Console.Wait(bootCtx, regexp.MustCompile(`Loading the image\.\.\.`)); err != nil {
		t.Errorf("c1: %v", err)
	}
	if _, _, err := c2.Console.Wait(bootCtx, regexp.MustCompile(`Loading the uncompressed image\.\.\.`)); err != nil {
		t.Errorf("c2: %v", err)
	}
	if !tc.daemonLogHas(regexp.MustCompile(`provision request" stage=IMAGE .*node=c1 .*compress=gz`)) {
		t.Errorf("the daemon's log has no compressed image request of c1")
	}
	if !tc.daemonLogHas(regexp.MustCompile(`provision request" stage=IMAGE .*node=c2 .*compress=""`)) {
		t.Errorf("the daemon's log has no uncompressed image request of c2")
	}
	if tc.daemonLogHas(regexp.MustCompile(`provision request" stage=IMAGE .*node=c2 .*compress=(gz|zstd)`)) {
		t.Errorf("c2 asked for a compressed image")
	}
	tc.logTimings(map[string]*VM{"c1": c1, "c2": c2})
}

// Scenario d: an unknown MAC is discovered into a discoverable node and
// boots as it.
func TestDiscovery(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:05", "192.0.2.15"
	tc.addNodes(ctx, "bb", node{name: "d1", ip: ip, args: []string{"--system-overlays", "e2eprobe", "--discoverable"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "d1", MAC: mac, Firmware: BIOS})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, vm, "d1", ip)
	out, err := tc.Wwctl(ctx, "node", "list", "-j", "d1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.ToLower(out), mac) {
		t.Errorf("nodes.conf does not give d1 the hardware address %s:\n%s", mac, out)
	}
	var merged map[string]any
	if err := json.Unmarshal([]byte(out), &merged); err != nil {
		t.Errorf("wwctl node list -j d1: %v", err)
	}
	if !tc.daemonLogHas(regexp.MustCompile(`discovered node.*node=d1 .*hwaddr=` + mac)) {
		t.Errorf("the daemon's log does not say it discovered d1")
	}
	tc.logTimings(map[string]*VM{"d1": vm})
}

// setupImage makes the busybox image "bb" and the probe overlay.
func (tc *testCluster) setupImage(ctx context.Context) {
	tc.t.Helper()
	if err := tc.BusyboxImage(ctx, "bb", tc.kernel); err != nil {
		tc.t.Fatal(err)
	}
	if err := tc.WriteOverlay("e2eprobe", ProbeOverlay()...); err != nil {
		tc.t.Fatal(err)
	}
}
