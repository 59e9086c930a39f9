package arch

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// header is the 64-byte ELF header of an empty 64-bit little-endian
// executable for machine m.
func header(m elf.Machine) []byte {
	h := elf.Header64{Type: uint16(elf.ET_EXEC), Machine: uint16(m), Version: uint32(elf.EV_CURRENT), Ehsize: 64}
	copy(h.Ident[:], elf.ELFMAG)
	h.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	h.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	h.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var b bytes.Buffer
	_ = binary.Write(&b, binary.LittleEndian, h)
	return b.Bytes()
}

func TestFromELF(t *testing.T) {
	for _, tc := range []struct {
		name    string
		data    []byte
		want    string
		notELF  bool
		wantErr bool
	}{
		{name: "x86_64", data: header(elf.EM_X86_64), want: X86_64},
		{name: "aarch64", data: header(elf.EM_AARCH64), want: Aarch64},
		{name: "riscv64", data: header(elf.EM_RISCV), want: "riscv64"},
		{name: "unnamed machine", data: header(elf.EM_SPARCV9), wantErr: true},
		{name: "shell script", data: []byte("#!/bin/sh\necho hi\n"), notELF: true},
		{name: "short file", data: []byte("\x7fEL"), notELF: true},
		{name: "truncated header", data: header(elf.EM_X86_64)[:20], notELF: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FromELF(bytes.NewReader(tc.data))
			if tc.notELF != errors.Is(err, ErrNotELF) {
				t.Fatalf("FromELF: %v, want ErrNotELF %v", err, tc.notELF)
			}
			if (err != nil) != (tc.wantErr || tc.notELF) {
				t.Fatalf("FromELF: %v", err)
			}
			if got != tc.want {
				t.Errorf("FromELF = %q, want %q", got, tc.want)
			}
		})
	}
}

// The test binary is an ELF file of the host's architecture.
func TestFromELFHost(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := FromELF(f)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(FromGOARCH(runtime.GOARCH), got); diff != "" {
		t.Errorf("architecture of the test binary (-want +got):\n%s", diff)
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{in: "x86_64", want: X86_64},
		{in: "amd64", want: X86_64},
		{in: "AMD64", want: X86_64},
		{in: "aarch64", want: Aarch64},
		{in: "arm64", want: Aarch64},
		{in: " arm64\n", want: Aarch64},
		{in: "mips", wantErr: true},
		{in: "", wantErr: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Parse(tc.in)
			if (err != nil) != tc.wantErr {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
