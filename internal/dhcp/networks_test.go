package dhcp

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"

	"github.com/wwboot/wwboot/internal/testkit/nettest"
)

// ip runs ip(8) with args or fails the test.
func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// severalNetworks builds, around p, a VLAN 1000 on the veth pair
// (srv0.1000, 10.215.0.1/24, and cli0.1000; a second veth pair where
// the kernel has no VLANs) and, with the client
// namespace as a router, a leaf namespace behind it (10.214.0.0/24)
// whose requests ISC dhcrelay in the client namespace relays to the
// server. It returns the client ends, on the VLAN and on the leaf, and
// what starts the relay.
func severalNetworks(t *testing.T, p nettest.Pair) (vlan, leaf nettest.Pair, startRelay func()) {
	t.Helper()
	relay, err := exec.LookPath("dhcrelay")
	if err != nil {
		t.Fatalf("dhcrelay (Debian's isc-dhcp-relay, scripts/deps.sh installs it): %v", err)
	}
	leafNS := p.ClientNS + "-leaf"
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", leafNS).Run() })
	srvVLAN, cliVLAN := p.ServerIf+".1000", p.ClientIf+".1000"
	if exec.Command("ip", "link", "add", "link", p.ServerIf, "name", srvVLAN, "type", "vlan", "id", "1000").Run() == nil {
		ip(t, "-n", p.ClientNS, "link", "add", "link", p.ClientIf, "name", cliVLAN, "type", "vlan", "id", "1000")
	} else {
		// A kernel without 802.1Q (8021q) has no VLAN interfaces: a
		// second veth pair of the same names is a second network too.
		t.Logf("no VLAN interfaces in this kernel: %s and %s are a veth pair", srvVLAN, cliVLAN)
		ip(t, "link", "add", srvVLAN, "type", "veth", "peer", "name", cliVLAN, "netns", p.ClientNS)
	}
	ip(t, "addr", "add", "10.215.0.1/24", "dev", srvVLAN)
	ip(t, "link", "set", srvVLAN, "up")
	ip(t, "-n", p.ClientNS, "link", "set", cliVLAN, "up")

	ip(t, "netns", "add", leafNS)
	ip(t, "-n", p.ClientNS, "addr", "add", "10.213.0.2/24", "dev", p.ClientIf)
	ip(t, "link", "add", "rly0", "netns", p.ClientNS, "type", "veth", "peer", "name", "leaf0", "netns", leafNS)
	ip(t, "-n", p.ClientNS, "addr", "add", "10.214.0.1/24", "dev", "rly0")
	ip(t, "-n", p.ClientNS, "link", "set", "rly0", "up")
	ip(t, "-n", leafNS, "link", "set", "leaf0", "up")
	ip(t, "-n", leafNS, "link", "set", "lo", "up")
	ip(t, "route", "add", "10.214.0.0/24", "via", "10.213.0.2")

	vlan, leaf = p, p
	vlan.ClientIf = cliVLAN
	leaf.ClientNS, leaf.ClientIf = leafNS, "leaf0"
	startRelay = func() {
		t.Helper()
		runRelay(t, relay, p)
	}
	return vlan, leaf, startRelay
}

// runRelay runs dhcrelay in p's client namespace, from rly0 to p's
// server, until the test ends. dhcrelay forgets an interface that goes
// down (as setMAC does): it starts once the client interface's last
// change is done.
func runRelay(t *testing.T, relay string, p nettest.Pair) {
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", p.ClientNS, relay, "-d", "-4",
		"-pf", filepath.Join(dir, "dhcrelay.pid"), "-iu", p.ClientIf, "-id", "rly0", p.ServerIP.Addr().String())
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		t.Logf("dhcrelay:\n%s", log.String())
	})
}

