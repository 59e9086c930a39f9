package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Scenario v: a node whose switch port carries the native VLAN
// untagged and VLAN 1000 tagged (the harness's user-space 802.1Q switch:
// the kernels here have no VLAN filtering) boots over VLAN 1000. The
// daemon serves DHCP on both networks and HTTP on VLAN 1000 only
// (--listen). On the native VLAN the NIC's iPXE gets a custom
// undionly.kpxe by TFTP, which "wwctl ipxe build" made with a script
// that creates VLAN 1000, asks DHCP there and chains the daemon's
// script; the kernel, image and overlays come over VLAN 1000, and wwinit
// puts the node's address on its VLAN device (type vlan), from where
// wwclient fetches its runtime overlay.
func TestVLAN(t *testing.T) {
	ctx, src := needIpxeBuild(t)
	tc := newTestClusterWith(t, updateInterval, func(o *Options) { o.VLAN = true })
	dir := t.TempDir()
	script := filepath.Join(dir, "vlan.ipxe")
	if err := os.WriteFile(script, []byte(vlanScript), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := tc.Wwctl(ctx, "ipxe", "build", "--source", src, "--targets", "bin-x86_64-pcbios/undionly.kpxe",
		"--embed", script, "--destdir", filepath.Join(dir, "ipxe"), "--update-config", "--", "NO_WERROR=1")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("wwctl ipxe build bin-x86_64-pcbios/undionly.kpxe: %.0f s\n%s", time.Since(start).Seconds(), out)
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:61", "203.0.113.61"
	tc.addNodes(ctx, "bb", node{name: "v1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe",
		"--netdev", "eth0.1000", "--type", "vlan", "--nettagadd", "vlan_id=1000"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	sw := tc.VLANSwitch()
	vm := tc.startVM(ctx, VMOptions{Name: "v1", MAC: mac, Firmware: BIOS, Trunk: sw})
	bootCtx, cancelBoot := context.WithTimeout(ctx, 2*bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, vm, "v1", ip)
	tc.logTimings(map[string]*VM{"v1": vm})
	for _, re := range []string{
		// The NIC's iPXE on the native VLAN: the loader by TFTP, as HTTP is not served there.
		`msg="dhcp reply" hwaddr=` + mac + ` .*addr=192\.0\.2\.1\d\d .*file=/warewulf/bin-x86_64-pcbios-undionly\.kpxe`,
		`msg="tftp: sent" file=/warewulf/bin-x86_64-pcbios-undionly\.kpxe`,
		// The custom iPXE on VLAN 1000: its nodes.conf address and the script's URL.
		`msg="dhcp reply" hwaddr=` + mac + ` .*addr=` + regexp.QuoteMeta(ip) + ` .*file="?http://203\.0\.113\.1:9873/ipxe/`,
	} {
		if !tc.daemonLogHas(regexp.MustCompile(re)) {
			t.Errorf("the daemon's log has no line matching %s", re)
		}
	}
	if !consoleHas(vm, regexp.MustCompile(`wwinit: network default: VLAN 1000 on eth0 as eth0\.1000`)) {
		t.Errorf("wwinit did not make the VLAN device")
	}
	in, outFrames := sw.Frames("in", VLANID), sw.Frames("out", VLANID)
	t.Logf("switch: VLAN %d %d frames from the node, %d to it; native %d and %d", VLANID, in, outFrames, sw.Frames("in", 0), sw.Frames("out", 0))
	if in == 0 || outFrames == 0 {
		t.Errorf("no traffic on VLAN %d", VLANID)
	}
	// HTTP is not served on the native VLAN.
	if _, err := tc.Netns().DialContext(ctx, "tcp", netJoin(ServerIP, DaemonPort)); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("HTTP on the native VLAN's address: %v, want connection refused", err)
	}
}

// consoleHas reports whether a line vm's console has shown matches re.
func consoleHas(vm *VM, re *regexp.Regexp) bool {
	for _, l := range vm.Console.Lines() {
		if re.MatchString(l.Text) {
			return true
		}
	}
	return false
}
