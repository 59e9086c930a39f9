package inventory

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// viewOf parses a nodes.conf and makes the view of its node n1.
func viewOf(t *testing.T, conf string) (*NodeView, error) {
	t.Helper()
	inv, err := Parse([]byte(conf), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	m, err := inv.Merge("n1")
	if err != nil {
		t.Fatal(err)
	}
	return NewView(m)
}

func TestNewView(t *testing.T) {
	conf := `nodeprofiles:
  default:
    image name: rocky-9
    cluster name: hpc
    kernel:
      version: "6.1"
      args: [quiet, console=ttyS0]
    network devices:
      eth10: {device: eth10, ipaddr: 10.0.10.1}
nodes:
  n1:
    profiles: [default]
    discoverable: "yes"
    asset key: tag1
    root: tmpfs
    primary network: eth2
    system overlay: [wwinit]
    ipmi: {ipaddr: 10.1.0.1}
    tags: {rack: r1}
    network devices:
      eth2:
        device: eth2
        hwaddr: AA-BB-CC-DD-EE-01
        ipaddr: 10.0.0.1
        netmask: 255.255.255.0
        gateway: 10.0.0.254
        ipaddr6: fd00::1
        prefixlen6: "64"
        gateway6: fd00::fe
      ib0: {hwaddr: aabbccddee02}
`
	v, err := viewOf(t, conf)
	if err != nil {
		t.Fatal(err)
	}
	want := &NodeView{
		Name: "n1", Cluster: "hpc", Image: "rocky-9", Ipxe: "default", Root: "tmpfs", AssetKey: "tag1",
		Discoverable: true, PrimaryNetDev: "eth2", KernelVersion: "6.1", KernelArgs: []string{"quiet", "console=ttyS0"},
		SystemOverlay: []string{"wwinit"}, Tags: map[string]string{"rack": "r1"},
		IpmiAddr: netip.MustParseAddr("10.1.0.1"),
		NetDevs: []NetDevView{
			{Network: "eth2", Device: "eth2", Hwaddr: "aa:bb:cc:dd:ee:01", Addr: netip.MustParseAddr("10.0.0.1"),
				Prefix: netip.MustParsePrefix("10.0.0.1/24"), Gateway: netip.MustParseAddr("10.0.0.254"),
				Addr6: netip.MustParseAddr("fd00::1"), Prefix6: netip.MustParsePrefix("fd00::1/64"),
				Gateway6: netip.MustParseAddr("fd00::fe")},
			{Network: "eth10", Device: "eth10", Addr: netip.MustParseAddr("10.0.10.1")},
			{Network: "ib0", Hwaddr: "aa:bb:cc:dd:ee:02"},
		},
	}
	opts := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	popts := cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })
	got := *v
	got.Merged = nil
	if diff := cmp.Diff(want, &got, opts, popts); diff != "" {
		t.Errorf("view (-want +got):\n%s", diff)
	}
	if d, ok := v.NetDevByMAC("aa:bb:cc:dd:ee:02"); !ok || d.Network != "ib0" {
		t.Errorf("NetDevByMAC = %+v, %v; want ib0", d, ok)
	}
	if _, ok := v.NetDevByMAC("aa:bb:cc:dd:ee:03"); ok {
		t.Error("NetDevByMAC found an address no device has")
	}
	wantAddrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("10.0.10.1")}
	if diff := cmp.Diff(wantAddrs, v.Addrs(), opts); diff != "" {
		t.Errorf("Addrs (-want +got):\n%s", diff)
	}
}

func TestNewViewUnset(t *testing.T) {
	v, err := viewOf(t, "nodes:\n  n1:\n    ipxe template: \"\"\n    network devices:\n      default: {ipaddr: 10.0.0.1, netmask: \"\"}\n")
	if err != nil {
		t.Fatal(err)
	}
	if v.Ipxe != "default" || v.Discoverable || v.IpmiAddr.IsValid() || v.Image != "" || v.KernelVersion != "" {
		t.Errorf("unset values: %+v", v)
	}
	d := v.NetDevs[0]
	if d.Prefix.IsValid() || d.Gateway.IsValid() || d.Addr6.IsValid() || d.Prefix6.IsValid() || d.Hwaddr != "" {
		t.Errorf("unset device values: %+v", d)
	}
}

// A value that does not parse makes no view, and the error names the
// node, the field and the value.
func TestNewViewMalformed(t *testing.T) {
	tests := []struct {
		name, field, value, want string
	}{
		{"bad MAC", "hwaddr", "aa:bb:cc:dd:ee", `node "n1": NetDevs[default].Hwaddr: "aa:bb:cc:dd:ee" is not a hardware address`},
		{"bare MAC too long", "hwaddr", "aabbccddeeff00", `NetDevs[default].Hwaddr: "aabbccddeeff00"`},
		{"bad IPv4", "ipaddr", "10.0.0.256", `NetDevs[default].Ipaddr: "10.0.0.256" is not an IPv4 address`},
		{"IPv6 as IPv4", "ipaddr", "fd00::1", `NetDevs[default].Ipaddr: "fd00::1" is not an IPv4 address`},
		{"netmask not contiguous", "netmask", "255.0.255.0", `NetDevs[default].Netmask: "255.0.255.0" is not a valid netmask`},
		{"bad gateway", "gateway", "gw", `NetDevs[default].Gateway: "gw" is not an IPv4 address`},
		{"bad IPv6", "ipaddr6", "10.0.0.1", `NetDevs[default].Ipaddr6: "10.0.0.1" is not an IPv6 address`},
		{"prefix too long", "prefixlen6", "129", `NetDevs[default].PrefixLen6: "129" is not an IPv6 prefix length`},
		{"bad gateway6", "gateway6", "fd00::zz", `NetDevs[default].Gateway6: "fd00::zz" is not an IPv6 address`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conf := "nodes:\n  n1:\n    network devices:\n      default: {" + tt.field + ": \"" + tt.value + "\"}\n"
			v, err := viewOf(t, conf)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewView = %+v, %v; want an error with %s", v, err, tt.want)
			}
		})
	}
	for _, tt := range []struct{ name, conf, want string }{
		{"bad discoverable", "nodes:\n  n1:\n    discoverable: maybe\n", `node "n1": Discoverable: "maybe" is not a boolean`},
		{"bad BMC address", "nodes:\n  n1:\n    ipmi: {ipaddr: 10.1.0}\n", `node "n1": Ipmi.Ipaddr: "10.1.0" is not an IPv4 address`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			v, err := viewOf(t, tt.conf)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewView = %+v, %v; want an error with %s", v, err, tt.want)
			}
		})
	}
}
