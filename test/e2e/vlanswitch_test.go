package e2e

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVLANTags(t *testing.T) {
	dst := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	src := []byte{0x52, 0x54, 0x00, 0xe2, 0xe0, 0x01}
	plain := append(append(append([]byte{}, dst...), src...), 0x08, 0x06, 0xaa, 0xbb)
	tagged := func(tci uint16) []byte {
		f := append(append([]byte{}, dst...), src...)
		f = binary.BigEndian.AppendUint16(f, ieee8021Q)
		f = binary.BigEndian.AppendUint16(f, tci)
		return append(f, 0x08, 0x06, 0xaa, 0xbb)
	}
	for _, tc := range []struct {
		name    string
		in      []byte
		want    []byte
		wantVID uint16
		ok      bool
	}{
		{"untagged is the native VLAN", plain, plain, 0, true},
		{"tag removed, VLAN ID read", tagged(1000), plain, 1000, true},
		{"priority bits are not the VLAN ID", tagged(0xa000 | 1000), plain, 1000, true},
		{"priority-tagged is native", tagged(0x6000), plain, 0, true},
		{"runt frame", plain[:13], nil, 0, false},
		{"tag cut short", tagged(1000)[:16], nil, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, vid, ok := untag(append([]byte{}, tc.in...))
			if ok != tc.ok || vid != tc.wantVID {
				t.Fatalf("untag: vid %d ok %t, want %d %t", vid, ok, tc.wantVID, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("untag (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("tag adds what untag removes", func(t *testing.T) {
		buf := make([]byte, 4+len(plain))
		copy(buf[4:], plain)
		if diff := cmp.Diff(tagged(1000), tag(buf, len(plain), 1000)); diff != "" {
			t.Errorf("tag (-want +got):\n%s", diff)
		}
		copy(buf[4:], plain)
		if diff := cmp.Diff(plain, tag(buf, len(plain), 0)); diff != "" {
			t.Errorf("native (-want +got):\n%s", diff)
		}
	})
}

// TestVLANSwitch sends ARP requests into the switch's trunk as a VM
// would and checks that the namespace's kernel answers those of the
// native VLAN untagged and those of VLAN 1000 tagged, each from the
// address of its own bridge, that each frame goes to its VLAN's port
// only, and that another VLAN is not switched.
func TestVLANSwitch(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: it makes a network namespace with bridges and taps")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ns, err := NewNetns(ctx, log)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	if err := ns.AddBridge(ctx, "brv", "203.0.113.1/24"); err != nil {
		t.Fatal(err)
	}
	sw, err := ns.NewVLANSwitch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	for vid, br := range map[uint16]string{0: BridgeName, 1000: "brv"} {
		if err := sw.AddAccess(ctx, ns, vid, br); err != nil {
			t.Fatal(err)
		}
	}
	sw.Start()
	var vm *net.UDPConn
	if err := ns.in(func() error {
		var err error
		vm, err = net.ListenUDP("udp4", sw.vm)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0xe2, 0xe0, 0x77}
	for _, tc := range []struct {
		name   string
		vid    uint16
		sender string
		target string
		answer bool
	}{
		{"native VLAN, untagged", 0, "192.0.2.77", ServerIP, true},
		{"VLAN 1000, tagged", 1000, "203.0.113.77", "203.0.113.1", true},
		{"a VLAN without an access port", 7, "203.0.113.79", "203.0.113.1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := arpRequest(mac, net.ParseIP(tc.sender), net.ParseIP(tc.target))
			if tc.vid != 0 {
				buf := make([]byte, 4+len(req))
				copy(buf[4:], req)
				req = tag(buf, len(req), tc.vid)
			}
			before := map[uint16]int64{0: sw.Frames("in", 0), 1000: sw.Frames("in", 1000)}
			if _, err := vm.WriteToUDP(req, sw.trunk.LocalAddr().(*net.UDPAddr)); err != nil {
				t.Fatal(err)
			}
			reply, vid := readARPReply(t, vm, mac, tc.sender)
			for port, n := range before {
				want := n
				if port == tc.vid && tc.answer {
					want++
				}
				if got := sw.Frames("in", port); got != want {
					t.Errorf("frames to VLAN %d's port: %d, want %d", port, got, want)
				}
			}
			switch {
			case !tc.answer && reply != nil:
				t.Fatalf("answered on VLAN %d: %x", vid, reply)
			case tc.answer && reply == nil:
				t.Fatal("no ARP reply")
			case tc.answer && vid != tc.vid:
				t.Errorf("reply on VLAN %d, want %d", vid, tc.vid)
			case tc.answer && !bytes.Equal(reply[14:18], net.ParseIP(tc.target).To4()):
				t.Errorf("reply from %v, want %s", net.IP(reply[14:18]), tc.target)
			}
		})
	}
	if sw.Frames("in", 1000) == 0 || sw.Frames("out", 1000) == 0 {
		t.Errorf("VLAN 1000 frames not counted: in %d, out %d", sw.Frames("in", 1000), sw.Frames("out", 1000))
	}
}

// arpRequest is an Ethernet broadcast asking who has target.
func arpRequest(mac net.HardwareAddr, sender, target net.IP) []byte {
	f := append(bytes.Repeat([]byte{0xff}, 6), mac...)
	f = append(f, 0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1)
	f = append(f, mac...)
	f = append(f, sender.To4()...)
	f = append(f, make([]byte, 6)...)
	return append(f, target.To4()...)
}

// readARPReply waits up to two seconds for an ARP reply to mac about
// sender and returns its ARP payload and VLAN, or nil.
func readARPReply(t *testing.T, c *net.UDPConn, mac net.HardwareAddr, sender string) ([]byte, uint16) {
	t.Helper()
	buf := make([]byte, 2048)
	deadline := time.Now().Add(2 * time.Second)
	for {
		if err := c.SetReadDeadline(deadline); err != nil {
			t.Fatal(err)
		}
		n, _, err := c.ReadFromUDP(buf)
		if err != nil {
			return nil, 0
		}
		frame, vid, ok := untag(buf[:n])
		if !ok || len(frame) < 42 || !bytes.Equal(frame[0:6], mac) || binary.BigEndian.Uint16(frame[12:14]) != 0x0806 {
			continue
		}
		arp := frame[14:42]
		if binary.BigEndian.Uint16(arp[6:8]) == 2 && net.IP(arp[24:28]).Equal(net.ParseIP(sender)) {
			return append([]byte{}, arp...), vid
		}
	}
}
