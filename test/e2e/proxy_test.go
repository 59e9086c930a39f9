package e2e

import (
	"context"
	"os"
	"regexp"
	"testing"
	"time"
)

// Scenario p: ProxyDHCP (dhcp.mode proxy). The site's own DHCP server, ISC
// dhcpd on another host of the network, gives the addresses and no
// boot options; the daemon gives boot clients only what to boot. A BIOS
// VM with the NIC's iPXE ROM and a UEFI VM without it (OVMF's PXE
// client, then iPXE over TFTP) boot at the same time to their runtime
// overlays, each then at its nodes.conf address.
func TestProxyDHCP(t *testing.T) {
	tc := newTestClusterWith(t, updateInterval, func(o *Options) { o.ProxyDHCP = true })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	nodes := []struct {
		name, mac, ip string
		firmware      Firmware
	}{
		{"p1", "52:54:00:e2:e0:31", "192.0.2.31", BIOS},
		{"p2", "52:54:00:e2:e0:32", "192.0.2.32", UEFI},
	}
	for _, n := range nodes {
		tc.addNodes(ctx, "bb", node{name: n.name, mac: n.mac, ip: n.ip, args: []string{"--system-overlays", "e2eprobe"}})
	}
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vms := map[string]*VM{}
	for _, n := range nodes {
		vms[n.name] = tc.startVM(ctx, VMOptions{Name: n.name, MAC: n.mac, Firmware: n.firmware, NoROM: n.firmware == UEFI})
	}
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	for _, n := range nodes {
		tc.waitBooted(bootCtx, vms[n.name], n.name, n.ip)
	}
	tc.logTimings(vms)

	site, err := os.ReadFile(tc.SiteDHCPLog())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		// The site's server leased the firmware (and iPXE) an address of
		// its range ...
		if !regexp.MustCompile(`DHCPACK on 192\.0\.2\.2[0-5][0-9] to ` + n.mac + ` via site0`).Match(site) {
			t.Errorf("%s: the site DHCP server's log has no lease of its range to %s", n.name, n.mac)
		}
		// ... and the daemon answered without an address, with what to
		// boot.
		if !tc.daemonLogHas(regexp.MustCompile(`dhcp reply" hwaddr=` + n.mac + ` .*addr=0\.0\.0\.0 file=\S`)) {
			t.Errorf("%s: the daemon's log has no ProxyDHCP answer to %s", n.name, n.mac)
		}
	}
	// OVMF fetched iPXE from the daemon's TFTP server at the address the
	// site's server leased it.
	if !tc.daemonLogHas(regexp.MustCompile(`tftp: sent" file=/warewulf/\S*snponly\S*\.efi client=192\.0\.2\.2[0-5][0-9]:`)) {
		t.Errorf("the daemon's log shows no iPXE sent by TFTP to an address of the site's range")
	}
	// The daemon gave no address to anyone.
	if tc.daemonLogHas(regexp.MustCompile(`dhcp reply" .*addr=192\.`)) {
		t.Errorf("the daemon gave an address in proxy mode:\n%s", tailFile(tc.DaemonLog, 30))
	}
}
