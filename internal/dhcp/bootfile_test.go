package dhcp

import (
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The iPXE script's URL is the caller's: the server only gives it the
// daemon's host:port.
func TestIPXEURLIsInjected(t *testing.T) {
	nodes := newFakeNodes(node("n1", "52:54:00:12:34:56", "127.0.0.50", "127.0.0.254"))
	tests := []struct {
		name    string
		ipxeURL func(string) string
		want    string
	}{
		{name: "default: the contract's", want: "http://127.0.0.1:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}"},
		{name: "the caller's", ipxeURL: func(a string) string { return "http://" + a + "/other/${mac}" },
			want: "http://127.0.0.1:9873/other/${mac}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newServer(Options{Mode: embedded, Interfaces: []string{"lo"}, ServerIP: netip.MustParseAddr("127.0.0.1"), HTTPPort: 9873,
				IPXEURL: tt.ipxeURL, BootFiles: testBootFiles, Nodes: nodes})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.handle(s.ifaces[0], fixture(t, "udhcpc-ipxe.hex"), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, ServerPort)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(r).File); diff != "" {
				t.Errorf("boot file (-want +got):\n%s", diff)
			}
		})
	}
}

// iPXE gets its script's URL only on a network where the daemon serves
// HTTP; elsewhere it gets the boot loader by TFTP, as PXE firmware does
// (a custom iPXE then moves to the VLAN where HTTP is served).
func TestIPXEWhereHTTPIsNotServed(t *testing.T) {
	nodes := newFakeNodes(node("n1", "52:54:00:12:34:56", "127.0.0.50", "127.0.0.254"))
	url := "http://127.0.0.1:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}"
	tests := []struct {
		name     string
		httpHost string
		want     string
	}{
		{name: "HTTP on every address", want: url},
		{name: "HTTP on this network's address", httpHost: "127.0.0.1", want: url},
		// The fixture is x86-64 UEFI iPXE.
		{name: "HTTP on another network only", httpHost: "203.0.113.1", want: testBootFiles["00:07"]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var host netip.Addr
			if tt.httpHost != "" {
				host = netip.MustParseAddr(tt.httpHost)
			}
			s, err := newServer(Options{Mode: embedded, Interfaces: []string{"lo"}, ServerIP: netip.MustParseAddr("127.0.0.1"), HTTPPort: 9873,
				BootFiles: testBootFiles, Nodes: nodes, HTTPHost: host})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.handle(s.ifaces[0], fixture(t, "udhcpc-ipxe.hex"), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, ServerPort)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(r).File); diff != "" {
				t.Errorf("boot file (-want +got):\n%s", diff)
			}
		})
	}
}
