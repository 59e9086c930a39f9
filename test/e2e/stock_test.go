package e2e

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// Scenario i: a site laid out as a stock Warewulf 4.7 installation leaves
// it boots a node unchanged: its warewulf.conf (secure off, NFS on, no
// dhcp.mode: the embedded server is the default), the nodes.conf a new
// installation starts with (Warewulf's default profile, every stock
// overlay it lists), the iPXE templates it installs under
// <sysconfdir>/warewulf/ipxe, and no site overlay. The fixture in
// testdata/warewulf-4.7 is written for these tests from Warewulf's
// documented defaults; only the network and the paths are the cluster's.
func TestStockWarewulfSite(t *testing.T) {
	tc := newTestCluster(t, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	fixture := filepath.Join("testdata", "warewulf-4.7")
	conf, err := os.ReadFile(filepath.Join(fixture, "warewulf.conf"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(tc.Conf)
	conf = []byte(strings.NewReplacer("@IPADDR@", ServerIP, "@NETMASK@", Netmask, "@RANGESTART@", "192.0.2.100",
		"@RANGEEND@", "192.0.2.199", "@DIR@", dir).Replace(string(conf)))
	if err := os.WriteFile(tc.Conf, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"default.ipxe", "unconfigured.ipxe", "localdisk.ipxe"} {
		data, err := os.ReadFile(filepath.Join(fixture, "ipxe", name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "etc", "warewulf", "ipxe"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", "warewulf", "ipxe", name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The configuration loads without a warning: every key is known.
	if out, err := tc.Wwctl(ctx, "genconfig", "warewulfconf", "print"); err != nil || !strings.Contains(out, "secure: false") {
		t.Fatalf("genconfig: %v\n%s", err, out)
	}
	if err := tc.BusyboxImage(ctx, "bb", tc.kernel); err != nil {
		t.Fatal(err)
	}
	const mac, ip = "52:54:00:e2:e0:21", "192.0.2.21"
	// As an administrator adds a node to a new installation: the
	// default profile comes from nodes.conf as Warewulf writes it.
	tc.addNodes(ctx, "bb", node{name: "n1", mac: mac, ip: ip})
	profiles, err := tc.Wwctl(ctx, "profile", "list", "-y", "default")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"wicked", "ignition", "warewulf:/home"} {
		if !strings.Contains(profiles, want) {
			t.Errorf("the default profile lacks %q:\n%s", want, profiles)
		}
	}
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	vm := tc.startVM(ctx, VMOptions{Name: "n1", MAC: mac, Firmware: BIOS})
	bootCtx, cancelBoot := tc.WithDaemon(ctx)
	defer cancelBoot()
	bootCtx, cancelTime := context.WithTimeout(bootCtx, bootTime)
	defer cancelTime()
	// The site's default.ipxe ran (its own words), chose initrd on BIOS,
	// and the node reached its init.
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`Warewulf v4 \(iPXE\)`),
		regexp.MustCompile(`Node n1 52:54:00:e2:e0:21 image bb`),
		regexp.MustCompile(`Image, system and runtime overlays \(gzip, initrd\)`),
		InitLine,
	} {
		if _, _, err := vm.Console.Wait(bootCtx, re); err != nil {
			t.Fatalf("n1: %v", err)
		}
	}
	if !tc.daemonLogHas(regexp.MustCompile(`provision request" stage=SYSTEM_OVERLAY .*node=n1 .*compress=gz`)) {
		t.Errorf("the daemon's log has no compressed system overlay request of n1")
	}
	since := time.Now().Add(-time.Minute)
	err = tc.Status.Wait(bootCtx, "n1 fetching its runtime overlay (wwclient)", func(events []Event, _ map[string]contract.NodeStatus) bool {
		return len(Heartbeats(events, "n1", since)) > 0
	})
	if err != nil {
		t.Fatal(err)
	}
	// On the node's console (a root shell): the system overlay named it,
	// wwclient runs, its address is configured, and the stock issue and
	// hosts overlays wrote their files.
	from := vm.Console.Len()
	if err := vm.Type("echo E2E-STOCK $(hostname) $(pidof wwclient || echo none) $(ip -4 -o addr show | grep -c " + ip + "/) $(grep -c n1 /etc/hosts)\n"); err != nil {
		t.Fatal(err)
	}
	_, m, _, err := vm.Console.WaitFrom(bootCtx, from, regexp.MustCompile(`^E2E-STOCK (\S+) (\S+) (\d+) (\d+)`))
	if err != nil {
		t.Fatalf("n1's shell: %v", err)
	}
	if m[1] != "n1" || m[2] == "none" || m[3] != "1" || m[4] == "0" {
		t.Errorf("on n1: host name %q, wwclient %q, %s address(es) %s, %s line(s) naming n1 in /etc/hosts", m[1], m[2], m[3], ip, m[4])
	}
	tc.logTimings(map[string]*VM{"n1": vm})
}
