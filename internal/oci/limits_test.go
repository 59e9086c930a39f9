package oci

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fragment is a run of data in a sparse test file; the rest is holes.
type fragment struct {
	off  int64
	data []byte
}

// ustarBlock is a ustar header block. archive/tar cannot write the
// headers of a sparse file, so sparseTar writes them itself.
func ustarBlock(name string, typ byte, size int64) []byte {
	b := make([]byte, 512)
	copy(b[0:100], name)
	copy(b[100:108], "0000644\x00")
	copy(b[108:116], "0000000\x00")
	copy(b[116:124], "0000000\x00")
	copy(b[124:136], fmt.Sprintf("%011o\x00", size))
	copy(b[136:148], fmt.Sprintf("%011o\x00", testTime.Unix()))
	b[156] = typ
	copy(b[257:265], "ustar\x0000")
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// padBlock pads b to a multiple of 512 bytes.
func padBlock(b []byte) []byte {
	if r := len(b) % 512; r != 0 {
		b = append(b, make([]byte, 512-r)...)
	}
	return b
}

// paxRecord is one "LEN key=value\n" record; LEN counts itself.
func paxRecord(k, v string) string {
	rest := " " + k + "=" + v + "\n"
	n := len(rest)
	for n != len(strconv.Itoa(n))+len(rest) {
		n = len(strconv.Itoa(n)) + len(rest)
	}
	return strconv.Itoa(n) + rest
}

// sparseTar returns a tar archive of one regular file name, size bytes
// long, holding frags and holes elsewhere, in the PAX sparse format 1.0
// (GNU tar --sparse --format=posix), followed by the entries after.
func sparseTar(t testing.TB, name string, size int64, frags []fragment, after ...tentry) []byte {
	t.Helper()
	var out []byte
	recs := paxRecord("GNU.sparse.major", "1") + paxRecord("GNU.sparse.minor", "0") +
		paxRecord("GNU.sparse.name", name) + paxRecord("GNU.sparse.realsize", strconv.FormatInt(size, 10))
	out = append(out, ustarBlock("PaxHeaders.0/"+name, tar.TypeXHeader, int64(len(recs)))...)
	out = append(out, padBlock([]byte(recs))...)
	sparseMap := strconv.Itoa(len(frags)) + "\n"
	var data []byte
	for _, f := range frags {
		sparseMap += fmt.Sprintf("%d\n%d\n", f.off, len(f.data))
		data = append(data, f.data...)
	}
	body := append(padBlock([]byte(sparseMap)), data...)
	out = append(out, ustarBlock("GNUSparseFile.0/"+name, tar.TypeReg, int64(len(body)))...)
	out = append(out, padBlock(body)...)
	rest := tarBytes(t, after...) // ends with the end-of-archive blocks
	return append(out, rest...)
}

// writeTemp writes data to a new file in a test directory.
func writeTemp(t testing.TB, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const gib = int64(1) << 30

// sparseFrags are the data of the sparse test files: a block at each end.
func sparseFrags(size int64) []fragment {
	return []fragment{
		{0, bytes.Repeat([]byte("A"), 4096)},
		{size - 4096, bytes.Repeat([]byte("Z"), 4096)},
	}
}

// TestSparseEntry imports a tarball of a few kilobytes whose one file is
// 10 GiB of holes around two blocks of data: the import takes seconds and
// the file, whole and correct, takes kilobytes of disk.
func TestSparseEntry(t *testing.T) {
	const size = 10 * gib
	tests := []struct {
		name    string
		tarball func(t *testing.T) string
	}{
		{"PAX sparse format", func(t *testing.T) string {
			return writeTemp(t, "sparse.tar", sparseTar(t, "big", size, sparseFrags(size), file("after", "after")))
		}},
		{"GNU tar --sparse", func(t *testing.T) string {
			if _, err := exec.LookPath("tar"); err != nil {
				t.Skip("no tar command")
			}
			src := t.TempDir()
			f, err := os.Create(filepath.Join(src, "big"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for _, fr := range sparseFrags(size) {
				if _, err := f.WriteAt(fr.data, fr.off); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.WriteFile(filepath.Join(src, "after"), []byte("after"), 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "sparse.tar")
			if b, err := exec.Command("tar", "--sparse", "-C", src, "-cf", out, "big", "after").CombinedOutput(); err != nil {
				t.Fatalf("tar: %v\n%s", err, b)
			}
			return out
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.tarball(t)
			if fi, err := os.Stat(src); err != nil || fi.Size() > 64<<10 {
				t.Fatalf("test tarball: %v, %d bytes", err, fi.Size())
			}
			_, dest := newDest(t)
			start := time.Now()
			if _, err := Import(t.Context(), src, dest, Options{}); err != nil {
				t.Fatal(err)
			}
			// Generous: the holes are read as zeros and compared, a few
			// seconds of memory bandwidth.
			if d := time.Since(start); d > 60*time.Second {
				t.Errorf("import took %v", d)
			}
			p := filepath.Join(dest, "big")
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			if st.Size != size {
				t.Errorf("size %d, want %d", st.Size, size)
			}
			if used := st.Blocks * 512; used > 1<<20 {
				t.Errorf("the file uses %d bytes of disk, want at most 1 MiB", used)
			}
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got := map[int64]string{}
			for _, off := range []int64{0, 4090, size / 2, size - 4096, size - 1} {
				b := make([]byte, 1)
				if _, err := f.ReadAt(b, off); err != nil {
					t.Fatal(err)
				}
				got[off] = string(b)
			}
			want := map[int64]string{0: "A", 4090: "A", size / 2: "\x00", size - 4096: "Z", size - 1: "Z"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("bytes at offsets (-want +got):\n%s", diff)
			}
			if b, err := os.ReadFile(filepath.Join(dest, "after")); err != nil || string(b) != "after" {
				t.Errorf("the entry after the sparse one: %q, %v", b, err)
			}
		})
	}
}

// TestCopySparse checks that zero blocks become holes and the content is
// what was read, whatever the layout of data and zeros.
func TestCopySparse(t *testing.T) {
	data := func(n int) []byte { return bytes.Repeat([]byte("d"), n) }
	zeros := func(n int) []byte { return make([]byte, n) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name      string
		content   []byte
		maxBlocks int64 // at most this many 4 KiB blocks allocated
	}{
		{"empty", nil, 0},
		{"short data", data(10), 1},
		{"all zeros", zeros(3 << 20), 0},
		{"short zeros", zeros(100), 0},
		{"zeros then data", cat(zeros(2<<20), data(5)), 1},
		{"data then zeros", cat(data(5), zeros(2<<20+7)), 1},
		{"data, hole, data across buffers", cat(data(4096), zeros(1<<20), data(4097)), 3},
		{"zero bytes inside a data block stay", cat(data(100), zeros(4000), data(100)), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "f")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := &budget{Limits: Limits{}.withDefaults()}
			n, err := copySparse(t.Context(), f, bytes.NewReader(tc.content), make([]byte, 1<<20), b)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(len(tc.content)) || b.size != n {
				t.Errorf("copied %d, counted %d, want %d", n, b.size, len(tc.content))
			}
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.content) {
				t.Errorf("content differs: %d bytes, want %d", len(got), len(tc.content))
			}
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			if blocks := st.Blocks * 512 / 4096; blocks > tc.maxBlocks {
				t.Errorf("%d blocks allocated, want at most %d", blocks, tc.maxBlocks)
			}
		})
	}
}

// deepTar is a tarball of a chain of directories depth deep, each listed,
// as an attack on path resolution would make it.
func deepTar(t testing.TB, depth int) []byte {
	var entries []tentry
	name := ""
	for range depth {
		name += "d/"
		entries = append(entries, dir(name))
	}
	return tarBytes(t, append(entries, file(name+"f", "x"))...)
}

// TestLimits imports tarballs that pass each limit: each is refused with
// an error naming the entry and the limit, before the entry is written.
func TestLimits(t *testing.T) {
	tests := []struct {
		name    string
		tarball []byte
		limits  Limits
		wantErr string
		limit   string // LimitError.Limit
		absent  string // an entry that must not have been written
	}{
		{
			name:    "size",
			tarball: tarBytes(t, file("a", strings.Repeat("a", 600)), file("b", strings.Repeat("b", 600))),
			limits:  Limits{MaxSize: 1000},
			wantErr: `entry "b": the files unpacked so far would reach 1.2 KiB, over the import size limit of 1000 bytes`,
			limit:   LimitSize,
			absent:  "b",
		},
		{
			name:    "sparse entry over the size limit",
			tarball: sparseTar(t, "big", 10*gib, sparseFrags(10*gib)),
			limits:  Limits{MaxSize: gib},
			wantErr: `entry "big": the files unpacked so far would reach 10 GiB, over the import size limit of 1 GiB`,
			limit:   LimitSize,
			absent:  "big",
		},
		{
			name:    "entries",
			tarball: tarBytes(t, dir("d/"), file("d/1", ""), file("d/2", ""), file("d/3", "")),
			limits:  Limits{MaxEntries: 3},
			wantErr: `entry "d/3": more than 3 entries, the import limit`,
			limit:   LimitEntries,
			absent:  "d/3",
		},
		{
			name:    "path length",
			tarball: tarBytes(t, file("short", ""), file("0123456789/0123456789", "")),
			limits:  Limits{MaxPathLength: 20},
			wantErr: `entry "0123456789/0123456789": path is 22 bytes long, over the import limit of 20`,
			limit:   LimitPathLength,
			absent:  "0123456789",
		},
		{
			name:    "depth",
			tarball: tarBytes(t, file("a/b/c", ""), file("a/b/c/d", "")),
			limits:  Limits{MaxDepth: 3},
			wantErr: `entry "a/b/c/d": path is 4 directories deep, over the import limit of 3`,
			limit:   LimitDepth,
		},
		{
			name:    "3000 deep with the default limits",
			tarball: deepTar(t, 3000),
			wantErr: `entry "` + strings.Repeat("d/", 257) + `": path is 257 directories deep, over the import limit of 256`,
			limit:   LimitDepth,
			absent:  strings.Repeat("d/", 257),
		},
		{
			name:    "long names with the default limits",
			tarball: tarBytes(t, file(strings.Repeat("n", 200)+"/"+strings.Repeat("n", 4000), "")),
			wantErr: `path is 4202 bytes long, over the import limit of 4096`,
			limit:   LimitPathLength,
			absent:  strings.Repeat("n", 200),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := writeTemp(t, "in.tar", tc.tarball)
			base, dest := newDest(t)
			start := time.Now()
			_, err := Import(t.Context(), src, dest, Options{Limits: tc.limits})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != tc.limit {
				t.Errorf("error %v is not a LimitError for %q", err, tc.limit)
			}
			// Refusals are immediate (no quadratic walk, no expansion of
			// the holes): generous for a loaded machine.
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("refusal took %v", d)
			}
			if tc.absent != "" {
				if _, err := os.Lstat(filepath.Join(dest, tc.absent)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was written (%v)", tc.absent, err)
				}
			}
			checkContained(t, base)
		})
	}
}