// TestSeveralNetworks runs busybox udhcpc on a VLAN interface and
// behind ISC's relay agent: each client gets the address, netmask,
// router and server address of the network it asks from.
func TestSeveralNetworks(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		vlan, leaf, startRelay := severalNetworks(t, p)
		const (
			vlanMAC    = "52:54:00:00:10:01"
			relayMAC   = "52:54:00:00:20:01"
			offsideMAC = "52:54:00:00:30:01"
			roamMAC    = "52:54:00:aa:20:01"
		)
		nodes := newFakeNodes(
			node("n1", nodeMAC, "10.213.0.50", "10.213.0.254"),
			node("v1", vlanMAC, "10.215.0.50", ""),
			node("r1", relayMAC, "10.214.0.50", ""),
			node("o1", offsideMAC, "10.213.0.60", ""),
		)
		srv, err := New(Options{
			Mode: embedded, Interfaces: []string{p.ServerIf, p.ServerIf + ".1000"}, HTTPPort: 9873,
			RangeStart: netip.MustParseAddr("10.213.0.100"), RangeEnd: netip.MustParseAddr("10.213.0.110"),
			Networks: []Network{
				{Prefix: netip.MustParsePrefix("10.215.0.0/24"), Gateway: netip.MustParseAddr("10.215.0.254"), Interface: p.ServerIf + ".1000"},
				{Prefix: netip.MustParsePrefix("10.214.0.0/24"), Gateway: netip.MustParseAddr("10.214.0.1"),
					RangeStart: netip.MustParseAddr("10.214.0.100"), RangeEnd: netip.MustParseAddr("10.214.0.110")},
			},
			LeaseFile: filepath.Join(t.TempDir(), "dhcp.leases"), BootFiles: testBootFiles, Nodes: nodes, Log: testLogger(t),
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		}()

		pxe := []string{"-V", "PXEClient:Arch:00000", "-x", "0x5d:0000"}
		keys := []string{"ip", "subnet", "router", "hostname", "serverid", "siaddr", "boot_file"}
		tests := []struct {
			name   string
			client nettest.Pair
			mac    string
			args   []string
			want   map[string]string // nil: no lease
		}{
			{"node on the main network", p, nodeMAC, pxe, map[string]string{"ip": "10.213.0.50", "subnet": "255.255.255.0",
				"router": "10.213.0.254", "hostname": "n1", "serverid": "10.213.0.1", "siaddr": "10.213.0.1", "boot_file": "/warewulf/undionly.kpxe"}},
			{"node on the VLAN: the VLAN's router and server address", vlan, vlanMAC, pxe, map[string]string{"ip": "10.215.0.50",
				"subnet": "255.255.255.0", "router": "10.215.0.254", "hostname": "v1", "serverid": "10.215.0.1", "siaddr": "10.215.0.1",
				"boot_file": "/warewulf/undionly.kpxe"}},
			{"client on the main network: the main range", p, roamMAC, nil, map[string]string{"ip": "10.213.0.100",
				"subnet": "255.255.255.0", "router": "", "hostname": "", "serverid": "10.213.0.1", "siaddr": "", "boot_file": ""}},
			{"node off its network, VLAN without range: no answer", vlan, offsideMAC, nil, nil},
			{"node behind the relay", leaf, relayMAC, pxe, map[string]string{"ip": "10.214.0.50", "subnet": "255.255.255.0",
				"router": "10.214.0.1", "hostname": "r1", "serverid": "10.213.0.1", "siaddr": "10.213.0.1", "boot_file": "/warewulf/undionly.kpxe"}},
			{"iPXE behind the relay: script URL on the server address it reaches", leaf, relayMAC, []string{"-x", "0x4d:69505845"},
				map[string]string{"ip": "10.214.0.50", "subnet": "255.255.255.0", "router": "10.214.0.1", "hostname": "r1",
					"serverid": "10.213.0.1", "siaddr": "10.213.0.1",
					"boot_file": "http://10.213.0.1:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}"}},
			{"the same client behind the relay: the relayed network's range", leaf, roamMAC, nil, map[string]string{"ip": "10.214.0.100",
				"subnet": "255.255.255.0", "router": "10.214.0.1", "hostname": "", "serverid": "10.213.0.1", "siaddr": "", "boot_file": ""}},
			{"node off its network, relayed network with a range: a range address", leaf, offsideMAC, nil, map[string]string{"ip": "10.214.0.101",
				"subnet": "255.255.255.0", "router": "10.214.0.1", "hostname": "o1", "serverid": "10.213.0.1", "siaddr": "", "boot_file": ""}},
		}
		relaying := false
		for _, tc := range tests {
			if tc.client == leaf && !relaying {
				startRelay()
				relaying = true
			}
			t.Run(tc.name, func(t *testing.T) {
				setMAC(t, tc.client, tc.mac)
				env := udhcpc(t, tc.client, tc.args...)
				var got map[string]string
				if env != nil {
					got = map[string]string{}
					for _, k := range keys {
						got[k] = env[k]
					}
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("udhcpc saw (-want +got):\n%s", diff)
				}
			})
		}
		t.Run("leases stay per hardware address across networks", func(t *testing.T) {
			var got []string
			for _, l := range srv.Leases() {
				got = append(got, l.HWAddr+" "+l.Addr.String())
			}
			want := []string{roamMAC + " 10.214.0.100", offsideMAC + " 10.214.0.101"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("leases (-want +got):\n%s", diff)
			}
		})
		if st := srv.Stats(); st.UnknownNetwork == 0 {
			t.Errorf("stats %+v: the offside node's unanswered requests are not counted", st)
		}
	})
}

