package e2e

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Scenario r: a node on a network behind a DHCP relay (ISC dhcrelay in
// a router namespace between two bridges) gets its nodes.conf address
// from the daemon on the other bridge and boots to its runtime overlay
// over HTTP through the router. First a client that is not a node gets
// an address of the relayed network's range, with its netmask and
// router: the network is chosen by the relay's address.
func TestRelay(t *testing.T) {
	tc := newTestClusterWith(t, updateInterval, func(o *Options) { o.Relay = true })
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	tc.setupImage(ctx)
	const mac, ip = "52:54:00:e2:e0:31", "198.51.100.20"
	tc.addNodes(ctx, "bb", node{name: "r1", mac: mac, ip: ip, args: []string{"--system-overlays", "e2eprobe", "--gateway", RelayRouterIP}})
	if err := tc.Start(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("client that is not a node: the relayed network's range", func(t *testing.T) {
		got := relayedLease(ctx, t, tc)
		want := map[string]string{"ip": RelayRangeStart, "subnet": Netmask, "router": RelayRouterIP, "serverid": ServerIP}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("udhcpc behind the relay saw (-want +got):\n%s", diff)
		}
	})

	vm := tc.startVM(ctx, VMOptions{Name: "r1", MAC: mac, Firmware: BIOS, Bridge: RelayBridge})
	bootCtx, cancelBoot := context.WithTimeout(ctx, bootTime)
	defer cancelBoot()
	tc.waitBooted(bootCtx, vm, "r1", ip)
	tc.logTimings(map[string]*VM{"r1": vm})
	// The daemon's answers went through the relay: the VM's bridge has
	// no other way to the daemon's DHCP.
	log, err := os.ReadFile(tc.RelayLog())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(log), "Forwarded BOOTREPLY for "+mac) {
		t.Errorf("dhcrelay forwarded no reply to %s:\n%s", mac, log)
	}
}

// relayedLease runs busybox udhcpc once on a veth pair whose other end
// is on RelayBridge (both ends in the cluster's namespace, whose daemon
// serves BridgeName only, so answers come through the relay) and
// returns what its script saw of the lease.
func relayedLease(ctx context.Context, t *testing.T, tc *testCluster) map[string]string {
	t.Helper()
	ns := tc.Netns()
	for _, argv := range [][]string{
		{"ip", "link", "add", "rc0", "type", "veth", "peer", "name", "rc1"},
		{"ip", "link", "set", "rc0", "master", RelayBridge, "up"},
		{"ip", "link", "set", "rc1", "address", "52:54:00:e2:e0:3f", "up"},
	} {
		if err := run(ctx, ns.Command(ctx, argv...).Args...); err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		if err := run(ctx, ns.Command(ctx, "ip", "link", "del", "rc0").Args...); err != nil {
			t.Error(err)
		}
	}()
	dir := t.TempDir()
	script, out := filepath.Join(dir, "script"), filepath.Join(dir, "env")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && env > "+out+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	log, err := ns.Command(cctx, "busybox", "udhcpc", "-i", "rc1", "-n", "-q", "-f", "-t", "10", "-T", "2", "-s", script).CombinedOutput()
	t.Logf("udhcpc: %v\n%s", err, log)
	f, err := os.Open(out)
	if err != nil {
		t.Fatalf("no lease behind the relay: %v", err)
	}
	defer f.Close()
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "ip", "subnet", "router", "serverid":
			got[k] = v
		}
	}
	return got
}
