package dhcp

import (
	"encoding/hex"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"
)

// fixture reads a DISCOVER captured from a real client (testdata/*.hex,
// the UDP payload in hex). All were sent from 52:54:00:12:34:56.
func fixture(t *testing.T, name string) *dhcpv4.DHCPv4 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := dhcpv4.FromBytes(raw)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return m
}

func TestClassify(t *testing.T) {
	tests := []struct {
		fixture string
		want    client
	}{
		{"udhcpc-plain.hex", client{hw: "52:54:00:12:34:56"}},
		{"dhclient.hex", client{hw: "52:54:00:12:34:56"}},
		{"udhcpc-pxe-bios.hex", client{hw: "52:54:00:12:34:56", arch: "00:00", pxe: true}},
		{"udhcpc-ipxe.hex", client{hw: "52:54:00:12:34:56", arch: "00:07", pxe: true, ipxe: true}},
		{"udhcpc-httpclient.hex", client{hw: "52:54:00:12:34:56", arch: "00:10", http: true}},
		{"udhcpc-arm64.hex", client{hw: "52:54:00:12:34:56", arch: "00:0B", pxe: true}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			got := classify(fixture(t, tc.fixture))
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(client{})); diff != "" {
				t.Errorf("classify (-want +got):\n%s", diff)
			}
		})
	}
}

// summary is what a test checks of a reply.
type summary struct {
	Type, Yiaddr, Siaddr, File, Vendor, Host string
	IPXE, PXE                                []byte
	Dest                                     string
	Node                                     string
}

func summarize(r *reply) summary {
	if r == nil {
		return summary{}
	}
	m := r.msg
	return summary{Type: m.MessageType().String(), Yiaddr: m.YourIPAddr.String(), Siaddr: m.ServerIPAddr.String(),
		File: m.BootFileName, Vendor: m.ClassIdentifier(), Host: m.HostName(),
		IPXE: m.Options.Get(dhcpv4.GenericOptionCode(optIPXE)), PXE: m.Options.Get(dhcpv4.OptionVendorSpecificInformation),
		Dest: r.dest.String(), Node: r.node}
}

