package stage1

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/google/go-cmp/cmp"
)

// tool finds a program the test needs, skipping the test without it.
func tool(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExec(p) {
			return p
		}
	}
	t.Skipf("%s is not installed (apt-get install e2fsprogs xfsprogs btrfs-progs dosfstools gdisk fdisk)", name)
	return ""
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&0o111 != 0
}

func run(t *testing.T, stdin string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(tool(t, name), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sparseFile makes an empty file of size bytes in a temp dir.
func sparseFile(t *testing.T, size int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return p
}

// exportValues reads KEY=value lines (blkid -o export, partx -P) into
// maps, undoing their backslash escapes and quotes; a NR=/DEVNAME= line
// starts a new map.
func exportValues(out string) []map[string]string {
	var all []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(out, "\n") {
		for _, f := range splitExport(line) {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			if cur == nil || k == "NR" || k == "DEVNAME" {
				cur = map[string]string{}
				all = append(all, cur)
			}
			cur[k] = v
		}
	}
	return all
}

// splitExport splits a line at unescaped, unquoted blanks, dropping
// the quotes and escapes.
func splitExport(line string) []string {
	var out []string
	var b strings.Builder
	quoted, esc, any := false, false, false
	for _, c := range line {
		switch {
		case esc:
			b.WriteRune(c)
			esc = false
		case c == '\\':
			esc = true
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			if any {
				out = append(out, b.String())
			}
			b.Reset()
			any = false
			continue
		default:
			b.WriteRune(c)
		}
		any = true
	}
	if any {
		out = append(out, b.String())
	}
	return out
}

func TestProbeFSAgainstBlkid(t *testing.T) {
	const uuid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	tests := []struct {
		name      string
		mkfs      string
		size      int64
		args      []string
		wantLabel string
	}{
		{name: "ext4 with label and UUID", mkfs: "mkfs.ext4", size: 8 << 20, args: []string{"-q", "-F", "-L", "rootfs", "-U", uuid}, wantLabel: "rootfs"},
		{name: "ext4 label with a blank", mkfs: "mkfs.ext4", size: 8 << 20, args: []string{"-q", "-F", "-L", "my root"}, wantLabel: "my root"},
		{name: "ext4 without label", mkfs: "mkfs.ext4", size: 8 << 20, args: []string{"-q", "-F"}},
		{name: "ext3", mkfs: "mkfs.ext3", size: 8 << 20, args: []string{"-q", "-F", "-L", "old"}, wantLabel: "old"},
		{name: "ext2", mkfs: "mkfs.ext2", size: 8 << 20, args: []string{"-q", "-F", "-L", "older"}, wantLabel: "older"},
		{name: "xfs", mkfs: "mkfs.xfs", size: 320 << 20, args: []string{"-q", "-f", "-L", "xroot", "-m", "uuid=" + uuid}, wantLabel: "xroot"},
		{name: "xfs with a 12-byte label", mkfs: "mkfs.xfs", size: 320 << 20, args: []string{"-q", "-f", "-L", "twelve_bytes"}, wantLabel: "twelve_bytes"},
		{name: "btrfs", mkfs: "mkfs.btrfs", size: 128 << 20, args: []string{"-q", "-f", "-L", "broot", "-U", uuid}, wantLabel: "broot"},
		{name: "vfat FAT32", mkfs: "mkfs.vfat", size: 40 << 20, args: []string{"-F", "32", "-n", "EFI", "-i", "1234abcd"}, wantLabel: "EFI"},
		{name: "vfat FAT16", mkfs: "mkfs.vfat", size: 16 << 20, args: []string{"-F", "16", "-n", "DATA DISK"}, wantLabel: "DATA DISK"},
		{name: "vfat FAT12", mkfs: "mkfs.vfat", size: 1 << 20, args: []string{"-F", "12", "-n", "SMALL"}, wantLabel: "SMALL"},
		{name: "vfat without label", mkfs: "mkfs.vfat", size: 16 << 20, args: []string{"-F", "32"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool(t, tt.mkfs)
			img := sparseFile(t, tt.size)
			run(t, "", tt.mkfs, append(tt.args, img)...)
			vals := exportValues(run(t, "", "blkid", "-o", "export", "-p", img))
			if len(vals) != 1 {
				t.Fatalf("blkid printed %v", vals)
			}
			want := fsID{Type: vals[0]["TYPE"], Label: vals[0]["LABEL"], UUID: vals[0]["UUID"]}
			if want.Label != tt.wantLabel {
				t.Fatalf("blkid says LABEL %q, mkfs was given %q", want.Label, tt.wantLabel)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := probeFS(f)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("probeFS (-blkid +got):\n%s", diff)
			}
			// Cut short, the image is no file system or an error.
			for _, cut := range []int64{0, 511, 1024 + 60, 4096, 64<<10 + 100} {
				id, err := probeFS(io.NewSectionReader(f, 0, cut))
				if err == nil && id.Type != want.Type {
					t.Errorf("cut at %d: %+v", cut, id)
				}
			}
		})
	}
}

func TestReadPartTableAgainstPartx(t *testing.T) {
	tests := []struct {
		name string
		tool string
		// make writes the table to the image.
		make func(t *testing.T, img string)
	}{
		{name: "GPT of sgdisk", tool: "sgdisk", make: func(t *testing.T, img string) {
			run(t, "", "sgdisk", "-n1:0:+8M", "-c1:efi", "-n2:0:+8M", "-c2:rootfs", "-u2:0FC63DAF-8483-4772-8E79-3D69D8477DE4", img)
		}},
		{name: "GPT with a gap and a long name", tool: "sgdisk", make: func(t *testing.T, img string) {
			run(t, "", "sgdisk", "-n1:0:+4M", "-c1:a name of thirty-six characters 012", "-n3:0:+4M", "-c3:swap", img)
		}},
		{name: "MBR of sfdisk", tool: "sfdisk", make: func(t *testing.T, img string) {
			run(t, "label: dos\nlabel-id: 0x1234abcd\n,8M\n,8M,L,*\n", "sfdisk", "-q", img)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tool(t, tt.tool)
			img := sparseFile(t, 40<<20)
			tt.make(t, img)
			want := map[int]part{}
			for _, v := range exportValues(run(t, "", "partx", "-g", "-P", "-o", "NR,NAME,UUID", img)) {
				var n int
				for _, c := range v["NR"] {
					n = n*10 + int(c-'0')
				}
				want[n] = part{Name: v["NAME"], UUID: v["UUID"]}
			}
			if len(want) < 2 {
				t.Fatalf("partx saw %v", want)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := readPartTable(f, 512)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("partitions (-partx +got):\n%s", diff)
			}
		})
	}
}

// gptEntry is a partition of a GPT that makeGPT writes.
type gptEntry struct {
	slot       int
	name, guid string // guid in text form
}

// makeGPT writes a disk of sectors of sector bytes with a protective MBR
// and a GPT of count entries of esize bytes at LBA 2; mutate changes the
// header before its CRC is computed.
func makeGPT(sector, sectors int, count, esize uint32, entries []gptEntry, mutate func(h []byte)) []byte {
	disk := make([]byte, sector*sectors)
	disk[446+4] = 0xee
	disk[510], disk[511] = 0x55, 0xaa
	array := make([]byte, int(count)*int(esize))
	for _, e := range entries {
		ent := array[e.slot*int(esize):]
		copy(ent, "\xaf\x3d\xc6\x0f\x83\x84\x72\x47\x8e\x79\x3d\x69\xd8\x47\x7d\xe4") // Linux data
		copy(ent[16:32], guidBytes(e.guid))
		for i, c := range utf16.Encode([]rune(e.name)) {
			binary.LittleEndian.PutUint16(ent[56+2*i:], c)
		}
	}
	copy(disk[2*sector:], array)
	h := disk[sector : sector+92]
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x10000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], 1)
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], count)
	binary.LittleEndian.PutUint32(h[84:], esize)
	binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(array))
	if mutate != nil {
		mutate(h)
	}
	binary.LittleEndian.PutUint32(h[16:], 0)
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:binary.LittleEndian.Uint32(h[12:])%uint32(sector+1)]))
	return disk
}