// TestPathMax refuses an entry whose path under the destination reaches
// PATH_MAX, although it is within the import's own limit: it could not be
// opened by its path, so the image could not be built.
func TestPathMax(t *testing.T) {
	_, dest := newDest(t)
	abs, err := filepath.Abs(dest)
	if err != nil {
		t.Fatal(err)
	}
	// "/" + name is 4095 bytes: within MaxPathLength; with dest before it,
	// at least PATH_MAX.
	name := strings.Repeat("p", 200) + "/" + strings.Repeat("q", 3893)
	src := writeTemp(t, "in.tar", tarBytes(t, file(name, "")))
	_, err = Import(t.Context(), src, dest, Options{})
	want := fmt.Sprintf("path would be %d bytes long where it is written, over the system's limit (PATH_MAX) of 4095", len(abs)+1+len(name))
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want it to contain %q", err, want)
	}
}

// TestCancelInsideEntry cancels an import in the middle of a sparse entry
// of a terabyte (minutes of zeros to read): it returns within a second or
// so, naming the entry.
func TestCancelInsideEntry(t *testing.T) {
	const size = 1 << 40
	src := writeTemp(t, "in.tar", sparseTar(t, "huge", size, sparseFrags(size)))
	_, dest := newDest(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Import(ctx, src, dest, Options{Limits: Limits{MaxSize: 2 * size}})
		done <- err
	}()
	// Wait until the entry is being written.
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(dest, "huge")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the import did not start the entry")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		// The bound is a second; this leaves room for a loaded machine.
		if d := time.Since(cancelled); d > 5*time.Second {
			t.Errorf("returned %v after the cancel", d)
		}
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `entry "huge"`) {
			t.Errorf("error = %v, want context.Canceled naming the entry", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the import went on for 30 s after the cancel")
	}
}