// loServer is a server on the loopback interface, without sockets.
func loServer(t *testing.T, mode string, nodes Nodes) *Server {
	t.Helper()
	s, err := newServer(Options{Mode: mode, Interfaces: []string{"lo"}, ServerIP: netip.MustParseAddr("127.0.0.1"), HTTPPort: 9873,
		RangeStart: netip.MustParseAddr("127.0.0.100"), RangeEnd: netip.MustParseAddr("127.0.0.101"),
		BootFiles: testBootFiles, Nodes: nodes})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestReplyByClientType(t *testing.T) {
	nodes := newFakeNodes(node("n1", "52:54:00:12:34:56", "127.0.0.50", "127.0.0.254"))
	const ipxeURL = "http://127.0.0.1:9873/ipxe/${mac:hexhyp}?assetkey=${asset}&uuid=${uuid}"
	const bcast = "255.255.255.255:68"
	tests := []struct {
		name    string
		mode    string
		fixture string
		port    int
		want    summary
	}{
		{"plain client: address, no boot file", embedded, "dhclient.hex", ServerPort,
			summary{Type: "OFFER", Yiaddr: "127.0.0.50", Siaddr: "0.0.0.0", Host: "n1", Dest: bcast}},
		{"BIOS PXE: undionly over TFTP", embedded, "udhcpc-pxe-bios.hex", ServerPort,
			summary{Type: "OFFER", Yiaddr: "127.0.0.50", Siaddr: "127.0.0.1", File: "/warewulf/undionly.kpxe", Host: "n1", Dest: bcast}},
		{"arm64 PXE: option 93 00:0B", embedded, "udhcpc-arm64.hex", ServerPort,
			summary{Type: "OFFER", Yiaddr: "127.0.0.50", Siaddr: "127.0.0.1", File: "/warewulf/snponly.efi", Host: "n1", Dest: bcast}},
		{"iPXE: script URL and no-pxedhcp", embedded, "udhcpc-ipxe.hex", ServerPort,
			summary{Type: "OFFER", Yiaddr: "127.0.0.50", Siaddr: "127.0.0.1", File: ipxeURL, Host: "n1",
				IPXE: []byte{176, 1, 1}, Dest: bcast}},
		{"UEFI HTTP boot: URL of the EFI binary", embedded, "udhcpc-httpclient.hex", ServerPort,
			summary{Type: "OFFER", Yiaddr: "127.0.0.50", Siaddr: "127.0.0.1", File: "http://127.0.0.1:9873/efiboot/ipxe-snponly-x86_64.efi",
				Vendor: "HTTPClient", Host: "n1", Dest: bcast}},
		{"proxy: plain client ignored", proxy, "dhclient.hex", ServerPort, summary{}},
		{"proxy: BIOS PXE offer without address", proxy, "udhcpc-pxe-bios.hex", ServerPort,
			summary{Type: "OFFER", Yiaddr: "0.0.0.0", Siaddr: "127.0.0.1", File: "/warewulf/undionly.kpxe", Vendor: "PXEClient",
				PXE: []byte{6, 1, 8, 255}, Dest: bcast, Node: "n1"}},
		{"proxy: iPXE offer, no no-pxedhcp", proxy, "udhcpc-ipxe.hex", ServerPort,
			summary{Type: "OFFER", Yiaddr: "0.0.0.0", Siaddr: "127.0.0.1", File: ipxeURL, Vendor: "PXEClient",
				PXE: []byte{6, 1, 8, 255}, Dest: bcast, Node: "n1"}},
		{"proxy: DISCOVER on the boot server port ignored", proxy, "udhcpc-pxe-bios.hex", ProxyPort, summary{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := loServer(t, tc.mode, nodes)
			r, err := s.handle(s.ifaces[0], fixture(t, tc.fixture), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, tc.port)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, summarize(r)); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPXEAndIPXEShareALease is Warewulf #802: the firmware and the iPXE
// it chains send different client identifiers; both must get one
// address.
func TestPXEAndIPXEShareALease(t *testing.T) {
	s := loServer(t, embedded, newFakeNodes())
	var got []string
	for _, f := range []string{"udhcpc-pxe-bios.hex", "udhcpc-ipxe.hex"} {
		req := fixture(t, f)
		req.UpdateOption(dhcpv4.OptClientIdentifier([]byte(f)))
		offer, err := s.handle(s.ifaces[0], req, nil, ServerPort)
		if err != nil || offer == nil {
			t.Fatalf("%s: offer %v, %v", f, offer, err)
		}
		req.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeRequest))
		req.UpdateOption(dhcpv4.OptRequestedIPAddress(offer.msg.YourIPAddr))
		req.UpdateOption(dhcpv4.OptServerIdentifier(net.IPv4(127, 0, 0, 1)))
		ack, err := s.handle(s.ifaces[0], req, nil, ServerPort)
		if err != nil || ack == nil {
			t.Fatalf("%s: ack %v, %v", f, ack, err)
		}
		got = append(got, ack.msg.MessageType().String()+" "+ack.msg.YourIPAddr.String())
	}
	if diff := cmp.Diff([]string{"ACK 127.0.0.100", "ACK 127.0.0.100"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestLeases(t *testing.T) {
	start, end := netip.MustParseAddr("10.0.0.10"), netip.MustParseAddr("10.0.0.12")
	reservedAddr := netip.MustParseAddr("10.0.0.11")
	reserved := func(a netip.Addr) bool { return a == reservedAddr }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		op   string // offer, bind, release, decline
		hw   string
		addr string // requested or bound address
		at   time.Duration
		want string // address offered (with " reused" when it was another's offer still held), or "error"
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"reserved addresses are skipped", []step{
			{"offer", "a", "", 0, "10.0.0.10"},
			{"bind", "a", "10.0.0.10", 0, "10.0.0.10"},
			{"offer", "b", "", 0, "10.0.0.12"},
			{"bind", "b", "10.0.0.12", 0, "10.0.0.12"},
			{"offer", "c", "", 0, "error"},
		}},
		{"same client, same address", []step{
			{"offer", "a", "", 0, "10.0.0.10"},
			{"offer", "a", "", time.Second, "10.0.0.10"},
		}},
		{"requested address honoured when free", []step{
			{"offer", "a", "10.0.0.12", 0, "10.0.0.12"},
			{"offer", "b", "10.0.0.12", 0, "10.0.0.10"},
			{"offer", "c", "10.0.0.11", time.Second, "10.0.0.10 reused"},
		}},
		{"unrequested offer returns to the pool after its hold", []step{
			{"offer", "a", "", 0, "10.0.0.10"},
			{"offer", "b", "", time.Second, "10.0.0.12"},
			{"bind", "b", "10.0.0.12", time.Second, "10.0.0.12"},
			{"offer", "c", "", 11 * time.Second, "10.0.0.10"},
			{"bind", "a", "10.0.0.10", 11 * time.Second, "error"},
			{"bind", "c", "10.0.0.10", 11 * time.Second, "10.0.0.10"},
		}},
		{"held offer is given to another only when nothing else is free", []step{
			{"offer", "a", "", 0, "10.0.0.10"},
			{"offer", "b", "", 5 * time.Second, "10.0.0.12"}, // not a's, held
			{"offer", "c", "", 9 * time.Second, "10.0.0.10 reused"},
			{"bind", "a", "10.0.0.10", 9 * time.Second, "error"},
			{"bind", "b", "10.0.0.12", 9 * time.Second, "10.0.0.12"},
			{"bind", "c", "10.0.0.10", 9 * time.Second, "10.0.0.10"},
			{"offer", "d", "", 9 * time.Second, "error"}, // all bound
		}},
		{"request for an address never offered binds nothing", []step{
			{"bind", "a", "10.0.0.10", 0, "error"},
			{"offer", "b", "", 0, "10.0.0.10"},
			{"bind", "a", "10.0.0.10", 0, "error"},
			{"bind", "a", "10.0.0.12", 0, "error"},
			{"bind", "b", "10.0.0.10", 0, "10.0.0.10"},
			{"offer", "c", "", 0, "10.0.0.12"},
		}},
		{"bound lease is not given away", []step{
			{"offer", "a", "", 0, "10.0.0.10"},
			{"bind", "a", "10.0.0.10", 0, "10.0.0.10"},
			{"offer", "b", "", 0, "10.0.0.12"},
			{"offer", "c", "", 30 * time.Minute, "10.0.0.12"}, // b never asked for its offer
			{"bind", "c", "10.0.0.10", 30 * time.Minute, "error"},
		}},
		{"released lease comes back to its client", []step{
			{"offer", "a", "", 0, "10.0.0.10"},
			{"bind", "a", "10.0.0.10", 0, "10.0.0.10"},
			{"release", "a", "10.0.0.10", time.Minute, ""},
			{"offer", "b", "", time.Minute, "10.0.0.12"},
			{"offer", "a", "", 2 * time.Minute, "10.0.0.10"},
		}},
		{"declined address is skipped", []step{
			{"offer", "a", "", 0, "10.0.0.10"},
			{"decline", "a", "10.0.0.10", 0, ""},
			{"offer", "a", "", 0, "10.0.0.12"},
			{"bind", "a", "10.0.0.12", 0, "10.0.0.12"},
			{"offer", "b", "", 0, "error"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, err := newLeases(filepath.Join(t.TempDir(), "leases"), addrRange{start, end})
			if err != nil {
				t.Fatal(err)
			}
			for i, st := range tc.steps {
				now := t0.Add(st.at)
				var a netip.Addr
				if st.addr != "" {
					a = netip.MustParseAddr(st.addr)
				}
				got := ""
				switch st.op {
				case "offer":
					o, reused, err := l.Offer(st.hw, addrRange{start, end}, a, reserved, now)
					switch {
					case err != nil:
						got = "error"
					case reused:
						got = o.String() + " reused"
					default:
						got = o.String()
					}
				case "bind":
					if err := l.Bind(st.hw, a, addrRange{start, end}, reserved, now, now.Add(time.Hour)); err != nil {
						got = "error"
					} else {
						got = a.String()
					}
				case "release":
					err = l.Release(st.hw, a, now)
				case "decline":
					err = l.Decline(st.hw, a, now)
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if got != st.want {
					t.Fatalf("step %d (%s %s): got %q, want %q", i, st.op, st.hw, got, st.want)
				}
			}
		})
	}
}
