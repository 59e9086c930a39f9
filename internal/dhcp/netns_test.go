package dhcp

import (
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/nettest"
)

const (
	nodeMAC = "52:54:00:00:00:01"
	// n2's address is inside the dynamic range: the range must skip it.
	n2Addr = "10.213.0.100"
)

func testNodes() *fakeNodes {
	return newFakeNodes(
		node("n1", nodeMAC, "10.213.0.50", "10.213.0.254"),
		node("n2", "52:54:00:00:00:02", n2Addr, ""),
	)
}

// TestEmbeddedRealClients runs busybox udhcpc and ISC dhclient against
// the embedded server.
func TestEmbeddedRealClients(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		nodes := testNodes()
		leaseFile := filepath.Join(t.TempDir(), "dhcp.leases")
		srv := startServer(t, p, embedded, nodes, leaseFile)

		t.Run("known node gets its address, boot file by option 93", func(t *testing.T) {
			setMAC(t, p, nodeMAC)
			tests := []struct {
				name string
				args []string
				want map[string]string
			}{
				{"plain client: no boot file", nil,
					map[string]string{"ip": "10.213.0.50", "router": "10.213.0.254", "hostname": "n1", "subnet": "255.255.255.0", "boot_file": ""}},
				{"x86 BIOS PXE", []string{"-V", "PXEClient:Arch:00000", "-x", "0x5d:0000"},
					map[string]string{"ip": "10.213.0.50", "router": "10.213.0.254", "hostname": "n1", "subnet": "255.255.255.0",
						"boot_file": "/warewulf/undionly.kpxe", "siaddr": "10.213.0.1"}},
				{"x86-64 UEFI PXE", []string{"-V", "PXEClient:Arch:00007", "-x", "0x5d:0007"},
					map[string]string{"ip": "10.213.0.50", "router": "10.213.0.254", "hostname": "n1", "subnet": "255.255.255.0",
						"boot_file": "/warewulf/ipxe-snponly-x86_64.efi", "siaddr": "10.213.0.1"}},
				{"iPXE user class", []string{"-x", "0x4d:69505845", "-x", "0x5d:0000"},
					map[string]string{"ip": "10.213.0.50", "router": "10.213.0.254", "hostname": "n1", "subnet": "255.255.255.0",
						"boot_file": "http://10.213.0.1:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}", "siaddr": "10.213.0.1"}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					env := udhcpc(t, p, tc.args...)
					got := map[string]string{}
					for k := range tc.want {
						got[k] = env[k]
					}
					if diff := cmp.Diff(tc.want, got); diff != "" {
						t.Errorf("udhcpc saw (-want +got):\n%s", diff)
					}
				})
			}
			if got := nodes.recorded(); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "n1 DHCP http://10.213.0.1:9873/ipxe/") {
				t.Errorf("recorded stages %q, want the last one n1 DHCP with the iPXE URL", got)
			}
		})

		var udhcpcAddr string
		t.Run("unknown client gets the same range address twice", func(t *testing.T) {
			setMAC(t, p, "52:54:00:aa:00:01")
			first := udhcpc(t, p)["ip"]
			second := udhcpc(t, p)["ip"]
			if first == "" || first != second {
				t.Fatalf("addresses %q then %q, want one address twice", first, second)
			}
			if !inRange(first) || first == n2Addr {
				t.Errorf("address %s, want one of 10.213.0.101-110 (100 is node n2's)", first)
			}
			udhcpcAddr = first
		})

		var dhclientAddr string
		t.Run("dhclient gets the same range address twice", func(t *testing.T) {
			setMAC(t, p, "52:54:00:aa:00:02")
			first := dhclient(t, p)["new_ip_address"]
			second := dhclient(t, p)["new_ip_address"]
			if first == "" || first != second {
				t.Fatalf("addresses %q then %q, want one address twice", first, second)
			}
			if !inRange(first) || first == n2Addr || first == udhcpcAddr {
				t.Errorf("address %s, want a free one of 10.213.0.101-110 other than udhcpc's %s", first, udhcpcAddr)
			}
			dhclientAddr = first
		})

		t.Run("leases are persisted", func(t *testing.T) {
			var got []string
			for _, l := range srv.Leases() {
				got = append(got, l.HWAddr+" "+l.Addr.String())
			}
			reloaded, err := newLeases(leaseFile, srv.leases.ranges...)
			if err != nil {
				t.Fatal(err)
			}
			var saved []string
			for _, l := range reloaded.Snapshot() {
				saved = append(saved, l.HWAddr+" "+l.Addr.String())
			}
			want := []string{"52:54:00:aa:00:01 " + udhcpcAddr, "52:54:00:aa:00:02 " + dhclientAddr}
			slices.Sort(want)
			slices.Sort(got)
			slices.Sort(saved)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("leases in memory (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(want, saved); diff != "" {
				t.Errorf("leases in %s (-want +got):\n%s", leaseFile, diff)
			}
		})
	})
}

func inRange(a string) bool {
	return strings.HasPrefix(a, "10.213.0.1") && len(a) == len("10.213.0.100") && a >= "10.213.0.100" && a <= "10.213.0.110"
}

