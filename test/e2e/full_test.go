package e2e

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/provision"
)

// systemdProbe matches SystemdProbeOverlay's line.
var systemdProbe = regexp.MustCompile(`E2E-PROBE multi-user host=(\S+) wwclient=(\S+) addrs=(\S*)`)

// Scenario e: a full Debian image with systemd, made by "wwctl image
// create" (debootstrap); two nodes boot it at once, reach
// multi-user.target with the host name and network configuration of their
// overlays and run wwclient as a service. Minutes of work: only with
// WWBOOT_E2E_FULL=1 (make e2e-full).
func TestDebianSystemd(t *testing.T) {
	if os.Getenv(envFull) != "1" {
		t.Skipf("the Debian scenario takes several minutes: set %s=1 (make e2e-full)", envFull)
	}
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Minute)
	defer cancel()
	start := time.Now()
	if _, err := tc.Wwctl(ctx, "image", "create", "deb", "--from", "debian-bookworm", "--build"); err != nil {
		t.Fatal(err)
	}
	t.Logf("debootstrap and build of the Debian image: %.0f s", time.Since(start).Seconds())
	if err := tc.WriteOverlay("e2esdprobe", SystemdProbeOverlay()...); err != nil {
		t.Fatal(err)
	}
	nodes := []node{
		{name: "s1", mac: "52:54:00:e2:e0:11", ip: "192.0.2.21", args: []string{"--system-overlays", "e2esdprobe"}},
		{name: "s2", mac: "52:54:00:e2:e0:12", ip: "192.0.2.22", args: []string{"--system-overlays", "e2esdprobe"}},
	}
	tc.addNodes(ctx, "deb", nodes...)
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vms := map[string]*VM{}
	for _, n := range nodes {
		vms[n.name] = tc.startVM(ctx, VMOptions{Name: n.name, MAC: n.mac, Firmware: BIOS, MemoryMB: 2048})
	}
	bootCtx, cancelBoot := context.WithTimeout(ctx, 15*time.Minute)
	defer cancelBoot()
	bootCtx, cancelDaemon := tc.WithDaemon(bootCtx)
	defer cancelDaemon()
	for _, n := range nodes {
		_, m, err := vms[n.name].Console.Wait(bootCtx, systemdProbe)
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		if m[1] != n.name {
			t.Errorf("%s: host name %q", n.name, m[1])
		}
		if m[2] != "active" {
			t.Errorf("%s: wwclient.service is %s", n.name, m[2])
		}
		if !strings.Contains(m[3], n.ip+"/24") {
			t.Errorf("%s: addresses %q lack %s/24", n.name, m[3], n.ip)
		}
		initLine, _, err := vms[n.name].Console.Wait(bootCtx, InitLine)
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		err = tc.Status.Wait(bootCtx, n.name+" fetching its runtime overlay (wwclient)", func(events []Event, _ map[string]provision.NodeStatus) bool {
			return len(Heartbeats(events, n.name, initLine.At)) > 0
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	tc.logTimings(vms)
}