// guidBytes is the on-disk (mixed-endian) form of a GUID's text.
func guidBytes(s string) []byte {
	var raw []byte
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '-' {
			continue
		}
		var b byte
		for _, c := range s[i : i+2] {
			b = b<<4 | byte(strings.IndexRune("0123456789abcdef", c))
		}
		raw = append(raw, b)
		i++
	}
	b := append([]byte(nil), raw...)
	b[0], b[1], b[2], b[3] = raw[3], raw[2], raw[1], raw[0]
	b[4], b[5], b[6], b[7] = raw[5], raw[4], raw[7], raw[6]
	return b
}

func TestReadGPT(t *testing.T) {
	const guid = "5a3e6c1d-0b2f-4c3e-9a8b-7c6d5e4f3a2b"
	entries := []gptEntry{{slot: 0, name: "efi", guid: guid}, {slot: 2, name: "données", guid: "00000000-0000-0000-0000-000000000001"}}
	want := map[int]part{1: {Name: "efi", UUID: guid}, 3: {Name: "données", UUID: "00000000-0000-0000-0000-000000000001"}}
	tests := []struct {
		name    string
		disk    []byte
		sector  int64
		want    map[int]part
		wantErr string
	}{
		{name: "512-byte sectors", disk: makeGPT(512, 64, 128, 128, entries, nil), sector: 512, want: want},
		{name: "4096-byte sectors", disk: makeGPT(4096, 16, 128, 128, entries, nil), sector: 4096, want: want},
		{name: "256-byte entries", disk: makeGPT(512, 128, 128, 256, entries, nil), sector: 512, want: want},
		{name: "no GPT: the MBR", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) { h[0] = 'X' }), sector: 512,
			wantErr: "protective (GPT) MBR without a valid GPT"},
		{name: "10^9 entries", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) {
			binary.LittleEndian.PutUint32(h[80:], 1e9)
		}), sector: 512, wantErr: "GPT of 1000000000 entries"},
		{name: "4 GiB of entries", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) {
			binary.LittleEndian.PutUint32(h[80:], 1<<31)
			binary.LittleEndian.PutUint32(h[84:], 4096)
		}), sector: 512, wantErr: "GPT of 2147483648 entries of 4096 bytes"},
		{name: "entry size 0", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) {
			binary.LittleEndian.PutUint32(h[84:], 0)
		}), sector: 512, wantErr: "GPT entry size 0"},
		{name: "entry size 200", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) {
			binary.LittleEndian.PutUint32(h[84:], 200)
		}), sector: 512, wantErr: "GPT entry size 200"},
		{name: "header size past the sector", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) {
			binary.LittleEndian.PutUint32(h[12:], 1<<31)
		}), sector: 512, wantErr: "GPT header size 2147483648"},
		{name: "entries at LBA 0", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) {
			binary.LittleEndian.PutUint64(h[72:], 0)
		}), sector: 512, wantErr: "GPT entries at LBA 0"},
		{name: "entries past the end", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) {
			binary.LittleEndian.PutUint64(h[72:], 1<<30)
		}), sector: 512, wantErr: "GPT entries: EOF"},
		{name: "bad entries CRC", disk: makeGPT(512, 64, 128, 128, entries, func(h []byte) { h[88]++ }),
			sector: 512, wantErr: "GPT entries CRC"},
		{name: "truncated in the entries", disk: makeGPT(512, 64, 128, 128, entries, nil)[:3*512], sector: 512,
			wantErr: "GPT entries: unexpected EOF"},
		{name: "truncated in the header", disk: makeGPT(512, 64, 128, 128, entries, nil)[:600], sector: 512,
			wantErr: "protective (GPT) MBR without a valid GPT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			got, err := readPartTable(bytes.NewReader(tt.disk), tt.sector)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("allocated %d bytes", n)
			}
			if !checkErr(t, err, tt.wantErr) {
				return
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("partitions (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("bad header CRC", func(t *testing.T) {
		disk := makeGPT(512, 64, 128, 128, entries, nil)
		disk[512+16]++
		if _, err := readGPT(bytes.NewReader(disk), 512); err == nil || !strings.Contains(err.Error(), "GPT header CRC") {
			t.Errorf("error %v", err)
		}
	})
}

