package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	gobmc "github.com/bougou/go-ipmi/pkg/bmc"
	"github.com/bougou/go-ipmi/pkg/clock"
	"github.com/bougou/go-ipmi/pkg/hal/mock"
	"github.com/bougou/go-ipmi/pkg/server"
	"github.com/bougou/go-ipmi/pkg/transport/udp"

	"github.com/wwboot/wwboot/test/bench/harness"
)

// The fake BMCs' one user, an administrator on the LAN channel.
const (
	bmcUser     = "admin"
	bmcPassword = "benchpass"
)

// serveBMCs runs n go-ipmi reference BMC servers (RMCP+ and IPMI 1.5 on
// their own UDP ports of 127.0.0.1, chassis powered on), writes
// "ports P1 P2 ..." on out once all listen, and serves until ctx ends or
// in reaches its end (the parent closes it, or dies).
func serveBMCs(ctx context.Context, n int, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	servers := make([]*server.Server, 0, n)
	defer func() {
		for _, s := range servers {
			_ = s.Close()
		}
	}()
	ports := make([]string, 0, n)
	errc := make(chan error, n)
	for range n {
		b := gobmc.New(gobmc.DeviceInfo{IPMIVersion: 0x20}, [16]byte{}, mock.New(), gobmc.WithClock(clock.Real))
		u, err := b.Users.Add(2, bmcUser)
		if err != nil {
			return err
		}
		u.SetPassword([]byte(bmcPassword))
		u.Enabled = true
		u.ChannelAccess[1] = gobmc.UserChannelAccess{MaxPrivilege: gobmc.PrivilegeLevelAdministrator, Enabled: true}
		if err := b.HAL().Chassis().SetPower(ctx, true); err != nil {
			return err
		}
		conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return fmt.Errorf("BMC %d of %d: %w", len(servers)+1, n, err)
		}
		// No read deadline: Close ends the read; 2,000 idle sockets
		// then cost no timers.
		s := server.NewServer(b, udp.Wrap(conn, udp.WithReadTimeout(0)))
		servers = append(servers, s)
		ports = append(ports, strconv.Itoa(conn.LocalAddr().(*net.UDPAddr).Port))
		go func() { errc <- s.Serve(ctx) }()
	}
	if _, err := fmt.Fprintf(out, "ports %s\n", strings.Join(ports, " ")); err != nil {
		return err
	}
	go func() {
		_, _ = io.Copy(io.Discard, in)
		cancel()
	}()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return fmt.Errorf("a BMC server stopped: %w", err)
	}
}

// bmcProcess is the child process running the fake BMCs.
type bmcProcess struct {
	*child
	ports []int
}

// startBMCs starts this program again with -bmcs n and reads the ports.
func startBMCs(ctx context.Context, n int, logPath string) (*bmcProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	c, stdout, err := startChild(ctx, logPath, self, "-bmcs", strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	line := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReaderSize(stdout, 64<<10).ReadString('\n')
		line <- l
		_, _ = io.Copy(io.Discard, stdout)
	}()
	var l string
	select {
	case l = <-line:
	case <-ctx.Done():
		return nil, errors.Join(ctx.Err(), c.stop())
	}
	f := strings.Fields(l)
	if len(f) != n+1 || f[0] != "ports" {
		return nil, errors.Join(fmt.Errorf("fake BMCs: want %d ports, got %.200q; log:\n%s", n, l, harness.TailFile(logPath)), c.stop())
	}
	p := &bmcProcess{child: c, ports: make([]int, n)}
	for i, s := range f[1:] {
		if p.ports[i], err = strconv.Atoi(s); err != nil {
			return nil, errors.Join(fmt.Errorf("fake BMCs: port %q: %w", s, err), c.stop())
		}
	}
	return p, nil
}
