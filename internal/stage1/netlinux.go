//go:build linux

package stage1

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"golang.org/x/sys/unix"
)

// LinuxNet is the real Network: ioctls for the link and address, a
// netlink message for the default route, nclient4 for DHCP.
type LinuxNet struct{}

// Configure finds the interface with hw (its driver may still be
// probing), brings it and lo up, waits for the carrier and sets the
// address.
func (n LinuxNet) Configure(ctx context.Context, hw net.HardwareAddr, static *StaticIP) (string, error) {
	ifc, err := waitInterface(ctx, hw)
	if err != nil {
		return "", err
	}
	for _, name := range []string{"lo", ifc.Name} {
		if err := linkUp(name); err != nil {
			return "", fmt.Errorf("bring %s up: %w", name, err)
		}
	}
	if err := waitCarrier(ctx, ifc.Name); err != nil {
		return "", err
	}
	addr, gw := net.IPNet{}, net.IP(nil)
	if static != nil {
		addr, gw = static.Addr, static.Gateway
	} else {
		if err := waitRandom(ctx); err != nil {
			return "", err
		}
		c, err := nclient4.New(ifc.Name, nclient4.WithTimeout(4*time.Second), nclient4.WithRetry(4))
		if err != nil {
			return "", fmt.Errorf("DHCP on %s: %w", ifc.Name, err)
		}
		lease, err := c.Request(ctx)
		c.Close()
		if err != nil {
			return "", fmt.Errorf("DHCP on %s: %w", ifc.Name, err)
		}
		ack := lease.ACK
		mask := ack.SubnetMask()
		if mask == nil {
			mask = ack.YourIPAddr.DefaultMask()
		}
		addr = net.IPNet{IP: ack.YourIPAddr.To4(), Mask: mask}
		if r := ack.Router(); len(r) > 0 {
			gw = r[0]
		}
	}
	if err := setAddr(ifc.Name, addr); err != nil {
		return "", fmt.Errorf("address %s on %s: %w", addr.String(), ifc.Name, err)
	}
	desc := ifc.Name + " " + addr.String()
	if gw != nil && !addr.Contains(gw) {
		return "", fmt.Errorf("gateway %s is outside %s", gw, addr.String())
	}
	if gw != nil {
		if err := addDefaultRoute(ifc.Index, gw); err != nil && !errors.Is(err, unix.EEXIST) {
			return "", fmt.Errorf("default route via %s: %w", gw, err)
		}
		desc += " via " + gw.String()
	}
	if static == nil {
		desc += " (DHCP)"
	}
	return desc, nil
}

// waitRandom waits until the kernel's random number generator is
// ready. The DHCP library polls it without blocking, which never makes
// the kernel gather entropy: on a machine without a hardware source
// (RDRAND, virtio-rng) it would wait its full two minutes and fail. A
// blocking getrandom makes the kernel generate entropy from timer
// jitter, which takes about a second.
func waitRandom(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		var b [4]byte
		for {
			_, err := unix.Getrandom(b[:], 0)
			if err != unix.EINTR {
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("the kernel's random number generator: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("the kernel's random number generator is not ready (no entropy): %w", ctx.Err())
	}
}

func waitInterface(ctx context.Context, hw net.HardwareAddr) (*net.Interface, error) {
	for {
		ifs, err := net.Interfaces()
		if err == nil {
			for i := range ifs {
				if strings.EqualFold(ifs[i].HardwareAddr.String(), hw.String()) {
					return &ifs[i], nil
				}
			}
		}
		select {
		case <-ctx.Done():
			var names []string
			for _, i := range ifs {
				names = append(names, i.Name+" "+i.HardwareAddr.String())
			}
			return nil, fmt.Errorf("no interface has hardware address %s (have: %s): is its driver in bootstrap.conf?", hw, strings.Join(names, ", "))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func waitCarrier(ctx context.Context, name string) error {
	for {
		b, err := os.ReadFile("/sys/class/net/" + name + "/carrier")
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has no link (no carrier)", name)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func ioctlSocket() (int, error) {
	return unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
}

func linkUp(name string) error {
	fd, err := ioctlSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// setAddr sets the interface's IPv4 address and netmask; the kernel adds
// the route to the subnet.
func setAddr(name string, addr net.IPNet) error {
	fd, err := ioctlSocket()
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, op := range []struct {
		req uint
		val []byte
	}{{unix.SIOCSIFADDR, addr.IP.To4()}, {unix.SIOCSIFNETMASK, net.IP(addr.Mask).To4()}} {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		if err := ifr.SetInet4Addr(op.val); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, op.req, ifr); err != nil {
			return err
		}
	}
	return nil
}

// addDefaultRoute sends RTM_NEWROUTE for 0.0.0.0/0 via gw on ifindex.
func addDefaultRoute(ifindex int, gw net.IP) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	attr := func(typ uint16, data []byte) []byte {
		b := make([]byte, 4, 4+len(data)+3)
		binary.NativeEndian.PutUint16(b[0:], uint16(4+len(data)))
		binary.NativeEndian.PutUint16(b[2:], typ)
		b = append(b, data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
		return b
	}
	oif := make([]byte, 4)
	binary.NativeEndian.PutUint32(oif, uint32(ifindex))
	body := []byte{unix.AF_INET, 0, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_UNIVERSE, unix.RTN_UNICAST, 0, 0, 0, 0}
	body = append(body, attr(unix.RTA_GATEWAY, gw.To4())...)
	body = append(body, attr(unix.RTA_OIF, oif)...)
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], unix.RTM_NEWROUTE)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	binary.NativeEndian.PutUint32(msg[8:], 1)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	nr, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return err
	}
	if nr >= unix.NLMSG_HDRLEN+4 && binary.NativeEndian.Uint16(buf[4:]) == unix.NLMSG_ERROR {
		if code := int32(binary.NativeEndian.Uint32(buf[unix.NLMSG_HDRLEN:])); code != 0 {
			return unix.Errno(-code)
		}
	}
	return nil
}