// Synthetic superblocks, for the tests that must not need mkfs and
// for the fuzz seeds.

func makeExt(label, uuid string) []byte {
	b := make([]byte, 2048)
	sb := b[1024:]
	binary.LittleEndian.PutUint16(sb[56:], 0xef53)
	binary.LittleEndian.PutUint32(sb[96:], 0x40) // extents
	copy(sb[104:], uuidBytes(uuid))
	copy(sb[120:136], label)
	return b
}

func uuidBytes(s string) []byte {
	g := guidBytes(s)
	b := append([]byte(nil), g...)
	b[0], b[1], b[2], b[3] = g[3], g[2], g[1], g[0]
	b[4], b[5], b[6], b[7] = g[5], g[4], g[7], g[6]
	return b
}

func makeXFS(label, uuid string) []byte {
	b := make([]byte, 512)
	copy(b, "XFSB")
	copy(b[32:], uuidBytes(uuid))
	copy(b[108:120], label)
	return b
}

func makeBtrfs(label, uuid string) []byte {
	b := make([]byte, 68<<10)
	sb := b[64<<10:]
	copy(sb[64:], "_BHRfS_M")
	copy(sb[32:], uuidBytes(uuid))
	copy(sb[299:], label)
	return b
}

// makeFAT writes a FAT16 (fat32 false) or FAT32 file system with its
// label in the root directory; a FAT32 root's cluster chain loops.
func makeFAT(label string, fat32 bool) []byte {
	b := make([]byte, 64<<10)
	bs := b[:512]
	bs[0] = 0xeb
	binary.LittleEndian.PutUint16(bs[11:], 512)
	bs[13] = 1 // sectors per cluster
	binary.LittleEndian.PutUint16(bs[14:], 4)
	bs[16] = 2
	bs[21] = 0xf8
	root := 0
	if fat32 {
		binary.LittleEndian.PutUint32(bs[36:], 4)
		binary.LittleEndian.PutUint32(bs[44:], 3)
		bs[66] = 0x29
		copy(bs[67:], []byte{0xcd, 0xab, 0x34, 0x12})
		copy(bs[82:], "FAT32   ")
		binary.LittleEndian.PutUint32(b[4*512+3*4:], 3) // cluster 3 -> 3
		root = (4 + 2*4 + 1) * 512
	} else {
		binary.LittleEndian.PutUint16(bs[17:], 64)
		binary.LittleEndian.PutUint16(bs[22:], 4)
		bs[38] = 0x29
		copy(bs[39:], []byte{0xcd, 0xab, 0x34, 0x12})
		copy(bs[54:], "FAT16   ")
		root = (4 + 2*4) * 512
	}
	bs[510], bs[511] = 0x55, 0xaa
	if label != "" {
		ent := b[root+32:] // after a deleted entry
		b[root] = 0xe5
		copy(ent, label+strings.Repeat(" ", 11-len(label)))
		ent[11] = 0x08
	}
	return b
}

