package ndp

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAdvertisement(t *testing.T) {
	tests := []struct {
		name string
		mac  string
		want []byte
	}{
		{"ethernet", "52:54:00:e2:e0:41", []byte{
			134, 0, 0, 0, // type, code, checksum (the kernel's)
			0, 0, 0, 0, // cur hop limit, M/O flags, router lifetime
			0, 0, 0, 0, // reachable time
			0, 0, 0, 0, // retrans timer
			1, 1, 0x52, 0x54, 0x00, 0xe2, 0xe0, 0x41, // source link-layer address
		}},
		{"infiniband: 20 bytes, padded to 24", "00:00:00:00:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0b:7f:01", []byte{
			134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			1, 3, 0, 0, 0, 0, 0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 2, 0xc9, 3, 0, 0x0b, 0x7f, 1, 0, 0,
		}},
		{"no hardware address: no option", "", []byte{134, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var mac net.HardwareAddr
			if tc.mac != "" {
				var err error
				if mac, err = net.ParseMAC(tc.mac); err != nil {
					t.Fatal(err)
				}
			}
			if diff := cmp.Diff(tc.want, advertisement(mac)); diff != "" {
				t.Errorf("advertisement (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSolicitationReply(t *testing.T) {
	rs := []byte{133, 0, 0x12, 0x34, 0, 0, 0, 0}
	slla := []byte{1, 1, 0x52, 0x54, 0, 0, 0, 1}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	ll := netip.MustParseAddr("fe80::5054:ff:fe00:1")
	tests := []struct {
		name     string
		b        []byte
		src      netip.Addr
		hopLimit int
		want     netip.Addr // invalid: ignored
	}{
		{"from link-local: answered there", cat(rs, slla), ll, 255, ll},
		{"zone dropped", rs, ll.WithZone("br0"), 255, ll},
		{"from the unspecified address: all-nodes", rs, netip.IPv6Unspecified(), 255, netip.MustParseAddr("ff02::1")},
		{"unknown options are skipped", cat(rs, []byte{99, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, slla), ll, 255, ll},
		{"forwarded: hop limit 254", rs, ll, 254, netip.Addr{}},
		{"hop limit unknown", rs, ll, 0, netip.Addr{}},
		{"nil", nil, ll, 255, netip.Addr{}},
		{"empty", []byte{}, ll, 255, netip.Addr{}},
		{"header only", rs[:4], ll, 255, netip.Addr{}},
		{"7 bytes", rs[:7], ll, 255, netip.Addr{}},
		{"not a solicitation", []byte{134, 0, 0, 0, 0, 0, 0, 0}, ll, 255, netip.Addr{}},
		{"echo request", []byte{128, 0, 0, 0, 0, 1, 0, 1}, ll, 255, netip.Addr{}},
		{"code 1", []byte{133, 1, 0, 0, 0, 0, 0, 0}, ll, 255, netip.Addr{}},
		{"option of length 0", cat(rs, []byte{1, 0, 0, 0, 0, 0, 0, 0}), ll, 255, netip.Addr{}},
		{"option longer than the message", cat(rs, []byte{1, 2, 0, 0, 0, 0, 0, 0}), ll, 255, netip.Addr{}},
		{"one byte of option", cat(rs, []byte{1}), ll, 255, netip.Addr{}},
		{"link-layer address from the unspecified address", cat(rs, slla), netip.IPv6Unspecified(), 255, netip.Addr{}},
		{"global source", rs, netip.MustParseAddr("2001:db8::1"), 255, netip.Addr{}},
		{"IPv4 source", rs, netip.MustParseAddr("192.0.2.1"), 255, netip.Addr{}},
		{"no source", rs, netip.Addr{}, 255, netip.Addr{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := solicitationReply(tc.b, tc.src, tc.hopLimit)
			if err != nil && !errors.Is(err, errIgnored) {
				t.Errorf("error %v does not wrap errIgnored", err)
			}
			if (err == nil) != tc.want.IsValid() || got != tc.want {
				t.Errorf("reply to %s, err %v; want %s", got, err, tc.want)
			}
		})
	}
}

// FuzzSolicitationReply checks that no input panics and that whatever is
// answered was a well-formed solicitation sent to a link-local or
// unspecified source.
func FuzzSolicitationReply(f *testing.F) {
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x52, 0x54, 0, 0, 0, 1}, []byte(net.ParseIP("fe80::1")), 255)
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0}, []byte(net.IPv6unspecified), 255)
	f.Add([]byte{133, 0, 0, 0, 0, 0, 0, 0, 1, 0}, []byte(net.ParseIP("fe80::1")), 255)
	f.Fuzz(func(t *testing.T, b, src []byte, hopLimit int) {
		s, _ := netip.AddrFromSlice(src)
		dst, err := solicitationReply(b, s, hopLimit)
		if err != nil {
			if dst.IsValid() {
				t.Errorf("error %v with destination %s", err, dst)
			}
			return
		}
		if hopLimit != 255 || len(b) < 8 || b[0] != 133 || b[1] != 0 {
			t.Errorf("answered %x (hop limit %d) to %s", b, hopLimit, dst)
		}
		if !dst.IsLinkLocalUnicast() && dst != netip.IPv6LinkLocalAllNodes() {
			t.Errorf("destination %s", dst)
		}
	})
}
