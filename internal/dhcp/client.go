package dhcp

import (
	"fmt"
	"strings"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// client is what a request says about the firmware that sent it.
type client struct {
	hw   string // hardware address, aa:bb:cc:dd:ee:ff
	arch string // first option 93 architecture code as "00:07"; "" when absent
	pxe  bool   // option 60 starts with PXEClient: PXE firmware
	http bool   // option 60 starts with HTTPClient: UEFI HTTP boot
	ipxe bool   // option 77 user class iPXE, or iPXE's option 175
}

// optIPXE is iPXE's encapsulated option space (175) and optNoPXEDHCP
// its no-pxedhcp setting (175.176), which stops iPXE waiting for
// ProxyDHCP offers that will not come.
const (
	optIPXE      = 175
	optNoPXEDHCP = 176
)

// classify reads the client architecture (option 93), vendor class
// (option 60) and user class (option 77) of a request.
func classify(m *dhcpv4.DHCPv4) client {
	c := client{hw: m.ClientHWAddr.String()}
	if v := m.Options.Get(dhcpv4.OptionClientSystemArchitectureType); len(v) >= 2 {
		c.arch = fmt.Sprintf("%02X:%02X", v[0], v[1])
	}
	vendor := m.ClassIdentifier()
	c.pxe = strings.HasPrefix(vendor, "PXEClient")
	c.http = strings.HasPrefix(vendor, "HTTPClient")
	for _, uc := range m.UserClass() {
		if uc == "iPXE" {
			c.ipxe = true
		}
	}
	if m.Options.Has(dhcpv4.GenericOptionCode(optIPXE)) {
		c.ipxe = true
	}
	return c
}

// bootClient reports whether the request comes from network-boot
// firmware, the only clients a ProxyDHCP server answers.
func (c client) bootClient() bool { return c.pxe || c.http || c.ipxe }

// archFallbacks lists, for a client architecture, the codes whose boot
// file it can run when the map has no entry of its own: UEFI HTTP boot
// codes run the matching PXE code's binary, and the two x86-64 UEFI codes
// (7 and 9) are interchangeable.
func archFallbacks(arch string) []string {
	switch arch {
	case "00:07":
		return []string{"00:07", "00:09"}
	case "00:09":
		return []string{"00:09", "00:07"}
	case "00:0F": // x86 UEFI HTTP
		return []string{"00:0F", "00:06"}
	case "00:10": // x64 UEFI HTTP
		return []string{"00:10", "00:07", "00:09"}
	case "00:13": // arm64 UEFI HTTP
		return []string{"00:13", "00:0B"}
	}
	return []string{arch}
}
