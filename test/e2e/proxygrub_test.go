package e2e

import (
	"context"
	"regexp"
	"testing"
	"time"
)

// Scenario q: GRUB through ProxyDHCP. As in scenario p the site's own
// DHCP server gives the address and the daemon only what to boot; the
// UEFI node is tagged Boot=grub, so the daemon names shim, which loads
// GRUB by TFTP from the server of the ProxyDHCP answer. Debian's GRUB
// then takes its server from the site's acknowledgement, not from the
// ProxyDHCP answer: the site's server names the daemon as next-server,
// as the README says a site must, and GRUB loads its configuration from
// /grub/ and the node's kernel, image and overlays. Debian's signed shim
// and network GRUB: only with WWBOOT_E2E_FULL=1 (scripts/deps.sh
// --e2e-full installs them).
func TestProxyDHCPGrub(t *testing.T) {
	needFull(t, "the GRUB through ProxyDHCP scenario needs Debian's signed shim and GRUB", debianShimX64, debianGrubX64)
	tc := newTestClusterWith(t, updateInterval, func(o *Options) { o.ProxyDHCP, o.SiteNextServer = true, true })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:33", "192.0.2.33"
	tc.addNodes(ctx, "bb", node{name: "q1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe", "--tagadd", "Boot=grub"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "q1", MAC: mac, Firmware: UEFI, NoROM: true})
	bootCtx, cancelBoot := context.WithTimeout(ctx, 2*bootTime)
	defer cancelBoot()
	tc.waitGrubBooted(bootCtx, vm, "q1", mac, ip)
	tc.logTimings(map[string]*VM{"q1": vm})
	for what, re := range map[string]string{
		"a ProxyDHCP answer naming shim":                                 `dhcp reply" hwaddr=` + mac + ` .*addr=0\.0\.0\.0 file=/warewulf/shim\.efi`,
		"shim and GRUB by TFTP to the site's leased address":             `tftp: sent" file=/warewulf/grubx64\.efi client=192\.0\.2\.2[0-5][0-9]:`,
		"the warning that the site's server must name it as next-server": `level=WARN msg="a node boots GRUB through ProxyDHCP.* hwaddr=` + mac,
	} {
		if !tc.daemonLogHas(regexp.MustCompile(re)) {
			t.Errorf("the daemon's log shows no %s (%s)", what, re)
		}
	}
}
