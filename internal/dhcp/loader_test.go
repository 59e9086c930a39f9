package dhcp

import (
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/wwboot/wwboot/internal/inventory"
)

// archDiscover is a DISCOVER from firmware of client architecture arch with
// vendor class vendor.
func archDiscover(t *testing.T, hw string, arch iana.Arch, vendor string) *dhcpv4.DHCPv4 {
	t.Helper()
	mac, err := net.ParseMAC(hw)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dhcpv4.NewDiscovery(mac, dhcpv4.WithOption(dhcpv4.OptClientArch(arch)),
		dhcpv4.WithOption(dhcpv4.OptClassIdentifier(vendor)))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tagged(v *inventory.NodeView, boot string) *inventory.NodeView {
	v.Tags = map[string]string{TagBoot: boot}
	return v
}

// TestLoaderChoice follows the architecture table of loader.go: with
// GRUB chosen, UEFI clients get shim by TFTP or HTTP and BIOS keeps
// iPXE; a node's Boot tag overrides warewulf.grubboot both ways.
func TestLoaderChoice(t *testing.T) {
	const (
		plain = "52:54:00:00:00:01" // a node without a Boot tag
		grub  = "52:54:00:00:00:02" // Boot: grub
		ipxe  = "52:54:00:00:00:03" // Boot: ipxe
	)
	nodes := newFakeNodes(node("n1", plain, "127.0.0.51", ""), tagged(node("n2", grub, "127.0.0.52", ""), "grub"),
		tagged(node("n3", ipxe, "127.0.0.53", ""), "IPXE"))
	grubFiles := map[string]string{"00:07": "/warewulf/shim.efi", "00:09": "/warewulf/shim.efi", "00:0B": "/warewulf/shimaa64.efi"}
	tests := []struct {
		name     string
		grubboot bool
		hw       string
		arch     iana.Arch
		vendor   string
		want     string
	}{
		{"grubboot, x64 UEFI PXE (7)", true, plain, iana.EFI_BC, "PXEClient:Arch:00007", "/warewulf/shim.efi"},
		{"grubboot, x64 UEFI PXE (9)", true, plain, iana.EFI_X86_64, "PXEClient:Arch:00009", "/warewulf/shim.efi"},
		{"grubboot, arm64 UEFI PXE (11)", true, plain, iana.EFI_ARM64, "PXEClient:Arch:00011", "/warewulf/shimaa64.efi"},
		{"grubboot, x64 UEFI HTTP (16)", true, plain, iana.EFI_X86_64_HTTP, "HTTPClient:Arch:00016", "http://127.0.0.1:9873/efiboot/shim.efi"},
		{"grubboot, arm64 UEFI HTTP (19)", true, plain, iana.EFI_ARM64_HTTP, "HTTPClient:Arch:00019", "http://127.0.0.1:9873/efiboot/shimaa64.efi"},
		{"grubboot, BIOS keeps iPXE", true, plain, iana.INTEL_X86PC, "PXEClient:Arch:00000", "/warewulf/undionly.kpxe"},
		{"grubboot, unknown client", true, "52:54:00:00:00:09", iana.EFI_X86_64, "PXEClient:Arch:00009", "/warewulf/shim.efi"},
		{"grubboot, node tagged ipxe", true, ipxe, iana.EFI_X86_64, "PXEClient:Arch:00009", "/warewulf/ipxe-snponly-x86_64.efi"},
		{"no grubboot, x64 UEFI", false, plain, iana.EFI_X86_64, "PXEClient:Arch:00009", "/warewulf/ipxe-snponly-x86_64.efi"},
		{"no grubboot, node tagged grub", false, grub, iana.EFI_X86_64, "PXEClient:Arch:00009", "/warewulf/shim.efi"},
		{"no grubboot, node tagged grub, HTTP", false, grub, iana.EFI_X86_64_HTTP, "HTTPClient:Arch:00016", "http://127.0.0.1:9873/efiboot/shim.efi"},
		{"node tagged grub, BIOS keeps iPXE", false, grub, iana.INTEL_X86PC, "PXEClient:Arch:00000", "/warewulf/undionly.kpxe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := newServer(Options{Mode: embedded, Interfaces: []string{"lo"}, ServerIP: netip.MustParseAddr("127.0.0.1"), HTTPPort: 9873,
				RangeStart: netip.MustParseAddr("127.0.0.100"), RangeEnd: netip.MustParseAddr("127.0.0.110"),
				BootFiles: testBootFiles, GrubBoot: tt.grubboot, GrubFiles: grubFiles, Nodes: nodes})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.handle(s.ifaces[0], archDiscover(t, tt.hw, tt.arch, tt.vendor), &net.UDPAddr{IP: net.IPv4zero, Port: 68}, ServerPort)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, summarize(r).File); diff != "" {
				t.Errorf("boot file (-want +got):\n%s", diff)
			}
		})
	}
}