// TestLeaseSurvivesRestart checks that a new server reading the lease
// file gives a returning client its address again.
func TestLeaseSurvivesRestart(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		leaseFile := filepath.Join(t.TempDir(), "dhcp.leases")
		setMAC(t, p, "52:54:00:bb:00:01")
		var first string
		t.Run("first server", func(t *testing.T) {
			startServer(t, p, embedded, testNodes(), leaseFile)
			first = udhcpc(t, p)["ip"]
		})
		// Another client takes the never-used addresses first: the
		// returning one must still get its old address back.
		t.Run("second server", func(t *testing.T) {
			startServer(t, p, embedded, testNodes(), leaseFile)
			setMAC(t, p, "52:54:00:bb:00:02")
			other := udhcpc(t, p)["ip"]
			setMAC(t, p, "52:54:00:bb:00:01")
			again := udhcpc(t, p)["ip"]
			if first == "" || again != first || other == first {
				t.Errorf("first lease %q, after restart %q (other client %q); want the first again", first, again, other)
			}
		})
	})
}

// TestProxyMode checks that ProxyDHCP gives boot clients their boot file
// and nobody an address.
func TestProxyMode(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		nodes := testNodes()
		startServer(t, p, proxy, nodes, "")
		setMAC(t, p, nodeMAC)
		t.Run("no address for a plain client", func(t *testing.T) {
			if env := udhcpc(t, p); env != nil {
				t.Errorf("udhcpc bound %v, want no lease", env)
			}
		})
		t.Run("no address for a PXE client either", func(t *testing.T) {
			if env := udhcpc(t, p, "-V", "PXEClient:Arch:00000", "-x", "0x5d:0000"); env != nil {
				t.Errorf("udhcpc bound %v, want no lease", env)
			}
		})
		t.Run("boot file for PXE firmware", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := p.Role(ctx, "pxeprobe", "PROBE_IF="+p.ClientIf, "PROBE_ADDR=10.213.0.77", "PROBE_SERVER="+p.ServerIP.Addr().String())
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("probe: %v: %s", err, out)
			}
			var got probeResult
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("probe output %q: %v", out, err)
			}
			want := probeResult{
				OfferYiaddr: "0.0.0.0", OfferSiaddr: "10.213.0.1", OfferFile: "/warewulf/ipxe-snponly-x86_64.efi",
				OfferVendor: "PXEClient", OfferPXEOptions: []byte{6, 1, 8, 255},
				AckYiaddr: "0.0.0.0", AckFile: "/warewulf/ipxe-snponly-x86_64.efi", AckVendor: "PXEClient",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("PXE probe (-want +got):\n%s", diff)
			}
		})
	})
}

// TestFlood checks that a flood of DISCOVERs from random addresses mixed
// with malformed packets does not stop a node from getting its address.
func TestFlood(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		startServer(t, p, embedded, testNodes(), filepath.Join(t.TempDir(), "dhcp.leases"))
		setMAC(t, p, nodeMAC)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		flood := p.Role(ctx, "flood", "FLOOD_IF="+p.ClientIf, "FLOOD_N=20000")
		var out strings.Builder
		flood.Stdout, flood.Stderr = &out, &out
		if err := flood.Start(); err != nil {
			t.Fatal(err)
		}
		env := udhcpc(t, p)
		if err := flood.Wait(); err != nil {
			t.Fatalf("flood: %v: %s", err, out.String())
		}
		t.Logf("flood: %s", out.String())
		if got := env["ip"]; got != "10.213.0.50" {
			t.Errorf("during the flood the node got %q, want 10.213.0.50", got)
		}
		if env := udhcpc(t, p); env["ip"] != "10.213.0.50" {
			t.Errorf("after the flood the node got %q, want 10.213.0.50", env["ip"])
		}
	})
}

// TestStarvation floods DISCOVERs from random hardware addresses, enough
// to take the small test range many times over, then REQUESTs nobody
// offered for every address of the range; a client that is not a node
// must then get an address at once.
func TestStarvation(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		srv := startServer(t, p, embedded, testNodes(), filepath.Join(t.TempDir(), "dhcp.leases"))
		setMAC(t, p, "52:54:00:cc:00:01")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		flood := p.Role(ctx, "flood", "FLOOD_IF="+p.ClientIf, "FLOOD_N=20000",
			"FLOOD_REQUESTS=10.213.0.100-10.213.0.110", "FLOOD_SERVER="+p.ServerIP.Addr().String())
		out, err := flood.CombinedOutput()
		if err != nil {
			t.Fatalf("flood: %v: %s", err, out)
		}
		t.Logf("flood: %s", out)
		if bound := srv.Leases(); len(bound) > 0 {
			t.Errorf("the flood bound %v, want nothing bound", bound)
		}
		start := time.Now()
		env := dhclient(t, p)
		took := time.Since(start)
		t.Logf("dhclient took %v; server %+v", took, srv.Stats())
		if got := env["new_ip_address"]; !inRange(got) || got == n2Addr {
			t.Fatalf("after the flood the client got %q, want an address of 10.213.0.101-110", got)
		}
		// Within 2 s of asking, and a second for starting dhclient in a
		// namespace on a busy machine.
		if took > 3*time.Second {
			t.Errorf("the client got its address after %v, want within 2 s of asking", took)
		}
		if st := srv.Stats(); st.RequestsRefused == 0 || st.OffersLimited == 0 {
			t.Errorf("stats %+v, want refused REQUESTs and rate-limited offers counted", st)
		}
	})
}
