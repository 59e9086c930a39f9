package dhcp

import "strings"

// Client architectures (option 93, RFC 4578 and IANA's registry) and
// what each boots:
//
//	code  firmware                 iPXE (tftp.ipxe)   GRUB (tftp.shim, tftp.grub)
//	0     x86 BIOS                 undionly.kpxe      never: shim is UEFI only
//	6     x86 (ia32) UEFI, PXE     its entry          shimia32.efi
//	7, 9  x86-64 UEFI, PXE         snponly.efi        shim.efi, then grubx64.efi
//	10    arm32 UEFI, PXE          its entry          none: falls back to iPXE
//	11    arm64 UEFI, PXE          arm64 snponly.efi  shimaa64.efi, then grubaa64.efi
//	15    x86 UEFI, HTTP           as 6, by URL       as 6, by URL
//	16    x86-64 UEFI, HTTP        as 7/9, by URL     /efiboot/shim.efi
//	19    arm64 UEFI, HTTP         as 11, by URL      /efiboot/shimaa64.efi
//
// archFallbacks (client.go) gives the codes whose entries a code may use.

// Loaders a node boots from the network with.
const (
	LoaderIPXE = "ipxe"
	LoaderGRUB = "grub"
)

// TagBoot is the node tag that chooses a node's loader, LoaderGRUB or
// LoaderIPXE, over warewulf.grubboot. Warewulf has no per-node choice.
const TagBoot = "Boot"

// wantsGrub reports whether the client with hardware address hw boots
// GRUB: its node's Boot tag when it has one, else warewulf.grubboot.
func (s *Server) wantsGrub(hw string) bool {
	if v, ok := s.o.Nodes.NodeByMAC(hw); ok {
		switch strings.ToLower(strings.TrimSpace(v.Tags[TagBoot])) {
		case LoaderGRUB:
			return true
		case LoaderIPXE:
			return false
		}
	}
	return s.o.GrubBoot
}

// grubFile returns the TFTP path of the shim for c's architecture, or ""
// when c does not boot GRUB or its architecture has none (BIOS).
func (s *Server) grubFile(c client, arch string) string {
	if len(s.o.GrubFiles) == 0 || !s.wantsGrub(c.hw) {
		return ""
	}
	for _, code := range archFallbacks(arch) {
		if file, ok := s.o.GrubFiles[code]; ok {
			return file
		}
	}
	return ""
}

// grubLoader reports whether file is one of the GRUB chain's loaders
// (tftp.shim or, without shim, tftp.grub) that DHCP names.
func (s *Server) grubLoader(file string) bool {
	for _, f := range s.o.GrubFiles {
		if f == file {
			return true
		}
	}
	return false
}
