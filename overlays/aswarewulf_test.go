package overlays

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/overlay"
)

// renderTree renders overlay ov for node, the server's files under root.
func renderTree(t *testing.T, root, conf, nodes, node, ov string) overlay.Tree {
	t.Helper()
	snap := newSnapshot(t, root, conf, nodes)
	r, err := snap.Renderer(ov)
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(snap.Node(node), "", []string{ov})
	if err != nil {
		t.Fatal(err)
	}
	return out.Tree
}

// renderedFiles renders overlay ov for node and returns each file's
// lines that are not comments (lines starting with "#"), by path.
func renderedFiles(t *testing.T, conf, nodes, node, ov string) map[string][]string {
	t.Helper()
	files := map[string][]string{}
	for p, e := range renderTree(t, serverRoot(t), conf, nodes, node, ov) {
		if len(e.Data) == 0 {
			continue
		}
		var lines []string
		for _, l := range strings.Split(strings.TrimRight(string(e.Data), "\n"), "\n") {
			if !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		files[p] = lines
	}
	return files
}

// TestStockOverlaysAsWarewulf renders nodes like those of Warewulf 4.7's
// own tests of its stock overlays (overlays/*/internal there) and checks
// the files named, comments aside, against what those tests expect, where our
// templates write what Warewulf's do. The differences our templates make
// on purpose are in each template's comment; these cases avoid them or
// expect our corrected output where the comment says so.
func TestStockOverlaysAsWarewulf(t *testing.T) {
	const conf = "ipaddr: 10.1.0.1\nnetmask: 255.255.0.0\n"
	tests := []struct {
		name, overlay, nodes string
		want                 map[string][]string
	}{
		{
			// Warewulf's key order: BOOTPROTO and DEVTIMEOUT before
			// the address, HWADDR and ONBOOT after it.
			name:    "ifcfg key order",
			overlay: "ifcfg",
			nodes: `nodes:
  c1:
    network devices:
      mgmt:
        device: eno1
        hwaddr: 52:54:00:aa:00:01
        ipaddr: 10.1.2.3
        netmask: 255.255.0.0
        gateway: 10.1.0.254
        mtu: 9000
`,
			want: map[string][]string{
				"etc/sysconfig/network-scripts/ifcfg-mgmt.conf": {
					"TYPE=Ethernet",
					"DEVICE=eno1",
					"NAME=mgmt",
					"MTU=9000",
					"BOOTPROTO=static",
					"DEVTIMEOUT=10",
					"IPADDR=10.1.2.3",
					"NETMASK=255.255.0.0",
					"GATEWAY=10.1.0.254",
					"HWADDR=52:54:00:aa:00:01",
					"ONBOOT=yes",
					"IPV6INIT=yes",
					"IPV6_AUTOCONF=yes",
					"IPV6_DEFROUTE=yes",
					"IPV6_FAILURE_FATAL=no",
				},
			},
		},
		{
			// A bond port: SLAVE before MASTER, as Warewulf.
			name:    "ifcfg bond port",
			overlay: "ifcfg",
			nodes: `nodes:
  c1:
    network devices:
      p1:
        device: ens1f0
        tags:
          master: bond7
`,
			want: map[string][]string{
				"etc/sysconfig/network-scripts/ifcfg-p1.conf": {
					"TYPE=Ethernet",
					"SLAVE=yes",
					"MASTER=bond7",
					"DEVICE=ens1f0",
					"NAME=p1",
					"BOOTPROTO=none",
					"DEVTIMEOUT=10",
					"ONBOOT=yes",
					"IPV6INIT=no",
				},
			},
		},
		{
			name:    "issue",
			overlay: "issue",
			nodes: `nodes:
  c1:
    image name: alma-9
    kernel:
      version: 5.14.0-1
      args: [console=ttyS0, quiet]
    network devices:
      mgmt:
        device: eno1
        hwaddr: 52:54:00:aa:00:01
        ipaddr: 10.1.2.3
`,
			want: map[string][]string{
				"etc/issue": {
					"Warewulf Node:      c1",
					"Image:              alma-9",
					"Kernel:             5.14.0-1",
					"Kernelargs:         console=ttyS0 quiet",
					"",
					"Network:",
					"    mgmt: eno1",
					`    mgmt: \4{eno1} (configured: 10.1.2.3)`,
					"    mgmt: 52:54:00:aa:00:01",
				},
			},
		},
		{
			// The MTU goes to the inet6 stanza too, and the overlay
			// has the interfaces file that sources interfaces.d.
			name:    "ifupdown",
			overlay: "ifupdown",
			nodes: `nodes:
  c1:
    network devices:
      mgmt:
        device: eno1
        ipaddr: 10.1.2.3
        netmask: 255.255.0.0
        ipaddr6: fd00:1::3
        prefixlen6: "64"
        gateway6: fd00:1::1
        mtu: 9000
`,
			want: map[string][]string{
				"etc/network/interfaces": {
					"",
					"source /etc/network/interfaces.d/*",
					"",
					"auto lo",
					"iface lo inet loopback",
				},
				"etc/network/interfaces.d/mgmt": {
					"auto eno1",
					"allow-hotplug eno1",
					"iface eno1 inet static",
					"  address 10.1.2.3",
					"  netmask 255.255.0.0",
					"  mtu 9000",
					"iface eno1 inet6 static",
					"  address fd00:1::3/64",
					"  gateway fd00:1::1",
					"  mtu 9000",
				},
			},
		},
		{
			name:    "chrony",
			overlay: "chrony",
			nodes:   "nodes:\n  c1: {}\n",
			want: map[string][]string{
				"etc/chrony.conf":        chronyWant,
				"etc/chrony/chrony.conf": chronyWant,
			},
		},
		{
			// An IPv6 address keeps link-local addressing on, said as
			// Warewulf says it.
			name:    "systemd.networkd IPv6",
			overlay: "systemd.networkd",
			nodes: `nodes:
  c1:
    network devices:
      mgmt:
        device: eno1
        ipaddr6: fd00:1::3
        prefixlen6: "64"
`,
			want: map[string][]string{
				"etc/systemd/network/10-ww4-networkd-mgmt.network": {
					"[Match]",
					"Name=eno1",
					"",
					"[Network]",
					"DHCP=no",
					"IPv6AcceptRA=no",
					"IPv6PrivacyExtensions=false",
					"LinkLocalAddressing=ipv6",
					"Address=fd00:1::3/64",
				},
			},
		},
		{
			// Warewulf's keys: address= and addresses=.
			name:    "NetworkManager addresses",
			overlay: "NetworkManager",
			nodes: `nodes:
  c1:
    network devices:
      mgmt:
        device: eno1
        hwaddr: 52:54:00:AA:00:01
        ipaddr: 10.1.2.3
        netmask: 255.255.0.0
        ipaddr6: fd00:1::3
        prefixlen6: "64"
`,
			want: map[string][]string{
				"etc/NetworkManager/conf.d/warewulf-unmanaged.conf": nmUnmanaged("except:mac:52:54:00:aa:00:01,except:interface-name:eno1"),
				"etc/NetworkManager/system-connections/warewulf-mgmt.conf": {
					"[connection]",
					"id=mgmt",
					"interface-name=eno1",
					"type=ethernet",
					"autoconnect=true",
					"",
					"[ethernet]",
					"mac-address=52:54:00:aa:00:01",
					"",
					"[ipv4]",
					"method=manual",
					"address=10.1.2.3/16",
					"",
					"[ipv6]",
					"addr-gen-mode=eui64",
					"method=manual",
					"addresses=fd00:1::3/64",
				},
			},
		},
		{
			// A bond of InfiniBand ports (its "type" tag) gets their
			// link settings; the ports have IP disabled.
			name:    "NetworkManager InfiniBand bond",
			overlay: "NetworkManager",
			nodes: `nodes:
  c1:
    network devices:
      ipoib:
        type: bond
        device: bond1
        ipaddr: 10.2.0.3
        netmask: 255.255.0.0
        mtu: 65520
        tags:
          type: infiniband
      ib:
        type: infiniband
        device: ibp1s0
        tags:
          master: bond1
`,
			want: map[string][]string{
				"etc/NetworkManager/conf.d/warewulf-unmanaged.conf": nmUnmanaged("except:interface-name:ibp1s0,except:interface-name:bond1"),
				"etc/NetworkManager/system-connections/warewulf-ipoib.conf": append(nmBond("ipoib", "bond1"),
					"[infiniband]",
					"transport-mode=datagram",
					"mtu=65520",
					"",
					"[ipv4]",
					"method=manual",
					"address=10.2.0.3/16",
					"",
					"[ipv6]",
					"addr-gen-mode=eui64",
					"method=disabled",
				),
				"etc/NetworkManager/system-connections/warewulf-ib.conf": {
					"[connection]",
					"id=ib",
					"interface-name=ibp1s0",
					"type=infiniband",
					"master=bond1",
					"slave-type=bond",
					"autoconnect=true",
					"",
					"[infiniband]",
					"transport-mode=datagram",
					"",
					"[ipv4]",
					"method=disabled",
					"",
					"[ipv6]",
					"method=disabled",
				},
			},
		},
		{
			// A bond of Ethernet ports gets its hardware address and
			// MTU; a cloned-mac-address tag goes to [ethernet] (in
			// Warewulf's [bond], NetworkManager rejects it).
			name:    "NetworkManager Ethernet bond",
			overlay: "NetworkManager",
			nodes: `nodes:
  c1:
    network devices:
      agg:
        type: Bond
        device: bond0
        hwaddr: 52:54:00:aa:00:09
        mtu: 9000
        tags:
          type: ethernet
          cloned-mac-address: 52:54:00:aa:00:0a
`,
			want: map[string][]string{
				"etc/NetworkManager/conf.d/warewulf-unmanaged.conf": nmUnmanaged("except:mac:52:54:00:aa:00:09,except:interface-name:bond0"),
				"etc/NetworkManager/system-connections/warewulf-agg.conf": append(nmBond("agg", "bond0"),
					"[ethernet]",
					"mac-address=52:54:00:aa:00:09",
					"mtu=9000",
					"cloned-mac-address=52:54:00:aa:00:0a",
					"",
					"[ipv4]",
					"method=disabled",
					"",
					"[ipv6]",
					"addr-gen-mode=eui64",
					"method=disabled",
				),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := renderedFiles(t, conf, tt.nodes, "c1", tt.overlay)
			got := map[string][]string{}
			for p := range tt.want {
				if lines, ok := all[p]; ok {
					got[p] = lines
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tt.overlay, diff)
			}
		})
	}
}

// chronyWant: the server as time source, stepped whenever a second off.
var chronyWant = []string{
	"server 10.1.0.1 iburst",
	"driftfile /var/lib/chrony/drift",
	"makestep 1.0 -1",
	"rtcsync",
	"allow 10.1.0.0/16",
	"logdir /var/log/chrony",
	"confdir /etc/chrony.d /etc/chrony/conf.d",
}

func nmUnmanaged(devices string) []string {
	return []string{"[main]", "plugins=keyfile", "", "[keyfile]", "unmanaged-devices=" + devices}
}

// TestWwinitGivesNodesWarewulfConf: as Warewulf's wwinit overlay, every
// node gets the server's warewulf.conf as it is in
// /etc/warewulf/warewulf.conf; a server without one gives none.
func TestWwinitGivesNodesWarewulfConf(t *testing.T) {
	const conf = "ipaddr: 10.1.0.1\nnetmask: 255.255.0.0\n# kept as written\nwarewulf:\n  port: 9873\n"
	for _, present := range []bool{true, false} {
		root := serverRoot(t)
		if present {
			if err := os.WriteFile(filepath.Join(root, "etc/warewulf/warewulf.conf"), []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		e, ok := renderTree(t, root, conf, "nodes:\n  c1: {}\n", "c1", "wwinit")["etc/warewulf/warewulf.conf"]
		switch {
		case present && !ok:
			t.Error("no etc/warewulf/warewulf.conf")
		case present && string(e.Data) != conf:
			t.Errorf("etc/warewulf/warewulf.conf:\n%s\nwant:\n%s", e.Data, conf)
		case !present && ok:
			t.Errorf("etc/warewulf/warewulf.conf without a server warewulf.conf:\n%s", e.Data)
		}
	}
}

// nmBond: the start of a bond's keyfile with the default bond options.
func nmBond(id, device string) []string {
	return []string{"[connection]", "id=" + id, "interface-name=" + device, "type=bond", "autoconnect=true",
		"", "[bond]", "mode=balance-rr", "miimon=100", ""}
}
