package e2e

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A VLANSwitch is an IEEE 802.1Q switch in user space: one trunk port,
// a VM's NIC (QEMU's "-netdev socket,udp=" sends each Ethernet frame as
// one UDP datagram on the namespace's loopback), and access ports, taps
// on the namespace's bridges. Untagged frames of the trunk go to the
// native access port, frames tagged with an access port's VLAN ID go
// to that port without their tag, anything else is dropped; in the
// other direction the switch adds the tag. The harness needs it
// because the kernels these tests run on may have neither 802.1Q
// interfaces nor VLAN filtering in bridges; the VM's firmware (iPXE)
// and kernel tag their frames themselves, as on a real trunk port.
type VLANSwitch struct {
	trunk  *net.UDPConn
	vm     *net.UDPAddr // QEMU's end of the trunk
	log    *slog.Logger
	ports  map[uint16]*os.File // VLAN ID (0: native, untagged) → tap
	mu     sync.Mutex
	frames map[string]*atomic.Int64
	done   chan struct{}
	wg     sync.WaitGroup
	closed atomic.Bool
}

// ieee8021Q is the TPID of a VLAN tag.
const ieee8021Q = 0x8100

// NewVLANSwitch makes the switch's trunk socket and QEMU's address in
// ns; AddAccess adds its ports and Start runs it.
func (n *Netns) NewVLANSwitch(ctx context.Context) (*VLANSwitch, error) {
	var trunk, vmSide *net.UDPConn
	err := n.in(func() error {
		var err error
		if trunk, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return err
		}
		// QEMU binds its own address: take a free port for it, and
		// give it back just before QEMU starts.
		vmSide, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		return err
	})
	if err != nil {
		if trunk != nil {
			trunk.Close()
		}
		return nil, fmt.Errorf("VLAN switch trunk in %s: %w", n.Name, err)
	}
	vm := vmSide.LocalAddr().(*net.UDPAddr)
	vmSide.Close()
	return &VLANSwitch{trunk: trunk, vm: vm, log: n.log, ports: map[uint16]*os.File{},
		frames: map[string]*atomic.Int64{}, done: make(chan struct{})}, nil
}

// NetdevArgs is the value of QEMU's -netdev option that puts a NIC on
// the switch's trunk.
func (s *VLANSwitch) NetdevArgs(id string) string {
	return fmt.Sprintf("socket,id=%s,udp=%s,localaddr=%s", id, s.trunk.LocalAddr(), s.vm)
}

// AddAccess adds a tap on bridge as the access port of VLAN vid (0: the
// native VLAN, whose frames cross the trunk untagged).
func (s *VLANSwitch) AddAccess(ctx context.Context, n *Netns, vid uint16, bridge string) error {
	if vid > 4094 {
		return fmt.Errorf("VLAN ID %d: must be 0 (native) to 4094", vid)
	}
	name := s.port(vid)
	for _, s := range [][]string{
		{"ip", "tuntap", "add", "dev", name, "mode", "tap"},
		{"ip", "link", "set", name, "master", bridge},
		{"ip", "link", "set", name, "up"},
	} {
		if err := run(ctx, n.Command(ctx, s...).Args...); err != nil {
			return fmt.Errorf("VLAN %d access port %s: %w", vid, name, err)
		}
	}
	var tap *os.File
	if err := n.in(func() error {
		var err error
		tap, err = openTap(name)
		return err
	}); err != nil {
		return fmt.Errorf("VLAN %d access port %s: %w", vid, name, err)
	}
	s.mu.Lock()
	s.ports[vid] = tap
	s.mu.Unlock()
	return waitForwarding(ctx, n, name, bridge)
}

// waitForwarding waits up to 10 s for the port name of bridge to
// forward and the bridge to be up: the kernel takes up a tap's carrier,
// which it gets when opened, with a delay of up to a second (linkwatch),
// and drops what the bridge sends until then.
func waitForwarding(ctx context.Context, n *Netns, name, bridge string) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		port, _ := n.Command(ctx, "bridge", "link", "show", "dev", name).Output()
		br, _ := n.Command(ctx, "ip", "-o", "link", "show", "dev", bridge).Output()
		if strings.Contains(string(port), "state forwarding") && strings.Contains(string(br), "state UP") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("access port %s of %s not forwarding after 10 s: %s%s", name, bridge, port, br)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// port is the name of VLAN vid's access port.
func (s *VLANSwitch) port(vid uint16) string { return fmt.Sprintf("vsw%d", vid) }

// openTap attaches to the existing tap device name of the calling
// thread's namespace, without packet information headers.
func openTap(name string) (*os.File, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("open /dev/net/tun: %w", err)
	}
	var req [unix.IFNAMSIZ + 64]byte
	copy(req[:], name)
	binary.NativeEndian.PutUint16(req[unix.IFNAMSIZ:], unix.IFF_TAP|unix.IFF_NO_PI)
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); errno != 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("attach to tap %s: %w", name, errno)
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun:"+name), nil
}

// Start forwards frames until Close.
func (s *VLANSwitch) Start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wg.Add(1)
	go s.fromTrunk()
	for vid, tap := range s.ports {
		s.wg.Add(1)
		go s.fromAccess(vid, tap)
	}
	s.log.Info("VLAN switch up", "trunk", s.trunk.LocalAddr().String(), "vm", s.vm.String(), "vlans", len(s.ports))
}

