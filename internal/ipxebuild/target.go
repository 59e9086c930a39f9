// Package ipxebuild builds iPXE from source with an embedded script, the
// job of Warewulf's scripts/build-ipxe.sh: make runs in an iPXE source
// tree (a site's checkout, or a fresh git clone of a branch) for each
// target, and the binaries are copied into a destination directory under
// Warewulf's names (the target with "/" turned into "-"). Running make
// and git is the point of the package: they are the external build.
package ipxebuild

import (
	"fmt"
	"regexp"
	"runtime"
	"strings"
)

// DefaultTargets are Warewulf's: x86_64 BIOS (UNDI), x86_64 UEFI and
// arm64 UEFI (both on the firmware's network driver, SNP).
func DefaultTargets() []string {
	return []string{"bin-x86_64-pcbios/undionly.kpxe", "bin-x86_64-efi/snponly.efi", "bin-arm64-efi/snponly.efi"}
}

// Target is one make target of iPXE, bin-ARCH-PLATFORM/FILE.
type Target struct {
	// Name is the make target, e.g. "bin-x86_64-efi/snponly.efi".
	Name string
	// Arch is iPXE's architecture (x86_64, i386, arm64, arm32,
	// loong64, riscv64) and Platform its platform (pcbios, efi, ...).
	Arch, Platform string
}

var targetRE = regexp.MustCompile(`^bin-(x86_64|i386|arm64|arm32|loong64|riscv64)-([a-z0-9]+)/([A-Za-z0-9_+-]+)\.([a-z0-9]+)$`)

// ParseTarget checks that s names an iPXE build target.
func ParseTarget(s string) (Target, error) {
	m := targetRE.FindStringSubmatch(s)
	if m == nil {
		return Target{}, fmt.Errorf("target %q: want bin-ARCH-PLATFORM/FILE, like bin-x86_64-pcbios/undionly.kpxe or bin-arm64-efi/snponly.efi", s)
	}
	return Target{Name: s, Arch: m[1], Platform: m[2]}, nil
}

// ParseTargets splits a TARGETS list (spaces, commas or newlines between
// targets, as Warewulf's script takes it) and checks every target.
func ParseTargets(list []string) ([]Target, error) {
	var out []Target
	seen := map[string]bool{}
	for _, item := range list {
		for _, s := range strings.FieldsFunc(item, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
			if seen[s] {
				continue
			}
			seen[s] = true
			t, err := ParseTarget(s)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no targets to build")
	}
	return out, nil
}

// DestName is the file a target is copied to in the destination
// directory, as Warewulf's script names it: bin-x86_64-efi-snponly.efi.
func (t Target) DestName() string { return strings.ReplaceAll(t.Name, "/", "-") }

// ArchCodes are the DHCP option 93 client architectures that boot the
// target's binary, the keys of warewulf.conf's tftp.ipxe map: 00:00 for
// a BIOS PXE loader, 00:07 and 00:09 for x86_64 UEFI, 00:06 for 32-bit
// UEFI, 00:0A and 00:0B for arm UEFI. Other files (.lkrn, .iso, .usb)
// are not network boot loaders and have none.
func (t Target) ArchCodes() []string {
	file := t.Name[strings.LastIndex(t.Name, "/")+1:]
	switch {
	case t.Platform == "pcbios" && (strings.HasSuffix(file, "pxe")):
		return []string{"00:00"}
	case t.Platform != "efi" || !strings.HasSuffix(file, ".efi"):
		return nil
	case t.Arch == "x86_64":
		return []string{"00:07", "00:09"}
	case t.Arch == "i386":
		return []string{"00:06"}
	case t.Arch == "arm64":
		return []string{"00:0B"}
	case t.Arch == "arm32":
		return []string{"00:0A"}
	}
	return nil
}

// hostArch is iPXE's name for the architecture this program runs on.
func hostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "386":
		return "i386"
	}
	return runtime.GOARCH
}

// crossPrefix is the CROSS make needs for a target on host: "" when the
// host's compiler builds it (i386 on x86_64 too, with -m32), else the
// configured prefix or Debian's cross compiler's.
func crossPrefix(t Target, host, configured string) string {
	if t.Arch == host || t.Arch == "i386" && host == "x86_64" {
		return ""
	}
	if configured != "" {
		return configured
	}
	switch t.Arch {
	case "arm64":
		return "aarch64-linux-gnu-"
	case "x86_64", "i386":
		return "x86_64-linux-gnu-"
	case "arm32":
		return "arm-linux-gnueabihf-"
	case "riscv64":
		return "riscv64-linux-gnu-"
	case "loong64":
		return "loongarch64-linux-gnu-"
	}
	return ""
}
