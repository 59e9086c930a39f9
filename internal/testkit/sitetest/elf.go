package sitetest

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// ELFHeader is the ELF header of an empty 64-bit little-endian program
// for machine m (elf.EM_X86_64, elf.EM_AARCH64): enough for what reads
// a program's architecture, in a few bytes instead of a real binary.
func ELFHeader(m elf.Machine) string {
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(m), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, h)
	return b.String()
}
