package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/test/redfishsim"
)

// Scenario k: the node's BMC speaks Redfish (test/redfishsim over HTTPS
// on loopback, its certificate checked against the CA that
// warewulf.conf's ipmi: redfish ca: names) in front of the VM's QMP
// socket, as sushy-tools does: the VM starts paused, which is off. The
// steps of scenario j but the console (Redfish has no serial over LAN)
// pass.
func TestRedfishPower(t *testing.T) {
	tc := newTestCluster(t, updateInterval)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:71", "192.0.2.71"
	qmp := filepath.Join(t.TempDir(), "n1.qmp")
	machine := redfishsim.NewQMP(qmp)
	b := redfishsim.Start(t, machine, redfishsim.Options{})
	if err := tc.AppendConf("ipmi:\n  redfish ca: " + b.CAFile + "\n"); err != nil {
		t.Fatal(err)
	}
	tc.addNodes(ctx, "bb", node{name: "n1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe",
		"--ipmiaddr", b.Host, "--ipmiport", strconv.Itoa(b.Port), "--ipmiuser", b.User, "--ipmipass", b.Password,
		"--ipmiinterface", "redfish"}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "n1", MAC: mac, Firmware: BIOS, Off: true, QMP: qmp})
	bmcAddr := fmt.Sprintf("%s:%d", b.Host, b.Port)
	power := func(want string, args ...string) {
		t.Helper()
		checkPower(t, func(args ...string) (string, error) { return tc.Wwctl(ctx, args...) }, bmcAddr, want, args...)
	}
	// QEMU makes its QMP socket a moment after it starts.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := machine.Status(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("QEMU's QMP socket: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	power("off", "power", "status", "n1")
	power("ok", "power", "bootdev", "pxe", "n1")
	if got := machine.Boot(); got != (redfishsim.Boot{Target: "Pxe", Enabled: "Once"}) {
		t.Errorf("boot override after power bootdev pxe: %+v, want Pxe once", got)
	}
	power("ok", "power", "on", "n1")
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, vm, "n1", ip)
	power("on", "power", "status", "n1")
	tc.logTimings(map[string]*VM{"n1": vm})
	if boots := machine.Boots(); len(boots) != 1 || boots[0] != (redfishsim.Boot{Target: "Pxe", Enabled: "Once"}) {
		t.Errorf("boots the BMC saw: %+v, want one, with the pxe override", boots)
	}

	out, err := tc.Wwctl(ctx, "node", "sensors", "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "CPU Temp") || !strings.Contains(out, "45") {
		t.Errorf("wwctl node sensors n1 lacks the BMC's CPU Temp at 45:\n%s", out)
	}

	power("ok", "power", "off", "n1")
	power("off", "power", "status", "n1")
	if st, err := machine.Status(ctx); err != nil || st == "running" {
		t.Errorf("QEMU after power off: %q, %v; want it stopped", st, err)
	}
}
