package e2e

import (
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Scenario l: DHCP and TFTP are an external dnsmasq's, set up by "wwctl
// configure dhcp" and "wwctl configure tftp" (dhcp.mode and tftp.mode
// external); the daemon serves HTTP only. A UEFI VM without the NIC's
// iPXE ROM gets its address and iPXE from dnsmasq (DHCP, then TFTP),
// iPXE gets the daemon's script URL from dnsmasq, and the node boots to
// its runtime overlay.
func TestExternalDnsmasq(t *testing.T) {
	tc := newTestClusterWith(t, updateInterval, func(o *Options) { o.External = true })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:81", "192.0.2.81"
	tc.addNodes(ctx, "bb", node{name: "n1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe"}})
	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"configure", "dhcp"}, "dnsmasq.d/ww4-hosts.conf"},
		{[]string{"configure", "tftp"}, "tftpboot/warewulf/"},
	} {
		out, err := tc.Wwctl(ctx, step.args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, step.want) {
			t.Fatalf("wwctl %s does not say it wrote %s:\n%s", strings.Join(step.args, " "), step.want, out)
		}
	}
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tc.StartDnsmasq(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("dnsmasq's log, last lines:\n%s", tailFile(tc.DnsmasqLog(), 30))
		}
	})
	vm := tc.startVM(ctx, VMOptions{Name: "n1", MAC: mac, Firmware: UEFI, NoROM: true})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, vm, "n1", ip)
	tc.logTimings(map[string]*VM{"n1": vm})

	log, err := os.ReadFile(tc.DnsmasqLog())
	if err != nil {
		t.Fatal(err)
	}
	for what, re := range map[string]*regexp.Regexp{
		"a lease to the firmware and to iPXE": regexp.MustCompile(`DHCPACK\(br0\) 192\.0\.2\.\d+ ` + mac),
		"iPXE over TFTP":                      regexp.MustCompile(`sent \S+/warewulf/\S+\.efi to 192\.0\.2\.\d+`),
		"the daemon's script URL to iPXE":     regexp.MustCompile(`bootfile name: http://192\.0\.2\.1:9873/ipxe/`),
	} {
		if !re.Match(log) {
			t.Errorf("dnsmasq's log does not show %s (%s)", what, re)
		}
	}
	// The daemon answered no DHCP and served no TFTP.
	if tc.daemonLogHas(regexp.MustCompile(`dhcp reply|tftp: |TFTP listening|DHCP \(embedded\)`)) {
		t.Errorf("the daemon served DHCP or TFTP itself:\n%s", tailFile(tc.DaemonLog, 20))
	}
}
