package stage1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// The bootstrap has no udev, so stage one reads what udev's blkid would
// have read itself: the file system's LABEL and UUID, and the GPT (or
// MBR) entry's PARTLABEL and PARTUUID. The text forms are blkid's, so
// that a root named the way `blkid` prints it is found.

// fsID is what a file system's superblock says of it.
type fsID struct {
	Type, Label, UUID string
}

// errNoFS is probeFS's answer for a device without a file system it
// knows.
var errNoFS = errors.New("no known file system")

// probeFS reads the superblock of an ext2/3/4, xfs, btrfs or FAT file
// system at the start of r. A device too short for a signature does not
// have that file system; a read error or a FAT file system cut short is
// an error.
func probeFS(r io.ReaderAt) (fsID, error) {
	for _, probe := range []func(io.ReaderAt) (fsID, bool, error){probeExt, probeXFS, probeBtrfs, probeFAT} {
		id, ok, err := probe(r)
		if err != nil || ok {
			return id, err
		}
	}
	return fsID{}, errNoFS
}

// readAt reads exactly n bytes at off; a short read is
// io.ErrUnexpectedEOF.
func readAt(r io.ReaderAt, off int64, n int) ([]byte, error) {
	b := make([]byte, n)
	m, err := r.ReadAt(b, off)
	if m == n {
		return b, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, err
}

// signature reads a superblock that holds magic at magicOff: ok is false
// when the device is too short or the magic differs.
func signature(r io.ReaderAt, off int64, n, magicOff int, magic []byte) ([]byte, bool, error) {
	b, err := readAt(r, off, n)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, bytes.Equal(b[magicOff:magicOff+len(magic)], magic), nil
}

func probeExt(r io.ReaderAt) (fsID, bool, error) {
	sb, ok, err := signature(r, 1024, 1024, 56, []byte{0x53, 0xef})
	if !ok {
		return fsID{}, false, err
	}
	const (
		compatJournal   = 0x4
		incompatJnlDev  = 0x8
		incompatExt3    = 0x2 | 0x4 | 0x10 // filetype, recover, meta_bg
		roCompatExt2Set = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
	)
	compat := binary.LittleEndian.Uint32(sb[92:])
	incompat := binary.LittleEndian.Uint32(sb[96:])
	roCompat := binary.LittleEndian.Uint32(sb[100:])
	typ := "ext2"
	switch {
	case incompat&incompatJnlDev != 0:
		typ = "jbd"
	case incompat&^incompatExt3 != 0 || roCompat&^roCompatExt2Set != 0:
		typ = "ext4"
	case compat&compatJournal != 0:
		typ = "ext3"
	}
	return fsID{Type: typ, UUID: uuidText(sb[104:120]), Label: cString(sb[120:136])}, true, nil
}

func probeXFS(r io.ReaderAt) (fsID, bool, error) {
	sb, ok, err := signature(r, 0, 120, 0, []byte("XFSB"))
	if !ok {
		return fsID{}, false, err
	}
	return fsID{Type: "xfs", UUID: uuidText(sb[32:48]), Label: cString(sb[108:120])}, true, nil
}

func probeBtrfs(r io.ReaderAt) (fsID, bool, error) {
	sb, ok, err := signature(r, 64<<10, 299+256, 64, []byte("_BHRfS_M"))
	if !ok {
		return fsID{}, false, err
	}
	return fsID{Type: "btrfs", UUID: uuidText(sb[32:48]), Label: cString(sb[299 : 299+256])}, true, nil
}

// probeFAT reads a FAT12/16/32 boot sector. Its label is, as blkid's,
// the volume label entry of the root directory; the boot sector's copy
// (LABEL_FATBOOT) is not used.
func probeFAT(r io.ReaderAt) (fsID, bool, error) {
	bs, err := readAt(r, 0, 512)
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fsID{}, false, nil
	}
	if err != nil {
		return fsID{}, false, err
	}
	hasMagic := false
	for _, m := range []struct {
		off   int
		magic string
	}{{0x52, "MSWIN"}, {0x52, "FAT32   "}, {0x36, "MSDOS"}, {0x36, "FAT16   "}, {0x36, "FAT12   "}, {0x36, "FAT     "}} {
		if string(bs[m.off:m.off+len(m.magic)]) == m.magic {
			hasMagic = true
		}
	}
	bps := int64(binary.LittleEndian.Uint16(bs[11:]))
	spc := int64(bs[13])
	reserved := int64(binary.LittleEndian.Uint16(bs[14:]))
	fats := int64(bs[16])
	media := bs[21]
	if !hasMagic || bps < 512 || bps > 4096 || bps&(bps-1) != 0 || spc == 0 || spc&(spc-1) != 0 ||
		reserved == 0 || fats == 0 || (media != 0xf0 && media < 0xf8) {
		return fsID{}, false, nil
	}
	id := fsID{Type: "vfat"}
	var serial []byte
	var dir fatDir
	if fatLen := int64(binary.LittleEndian.Uint16(bs[22:])); fatLen != 0 {
		if bs[38] == 0x28 || bs[38] == 0x29 {
			serial = bs[39:43]
		}
		entries := int64(binary.LittleEndian.Uint16(bs[17:]))
		dir = fatDir{start: (reserved + fats*fatLen) * bps, sectors: (entries*32 + bps - 1) / bps}
	} else {
		if bs[66] == 0x28 || bs[66] == 0x29 {
			serial = bs[67:71]
		}
		fatLen = int64(binary.LittleEndian.Uint32(bs[36:]))
		dir = fatDir{
			fat:     reserved * bps,
			data:    (reserved + fats*fatLen) * bps,
			cluster: int64(binary.LittleEndian.Uint32(bs[44:])),
		}
	}
	if serial != nil {
		id.UUID = fmt.Sprintf("%02X%02X-%02X%02X", serial[3], serial[2], serial[1], serial[0])
	}
	label, err := dir.label(r, bps, spc)
	if err != nil {
		return fsID{}, false, fmt.Errorf("vfat root directory: %w", err)
	}
	id.Label = label
	return id, true, nil
}

