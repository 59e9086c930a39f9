package dhcp

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/iana"
)

// The roles below run in the client namespace, as separate processes
// (nettest.Pair.Role).

// floodRole broadcasts FLOOD_N DISCOVERs from random hardware addresses
// on FLOOD_IF, each followed by a malformed packet, as fast as it can.
// With FLOOD_REQUESTS, a range "first-last", it then sends, for each
// address of it, three REQUESTs from random hardware addresses that were
// offered nothing, naming FLOOD_SERVER as the server.
func floodRole() int {
	ifname := os.Getenv("FLOOD_IF")
	n, _ := strconv.Atoi(os.Getenv("FLOOD_N"))
	conn, err := listenUDP(ifname, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer conn.Close()
	dst := &net.UDPAddr{IP: net.IPv4bcast, Port: ServerPort}
	valid, _ := dhcpv4.NewDiscovery(net.HardwareAddr{2, 0, 0, 0, 0, 1})
	good := valid.ToBytes()
	malformed := [][]byte{
		{},
		{1},
		good[:100], // cut inside the fixed header
		good[:240], // header and cookie, no end option
		append(append([]byte{}, good[:236]...), 1, 2, 3, 4),        // wrong magic cookie
		append(append([]byte{}, good[:240]...), 53, 200, 1),        // option longer than the packet
		append(append([]byte{}, good[:240]...), 93, 1, 0, 255),     // option 93 one byte short
		append(append([]byte{}, good[:240]...), 77, 0, 60, 0, 255), // empty user and vendor class
	}
	for i := range n {
		mac := make(net.HardwareAddr, 6)
		_, _ = rand.Read(mac)
		mac[0] = 2
		d, err := dhcpv4.NewDiscovery(mac)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if _, err := conn.WriteToUDP(d.ToBytes(), dst); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		junk := malformed[i%len(malformed)]
		if i%3 == 0 {
			junk = make([]byte, 1+i%600)
			_, _ = rand.Read(junk)
		}
		_, _ = conn.WriteToUDP(junk, dst)
	}
	requests := 0
	if r := os.Getenv("FLOOD_REQUESTS"); r != "" {
		first, last, _ := strings.Cut(r, "-")
		from, err1 := netip.ParseAddr(first)
		to, err2 := netip.ParseAddr(last)
		if err := errors.Join(err1, err2); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		server := net.ParseIP(os.Getenv("FLOOD_SERVER"))
		time.Sleep(200 * time.Millisecond) // the DISCOVERs still queued
		for range 3 {
			for a := from; a.Compare(to) <= 0; a = a.Next() {
				mac := make(net.HardwareAddr, 6)
				_, _ = rand.Read(mac)
				mac[0] = 2
				req, err := dhcpv4.New(dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithHwAddr(mac),
					dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(a.AsSlice())),
					dhcpv4.WithOption(dhcpv4.OptServerIdentifier(server)))
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				if _, err := conn.WriteToUDP(req.ToBytes(), dst); err != nil {
					fmt.Fprintln(os.Stderr, err)
					return 1
				}
				requests++
				time.Sleep(time.Millisecond)
			}
		}
	}
	fmt.Printf("sent %d DISCOVERs, %d REQUESTs\n", n, requests)
	return 0
}

// probeResult is what pxeProbeRole saw.
type probeResult struct {
	OfferYiaddr, OfferSiaddr, OfferFile, OfferVendor string
	OfferPXEOptions                                  []byte
	AckYiaddr, AckFile, AckVendor                    string
}

// pxeProbeRole plays PXE firmware beside a ProxyDHCP server: a DISCOVER
// with the PXEClient vendor class and option 93 on PROBE_IF, then, with
// the address PROBE_ADDR a site DHCP server would have given, a REQUEST
// to the boot server port of PROBE_SERVER. It prints a probeResult.
func pxeProbeRole() int {
	ifname := os.Getenv("PROBE_IF")
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := nclient4.New(ifname, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return fail(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	pxe := []dhcpv4.Modifier{
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00007:UNDI:003016")),
		dhcpv4.WithOption(dhcpv4.OptClientArch(iana.EFI_X86_64)),
		dhcpv4.WithGeneric(dhcpv4.OptionClientMachineIdentifier, append([]byte{0}, make([]byte, 16)...)),
	}
	offer, err := c.DiscoverOffer(ctx, pxe...)
	if err != nil {
		return fail(fmt.Errorf("discover: %w", err))
	}
	res := probeResult{OfferYiaddr: offer.YourIPAddr.String(), OfferSiaddr: offer.ServerIPAddr.String(),
		OfferFile: offer.BootFileName, OfferVendor: offer.ClassIdentifier(),
		OfferPXEOptions: offer.Options.Get(dhcpv4.OptionVendorSpecificInformation)}

	addr := os.Getenv("PROBE_ADDR")
	if out, err := exec.Command("ip", "addr", "add", addr+"/24", "dev", ifname).CombinedOutput(); err != nil {
		return fail(fmt.Errorf("ip addr add: %v: %s", err, out))
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(addr)})
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	req, err := dhcpv4.New(append(pxe,
		dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
		dhcpv4.WithHwAddr(c.InterfaceAddr()),
		dhcpv4.WithClientIP(net.ParseIP(addr)),
	)...)
	if err != nil {
		return fail(err)
	}
	server := &net.UDPAddr{IP: net.ParseIP(os.Getenv("PROBE_SERVER")), Port: ProxyPort}
	buf := make([]byte, 1500)
	for try := 0; try < 5; try++ {
		if _, err := conn.WriteToUDP(req.ToBytes(), server); err != nil {
			return fail(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			continue
		}
		ack, err := dhcpv4.FromBytes(buf[:n])
		if err != nil || ack.TransactionID != req.TransactionID {
			continue
		}
		res.AckYiaddr, res.AckFile, res.AckVendor = ack.YourIPAddr.String(), ack.BootFileName, ack.ClassIdentifier()
		break
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		return fail(err)
	}
	return 0
}