// TestRelayedRequests checks the answers to relayed requests without
// sockets: to the relay's port 67, nothing for a subnet not served.
func TestRelayedRequests(t *testing.T) {
	s, err := newServer(Options{Mode: embedded, Interfaces: []string{"lo"}, ServerIP: netip.MustParseAddr("127.0.0.1"), HTTPPort: 9873,
		Networks: []Network{{Prefix: netip.MustParsePrefix("10.9.0.0/16"), Gateway: netip.MustParseAddr("10.9.0.1"),
			RangeStart: netip.MustParseAddr("10.9.1.0"), RangeEnd: netip.MustParseAddr("10.9.1.9")}},
		BootFiles: testBootFiles, Nodes: newFakeNodes(node("r1", "52:54:00:00:20:01", "10.9.0.50", ""))})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		hw     string
		giaddr string
		want   summary
	}{
		{"node behind a relay", "52:54:00:00:20:01", "10.9.0.1",
			summary{Type: "OFFER", Yiaddr: "10.9.0.50", Siaddr: "0.0.0.0", Host: "r1", Dest: "10.9.0.1:67"}},
		{"client behind a relay", "52:54:00:00:20:02", "10.9.3.1",
			summary{Type: "OFFER", Yiaddr: "10.9.1.0", Siaddr: "0.0.0.0", Dest: "10.9.3.1:67"}},
		{"relay of a subnet not served", "52:54:00:00:20:01", "10.10.0.1", summary{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hw, _ := net.ParseMAC(tc.hw)
			req, err := dhcpv4.NewDiscovery(hw, dhcpv4.WithGatewayIP(net.ParseIP(tc.giaddr)))
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.handle(s.ifaces[0], req, &net.UDPAddr{IP: net.ParseIP(tc.giaddr), Port: 67}, ServerPort)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(r)); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
	if got := s.Stats().UnknownNetwork; got != 1 {
		t.Errorf("UnknownNetwork = %d, want 1", got)
	}
}

// TestProxyRelayed checks that ProxyDHCP answers a relayed boot client
// from any network: it gives no address, so needs no network entry.
func TestProxyRelayed(t *testing.T) {
	s := loServer(t, proxy, newFakeNodes())
	req := fixture(t, "udhcpc-pxe-bios.hex")
	req.GatewayIPAddr = net.ParseIP("10.10.0.1")
	r, err := s.handle(s.ifaces[0], req, &net.UDPAddr{IP: net.ParseIP("10.10.0.1"), Port: 67}, ServerPort)
	if err != nil {
		t.Fatal(err)
	}
	want := summary{Type: "OFFER", Yiaddr: "0.0.0.0", Siaddr: "127.0.0.1", File: "/warewulf/undionly.kpxe", Vendor: "PXEClient",
		PXE: []byte{6, 1, 8, 255}, Dest: "10.10.0.1:67"}
	if diff := cmp.Diff(want, summarize(r)); diff != "" {
		t.Errorf("reply (-want +got):\n%s", diff)
	}
}

// TestNetworkOptionErrors checks that bad networks are refused, naming
// what is wrong.
func TestNetworkOptionErrors(t *testing.T) {
	pfx, addr := netip.MustParsePrefix, netip.MustParseAddr
	tests := []struct {
		name     string
		networks []Network
		start    string
		want     string
	}{
		{"overlapping networks", []Network{{Prefix: pfx("10.9.0.0/16")}, {Prefix: pfx("10.9.4.0/24")}}, "",
			"dhcp: network 10.9.4.0/24 overlaps network 10.9.0.0/16"},
		{"range outside its network", []Network{{Prefix: pfx("10.9.0.0/16"), RangeStart: addr("10.9.0.10"), RangeEnd: addr("10.10.0.1")}}, "",
			"dhcp: network 1 (10.9.0.0/16): range 10.9.0.10-10.10.0.1 is outside the network 10.9.0.0/16"},
		{"gateway outside its network", []Network{{Prefix: pfx("10.9.0.0/16"), Gateway: addr("10.8.0.1")}}, "",
			"dhcp: network 1 (10.9.0.0/16): gateway 10.8.0.1 is outside the network"},
		{"overlapping the interface's network", []Network{{Prefix: pfx("127.5.0.0/16")}}, "",
			"dhcp: interface lo's network 127.0.0.0/8 overlaps network 127.5.0.0/16"},
		{"on an interface not served", []Network{{Prefix: pfx("10.9.0.0/16"), Interface: "eth9"}}, "",
			"dhcp: network 10.9.0.0/16 is on interface eth9, which is not served"},
		{"on an interface without an address in it", []Network{{Prefix: pfx("10.9.0.0/16"), Interface: "lo"}}, "",
			"dhcp: network 10.9.0.0/16 is on interface lo, which holds no address in it"},
		{"main range outside the interface's network", nil, "10.0.0.1",
			"dhcp: interface lo: range 10.0.0.1-10.0.0.1 is outside the network 127.0.0.0/8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{Mode: embedded, Interfaces: []string{"lo"}, ServerIP: addr("127.0.0.1"), Networks: tc.networks, Nodes: newFakeNodes()}
			if tc.start != "" {
				o.RangeStart, o.RangeEnd = addr(tc.start), addr(tc.start)
			}
			_, err := newServer(o)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}