// fatDir is where a FAT root directory lies: sectors from start
// (FAT12/16), or the cluster chain from cluster (FAT32).
type fatDir struct {
	start, sectors     int64
	fat, data, cluster int64
}

// maxFATDirClusters bounds the FAT32 root directory chain read: a label
// lies in its first entries, and a looping chain must end.
const maxFATDirClusters = 64

// label finds the volume label entry; "NO NAME" is none.
func (d fatDir) label(r io.ReaderAt, bps, spc int64) (string, error) {
	var sectors []int64
	if d.data == 0 {
		for i := int64(0); i < d.sectors; i++ {
			sectors = append(sectors, d.start+i*bps)
		}
		label, _, err := scanFATDir(r, sectors, bps)
		return label, err
	}
	c := d.cluster
	for n := 0; n < maxFATDirClusters && c >= 2 && c < 0x0ffffff8; n++ {
		sectors = sectors[:0]
		for i := int64(0); i < spc; i++ {
			sectors = append(sectors, d.data+((c-2)*spc+i)*bps)
		}
		label, end, err := scanFATDir(r, sectors, bps)
		if err != nil || end {
			return label, err
		}
		next, err := readAt(r, d.fat+c*4, 4)
		if err != nil {
			return "", err
		}
		c = int64(binary.LittleEndian.Uint32(next) & 0x0fffffff)
	}
	return "", nil
}

// scanFATDir reads directory entries in sectors for the volume label;
// end is whether the directory ended there.
func scanFATDir(r io.ReaderAt, sectors []int64, bps int64) (label string, end bool, err error) {
	for _, off := range sectors {
		b, err := readAt(r, off, int(bps))
		if err != nil {
			return "", true, err
		}
		for e := 0; e+32 <= len(b); e += 32 {
			ent := b[e : e+32]
			attr := ent[11]
			switch {
			case ent[0] == 0:
				return "", true, nil
			case ent[0] == 0xe5 || attr == 0x0f || attr&(0x08|0x10) != 0x08:
				continue
			}
			if l := cString(ent[:11]); l != "NO NAME" {
				return l, true, nil
			}
			return "", true, nil
		}
	}
	return "", false, nil
}

// cString is a fixed-size label field: up to its first NUL, trailing
// blanks dropped as blkid does.
func cString(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), " ")
}

// uuidText is a UUID stored in byte order, as blkid prints it.
func uuidText(b []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// guidText is a GUID stored mixed-endian (GPT), as udev prints it.
func guidText(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint16(b[4:]),
		binary.LittleEndian.Uint16(b[6:]), b[8:10], b[10:16])
}

// part is a partition table entry: what names a partition.
type part struct {
	Name string // PARTLABEL (GPT only)
	UUID string // PARTUUID
}

// errNoPartTable is readPartTable's answer for a disk with neither a GPT
// nor an MBR.
var errNoPartTable = errors.New("no partition table")