// Frames returns how many frames crossed the switch in direction dir
// ("in" from the trunk, "out" to it) on VLAN vid (0: untagged).
func (s *VLANSwitch) Frames(dir string, vid uint16) int64 {
	return s.counter(dir, vid).Load()
}

func (s *VLANSwitch) counter(dir string, vid uint16) *atomic.Int64 {
	key := fmt.Sprintf("%s/%d", dir, vid)
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.frames[key]
	if !ok {
		c = new(atomic.Int64)
		s.frames[key] = c
	}
	return c
}

// fromTrunk moves the VM's frames to the access port of their VLAN.
func (s *VLANSwitch) fromTrunk() {
	defer s.wg.Done()
	buf := make([]byte, 65536)
	for {
		n, _, err := s.trunk.ReadFromUDP(buf)
		if err != nil {
			if !s.closed.Load() {
				s.log.Warn("VLAN switch: trunk read", "err", err)
			}
			return
		}
		frame, vid, ok := untag(buf[:n])
		if !ok {
			continue
		}
		s.mu.Lock()
		tap := s.ports[vid]
		s.mu.Unlock()
		if tap == nil {
			continue
		}
		s.counter("in", vid).Add(1)
		if _, err := tap.Write(frame); err != nil && !s.closed.Load() {
			s.log.Debug("VLAN switch: write to access port", "vlan", vid, "err", err)
		}
	}
}

// fromAccess moves the frames of VLAN vid's access port to the VM,
// tagged unless vid is the native VLAN.
func (s *VLANSwitch) fromAccess(vid uint16, tap *os.File) {
	defer s.wg.Done()
	buf := make([]byte, 65536+4)
	for {
		n, err := tap.Read(buf[4:])
		if err != nil {
			if !s.closed.Load() && !errors.Is(err, os.ErrClosed) {
				s.log.Warn("VLAN switch: access port read", "vlan", vid, "err", err)
			}
			return
		}
		frame := tag(buf, n, vid)
		if frame == nil {
			continue
		}
		s.counter("out", vid).Add(1)
		if _, err := s.trunk.WriteToUDP(frame, s.vm); err != nil && !s.closed.Load() {
			s.log.Debug("VLAN switch: write to trunk", "vlan", vid, "err", err)
		}
	}
}

// untag returns frame without its 802.1Q tag and the tag's VLAN ID (0
// for an untagged or priority-tagged frame); ok is false for a frame
// too short to be Ethernet.
func untag(frame []byte) (out []byte, vid uint16, ok bool) {
	if len(frame) < 14 {
		return nil, 0, false
	}
	if binary.BigEndian.Uint16(frame[12:14]) != ieee8021Q {
		return frame, 0, true
	}
	if len(frame) < 18 {
		return nil, 0, false
	}
	vid = binary.BigEndian.Uint16(frame[14:16]) & 0x0fff
	// Move the addresses over the tag.
	copy(frame[4:16], frame[0:12])
	return frame[4:], vid, true
}

// tag returns the frame held in buf[4:4+n] with an 802.1Q tag of VLAN
// vid inserted after its addresses, using buf's first four bytes; vid
// 0 returns it as it is. nil: too short to be Ethernet.
func tag(buf []byte, n int, vid uint16) []byte {
	if n < 14 {
		return nil
	}
	if vid == 0 {
		return buf[4 : 4+n]
	}
	copy(buf[0:12], buf[4:16])
	binary.BigEndian.PutUint16(buf[12:14], ieee8021Q)
	binary.BigEndian.PutUint16(buf[14:16], vid)
	return buf[:4+n]
}

// Close stops the switch; the taps go with the namespace.
func (s *VLANSwitch) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	err := s.trunk.Close()
	s.mu.Lock()
	for _, tap := range s.ports {
		if cerr := tap.Close(); err == nil {
			err = cerr
		}
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// in runs f on a thread that has joined n, and returns that thread to
// the caller's namespace afterwards (a thread that cannot return is
// not reused).
func (n *Netns) in(f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		restored, err := n.enter(f)
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

func (n *Netns) enter(f func() error) (restored bool, err error) {
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return true, fmt.Errorf("own network namespace: %w", err)
	}
	defer self.Close()
	target, err := os.Open("/run/netns/" + n.Name)
	if err != nil {
		return true, fmt.Errorf("namespace %s: %w", n.Name, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		return true, fmt.Errorf("join namespace %s: %w", n.Name, err)
	}
	ferr := f()
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		return false, errors.Join(ferr, fmt.Errorf("return from namespace %s: %w", n.Name, err))
	}
	return true, ferr
}

// AddBridge adds a bridge named name to n holding the server's address
// cidr (a VLAN's network, reached through a VLANSwitch access port).
func (n *Netns) AddBridge(ctx context.Context, name, cidr string) error {
	for _, s := range [][]string{
		{"ip", "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0"},
		{"ip", "addr", "add", cidr, "dev", name},
		{"ip", "link", "set", name, "up"},
	} {
		if err := run(ctx, n.Command(ctx, s...).Args...); err != nil {
			return fmt.Errorf("bridge %s in %s: %w", name, n.Name, err)
		}
	}
	return nil
}