// Two ways Debian's network GRUB fails that the daemon cannot mend, so it
// warns of each once, the first time it names GRUB that way: through
// ProxyDHCP GRUB takes its server from the site's acknowledgement, not
// from the ProxyDHCP answer (scenario q), and by UEFI HTTP boot it has no
// HTTP and stops at its prompt. GRUB by TFTP from embedded DHCP and iPXE
// either way warn of nothing.
func TestGrubWarningsOnce(t *testing.T) {
	const grub, other = "52:54:00:00:00:02", "52:54:00:00:00:04"
	const proxyWarning, httpWarning = "must name this server as next-server", "its GRUB must have HTTP"
	grubFiles := map[string]string{"00:07": "/warewulf/shim.efi", "00:09": "/warewulf/shim.efi"}
	pxe := func(hw string) *dhcpv4.DHCPv4 { return archDiscover(t, hw, iana.EFI_BC, "PXEClient:Arch:00007") }
	http := func(hw string) *dhcpv4.DHCPv4 {
		return archDiscover(t, hw, iana.EFI_X86_64_HTTP, "HTTPClient:Arch:00016")
	}
	tests := []struct {
		name     string
		mode     string
		grubboot bool
		requests []*dhcpv4.DHCPv4
		want     map[string]int // warning -> times logged
	}{
		{"proxy, GRUB to two nodes", proxy, true, []*dhcpv4.DHCPv4{pxe(grub), pxe(other), pxe(grub)}, map[string]int{proxyWarning: 1}},
		{"proxy, iPXE", proxy, false, []*dhcpv4.DHCPv4{pxe(grub), pxe(other)}, nil},
		{"proxy, GRUB by HTTP boot", proxy, true, []*dhcpv4.DHCPv4{http(grub), http(other)}, map[string]int{httpWarning: 1}},
		{"embedded, GRUB by TFTP", embedded, true, []*dhcpv4.DHCPv4{pxe(grub), pxe(other)}, nil},
		{"embedded, GRUB by HTTP boot to two nodes", embedded, true, []*dhcpv4.DHCPv4{http(grub), http(other), http(grub)}, map[string]int{httpWarning: 1}},
		{"embedded, iPXE by HTTP boot", embedded, false, []*dhcpv4.DHCPv4{http(grub), http(other)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logged strings.Builder
			nodes := newFakeNodes(node("n2", grub, "127.0.0.52", ""), node("n4", other, "127.0.0.54", ""))
			s, err := newServer(Options{Mode: tt.mode, Interfaces: []string{"lo"}, ServerIP: netip.MustParseAddr("127.0.0.1"), HTTPPort: 9873,
				RangeStart: netip.MustParseAddr("127.0.0.100"), RangeEnd: netip.MustParseAddr("127.0.0.110"),
				BootFiles: testBootFiles, GrubBoot: tt.grubboot, GrubFiles: grubFiles, Nodes: nodes,
				Log: slog.New(slog.NewTextHandler(&logged, nil))})
			if err != nil {
				t.Fatal(err)
			}
			for _, req := range tt.requests {
				if r, err := s.handle(s.ifaces[0], req, &net.UDPAddr{IP: net.IPv4zero, Port: 68}, ServerPort); err != nil || r == nil {
					t.Fatalf("no answer to %s: %v", req.ClientHWAddr, err)
				}
			}
			got := map[string]int{}
			for _, w := range []string{proxyWarning, httpWarning} {
				if n := strings.Count(logged.String(), w); n > 0 {
					got[w] = n
				}
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s\nthe log:\n%s", diff, logged.String())
			}
		})
	}
}
