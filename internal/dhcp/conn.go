package dhcp

import (
	"errors"
	"fmt"
	"net"
	"os"

	"golang.org/x/sys/unix"
)

// listenUDP binds UDP port on every address of interface ifname only
// (SO_BINDTODEVICE), allowed to broadcast. It sets no SO_REUSEADDR, so a
// port another DHCP server holds is an error rather than a silent
// sharing of requests.
func listenUDP(ifname string, port int) (*net.UDPConn, error) {
	fail := func(err error) error {
		if errors.Is(err, unix.EADDRINUSE) {
			return fmt.Errorf("dhcp: udp port %d on %s is already in use (another DHCP server? set dhcp.mode to proxy or external): %w", port, ifname, err)
		}
		return fmt.Errorf("dhcp: listen on udp port %d of %s: %w", port, ifname, err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return nil, fail(err)
	}
	f := os.NewFile(uintptr(fd), fmt.Sprintf("dhcp-%s-%d", ifname, port))
	defer f.Close()
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); err != nil {
		return nil, fail(err)
	}
	if err := unix.BindToDevice(fd, ifname); err != nil {
		return nil, fail(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Port: port}); err != nil {
		return nil, fail(err)
	}
	c, err := net.FilePacketConn(f)
	if err != nil {
		return nil, fail(err)
	}
	return c.(*net.UDPConn), nil
}