func TestProbeFS(t *testing.T) {
	const uuid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	tests := []struct {
		name    string
		img     []byte
		want    fsID
		wantErr error
	}{
		{name: "ext4", img: makeExt("rootfs", uuid), want: fsID{Type: "ext4", Label: "rootfs", UUID: uuid}},
		{name: "ext label of 16 bytes", img: makeExt("0123456789abcdef", uuid), want: fsID{Type: "ext4", Label: "0123456789abcdef", UUID: uuid}},
		{name: "xfs", img: makeXFS("root", uuid), want: fsID{Type: "xfs", Label: "root", UUID: uuid}},
		{name: "btrfs", img: makeBtrfs("broot", uuid), want: fsID{Type: "btrfs", Label: "broot", UUID: uuid}},
		{name: "FAT16", img: makeFAT("EFI", false), want: fsID{Type: "vfat", Label: "EFI", UUID: "1234-ABCD"}},
		{name: "FAT32 with a looping root directory", img: makeFAT("", true), want: fsID{Type: "vfat", UUID: "1234-ABCD"}},
		{name: "FAT32", img: makeFAT("ROOT", true), want: fsID{Type: "vfat", Label: "ROOT", UUID: "1234-ABCD"}},
		{name: "FAT root directory past the end", img: makeFAT("EFI", false)[:4096], wantErr: io.ErrUnexpectedEOF},
		{name: "FAT NO NAME", img: makeFAT("NO NAME", false), want: fsID{Type: "vfat", UUID: "1234-ABCD"}},
		{name: "zeros", img: make([]byte, 1<<20), wantErr: errNoFS},
		{name: "empty", wantErr: errNoFS},
		{name: "ext cut in the magic", img: makeExt("x", uuid)[:1024+57], wantErr: errNoFS},
		{name: "btrfs cut in the label", img: makeBtrfs("x", uuid)[:64<<10+300], wantErr: errNoFS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := probeFS(bytes.NewReader(tt.img))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("probeFS (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzBlockID feeds the partition table and superblock readers any
// bytes: they answer or fail, never panic.
func FuzzBlockID(f *testing.F) {
	const uuid = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	f.Add(makeGPT(512, 40, 128, 128, []gptEntry{{slot: 0, name: "rootfs", guid: uuid}}, nil))
	f.Add(makeGPT(512, 6, 4, 128, []gptEntry{{slot: 1, name: "efi", guid: uuid}}, nil))
	f.Add(makeExt("rootfs", uuid))
	f.Add(makeXFS("root", uuid))
	f.Add(makeBtrfs("broot", uuid))
	f.Add(makeFAT("EFI", false))
	f.Add(makeFAT("ROOT", true))
	f.Fuzz(func(t *testing.T, b []byte) {
		parts, err := readPartTable(bytes.NewReader(b), 512)
		if err == nil && len(parts) > gptMaxArray/128 {
			t.Errorf("%d partitions", len(parts))
		}
		_, _ = probeFS(bytes.NewReader(b))
	})
}
