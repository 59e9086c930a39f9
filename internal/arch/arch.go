// Package arch names the CPU architectures of images and node programs
// with Warewulf's spelling (x86_64, aarch64) and reads them from ELF
// headers.
package arch

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
)

// The architectures node programs (wwclient, wwstage1) are built for.
const (
	X86_64  = "x86_64"
	Aarch64 = "aarch64"
)

// Supported lists the architectures "make build" builds the node
// programs for.
func Supported() []string { return []string{X86_64, Aarch64} }

// Parse returns Warewulf's name for an architecture given as x86_64 or
// amd64, aarch64 or arm64 (and ppc64le, riscv64, s390x, which no node
// program is built for), in any case.
func Parse(s string) (string, error) {
	switch a := strings.ToLower(strings.TrimSpace(s)); a {
	case "x86_64", "amd64", "x86-64":
		return X86_64, nil
	case "aarch64", "arm64":
		return Aarch64, nil
	case "ppc64le", "riscv64", "s390x":
		return a, nil
	}
	return "", fmt.Errorf("unknown architecture %q (want x86_64 or aarch64; amd64 and arm64 are accepted)", s)
}

// FromGOARCH returns Warewulf's name for a Go architecture (amd64 ->
// x86_64, arm64 -> aarch64), or goarch itself when it has no other.
func FromGOARCH(goarch string) string {
	switch goarch {
	case "amd64":
		return X86_64
	case "arm64":
		return Aarch64
	}
	return goarch
}

// Host is the architecture this program was built for, the one of the
// node programs installed without a suffix (wwclient, wwstage1).
func Host() string { return FromGOARCH(runtime.GOARCH) }

// ErrNotELF is returned by FromELF for a file that is not an ELF object.
var ErrNotELF = errors.New("not an ELF file")

// FromELF reads the architecture from the ELF header of r. A file that
// is not ELF gives an error wrapping ErrNotELF.
func FromELF(r io.ReaderAt) (string, error) {
	var magic [4]byte
	if _, err := r.ReadAt(magic[:], 0); err != nil || string(magic[:]) != elf.ELFMAG {
		return "", ErrNotELF
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotELF, err)
	}
	switch {
	case f.Machine == elf.EM_X86_64:
		return X86_64, nil
	case f.Machine == elf.EM_AARCH64:
		return Aarch64, nil
	case f.Machine == elf.EM_PPC64 && f.Data == elf.ELFDATA2LSB:
		return "ppc64le", nil
	case f.Machine == elf.EM_RISCV && f.Class == elf.ELFCLASS64:
		return "riscv64", nil
	case f.Machine == elf.EM_S390:
		return "s390x", nil
	case f.Machine == elf.EM_386:
		return "i686", nil
	case f.Machine == elf.EM_ARM:
		return "armv7", nil
	}
	return "", fmt.Errorf("ELF machine %v (%d-bit) has no architecture name here", f.Machine, map[elf.Class]int{elf.ELFCLASS32: 32, elf.ELFCLASS64: 64}[f.Class])
}