// readPartTable reads a disk's GPT, or else its MBR, into its partitions
// by number (the kernel's: the GPT entry's index + 1; 1 to 4 for the
// MBR's primary partitions, logical ones are not read). sector is the
// logical sector size.
func readPartTable(r io.ReaderAt, sector int64) (map[int]part, error) {
	parts, err := readGPT(r, sector)
	if !errors.Is(err, errNoPartTable) {
		return parts, err
	}
	return readMBR(r)
}

const (
	// gptMaxArray bounds the GPT entry array: 8192 entries of 128 bytes,
	// 64 times the usual.
	gptMaxArray = 1 << 20
	// gptChunk is how much of the array is read at once.
	gptChunk = 64 << 10
)

// readGPT reads the primary GPT at LBA 1; errNoPartTable when it has no
// GPT signature. The header's and the array's CRCs must match, as the
// kernel checks them too.
func readGPT(r io.ReaderAt, sector int64) (map[int]part, error) {
	if sector < 512 || sector > 64<<10 || sector&(sector-1) != 0 {
		return nil, fmt.Errorf("GPT: logical sector size %d", sector)
	}
	h, err := readAt(r, sector, int(sector))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errNoPartTable
		}
		return nil, fmt.Errorf("GPT header: %w", err)
	}
	if string(h[:8]) != "EFI PART" {
		return nil, errNoPartTable
	}
	size := binary.LittleEndian.Uint32(h[12:])
	if size < 92 || int64(size) > sector {
		return nil, fmt.Errorf("GPT header size %d", size)
	}
	hdr := append([]byte(nil), h[:size]...)
	want := binary.LittleEndian.Uint32(hdr[16:])
	clear(hdr[16:20])
	if got := crc32.ChecksumIEEE(hdr); got != want {
		return nil, fmt.Errorf("GPT header CRC %08x, header says %08x", got, want)
	}
	lba := binary.LittleEndian.Uint64(h[72:])
	count := int64(binary.LittleEndian.Uint32(h[80:]))
	esize := int64(binary.LittleEndian.Uint32(h[84:]))
	if esize < 128 || esize > 4096 || esize&(esize-1) != 0 {
		return nil, fmt.Errorf("GPT entry size %d, want 128 times a power of two", esize)
	}
	if count*esize > gptMaxArray {
		return nil, fmt.Errorf("GPT of %d entries of %d bytes: more than %d bytes", count, esize, gptMaxArray)
	}
	if lba < 2 || lba > 1<<40 {
		return nil, fmt.Errorf("GPT entries at LBA %d", lba)
	}
	parts := map[int]part{}
	sum := crc32.NewIEEE()
	buf := make([]byte, min(count*esize, gptChunk))
	for done := int64(0); done < count*esize; {
		n := min(count*esize-done, int64(len(buf)))
		b := buf[:n]
		if _, err := io.ReadFull(io.NewSectionReader(r, int64(lba)*sector+done, n), b); err != nil {
			return nil, fmt.Errorf("GPT entries: %w", err)
		}
		sum.Write(b)
		for e := int64(0); e < n; e += esize {
			ent := b[e : e+esize]
			if bytes.Equal(ent[:16], make([]byte, 16)) {
				continue // unused
			}
			parts[int((done+e)/esize)+1] = part{Name: utf16Name(ent[56:128]), UUID: guidText(ent[16:32])}
		}
		done += n
	}
	if got, want := sum.Sum32(), binary.LittleEndian.Uint32(h[88:]); got != want {
		return nil, fmt.Errorf("GPT entries CRC %08x, header says %08x", got, want)
	}
	return parts, nil
}

// utf16Name is a GPT partition name: UTF-16LE up to the first NUL.
func utf16Name(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// readMBR reads the primary partitions of an MBR; their PARTUUID is the
// disk signature and the number, as the kernel gives it.
func readMBR(r io.ReaderAt) (map[int]part, error) {
	b, err := readAt(r, 0, 512)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errNoPartTable
		}
		return nil, fmt.Errorf("MBR: %w", err)
	}
	if b[510] != 0x55 || b[511] != 0xaa {
		return nil, errNoPartTable
	}
	sig := binary.LittleEndian.Uint32(b[440:])
	parts := map[int]part{}
	for i := range 4 {
		e := b[446+16*i : 446+16*(i+1)]
		if e[0] != 0 && e[0] != 0x80 {
			return nil, errNoPartTable // a boot sector, not an MBR
		}
		if e[4] == 0xee {
			return nil, fmt.Errorf("MBR: protective (GPT) MBR without a valid GPT")
		}
		if e[4] != 0 {
			parts[i+1] = part{UUID: fmt.Sprintf("%08x-%02x", sig, i+1)}
		}
	}
	return parts, nil
}
