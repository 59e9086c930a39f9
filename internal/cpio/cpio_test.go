package cpio

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// file is one archive entry with its body, as tests write and read them.
type file struct {
	Header
	Body string
}

// writeArchive writes files with a Writer and returns the archive.
func writeArchive(t testing.TB, files []file) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, f := range files {
		h := f.Header
		if err := w.WriteHeader(&h); err != nil {
			t.Fatalf("WriteHeader(%q): %v", h.Name, err)
		}
		if _, err := io.WriteString(w, f.Body); err != nil {
			t.Fatalf("Write(%q): %v", h.Name, err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return buf.Bytes()
}

// readArchive reads every entry of data and its body.
func readArchive(data []byte) ([]file, error) {
	r := NewReader(bytes.NewReader(data))
	var files []file
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return files, err
		}
		body, err := io.ReadAll(r)
		if err != nil {
			return files, err
		}
		files = append(files, file{Header: *h, Body: string(body)})
	}
}

// tinyTree is a small tree with every entry type.
func tinyTree() []file {
	return []file{
		{Header: Header{Name: ".", Mode: fs.ModeDir | 0o755}},
		{Header: Header{Name: "etc", Mode: fs.ModeDir | 0o755}},
		{Header: Header{Name: "etc/hostname", Mode: 0o644, Size: 6}, Body: "node1\n"},
		{Header: Header{Name: "etc/localtime", Mode: fs.ModeSymlink | 0o777, Linkname: "../usr/share/zoneinfo/UTC"}},
		{Header: Header{Name: "dev", Mode: fs.ModeDir | 0o755}},
		{Header: Header{Name: "dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Rdevmajor: 5, Rdevminor: 1}},
		{Header: Header{Name: "dev/sda", Mode: fs.ModeDevice | 0o660, GID: 6, Rdevmajor: 8}},
		{Header: Header{Name: "run", Mode: fs.ModeDir | fs.ModeSticky | 0o777, ModTime: 1700000000}},
		{Header: Header{Name: "run/initctl", Mode: fs.ModeNamedPipe | 0o600}},
		{Header: Header{Name: "run/sock", Mode: fs.ModeSocket | 0o666}},
		{Header: Header{Name: "usr/bin/su", Mode: fs.ModeSetuid | 0o755, UID: 0, GID: 0, Size: 9}, Body: "#!/bin/su"},
		{Header: Header{Name: "home/user/.profile", Mode: 0o600, UID: 1000, GID: 1000, Size: 0}},
	}
}

// withIdentity returns files with the identity fields a Writer assigns.
func withIdentity(files []file) []file {
	var out []file
	for i, f := range files {
		f.Ino = uint32(i + 1)
		f.Nlink = 1
		if f.Mode.IsDir() {
			f.Nlink = 2
		}
		if f.Mode.Type() == fs.ModeSymlink {
			f.Size = 0
		}
		out = append(out, f)
	}
	return out
}

func TestRoundTrip(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 70000)
	tests := []struct {
		name  string
		files []file
	}{
		{name: "empty archive"},
		{name: "tiny tree", files: tinyTree()},
		{name: "body lengths around padding", files: []file{
			{Header: Header{Name: "a", Mode: 0o644, Size: 1}, Body: "1"},
			{Header: Header{Name: "bb", Mode: 0o644, Size: 2}, Body: "22"},
			{Header: Header{Name: "ccc", Mode: 0o644, Size: 3}, Body: "333"},
			{Header: Header{Name: "dddd", Mode: 0o644, Size: 4}, Body: "4444"},
			{Header: Header{Name: "eeeee", Mode: 0o644, Size: 5}, Body: "55555"},
		}},
		{name: "symlink target lengths", files: []file{
			{Header: Header{Name: "l1", Mode: fs.ModeSymlink | 0o777, Linkname: "a"}},
			{Header: Header{Name: "l2", Mode: fs.ModeSymlink | 0o777, Linkname: "ab"}},
			{Header: Header{Name: "l3", Mode: fs.ModeSymlink | 0o777, Linkname: "abc"}},
			{Header: Header{Name: "l4", Mode: fs.ModeSymlink | 0o777, Linkname: "abcd"}},
			{Header: Header{Name: "long", Mode: fs.ModeSymlink | 0o777, Linkname: strings.Repeat("x", MaxLinknameLen)}},
		}},
		{name: "large body and extreme fields", files: []file{
			{Header: Header{Name: "big", Mode: 0o644, Size: int64(len(big)), UID: 1<<32 - 1, GID: 1<<32 - 1, ModTime: MaxModTime}, Body: big},
			{Header: Header{Name: strings.Repeat("n", MaxNameLen), Mode: 0o644}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := writeArchive(t, tc.files)
			if len(data)%blockSize != 0 {
				t.Errorf("archive is %d bytes, not a multiple of %d", len(data), blockSize)
			}
			got, err := readArchive(data)
			if err != nil {
				t.Fatalf("read back: %v", err)
			}
			if diff := cmp.Diff(withIdentity(tc.files), got); diff != "" {
				t.Errorf("read back (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGolden(t *testing.T) {
	got := writeArchive(t, tinyTree())
	golden := filepath.Join("testdata", "tiny.cpio")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("archive differs from %s (-want +got):\n%s", golden, cmp.Diff(hexLines(want), hexLines(got)))
	}
}

// TestHeaderBytes pins one entry byte for byte, independently of the golden
// file: field order, upper-case hex, namesize with NUL, and both paddings.
func TestHeaderBytes(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddFile("./etc/hosts", 0o644, 0, 0, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := "070701" +
		"00000001" + // ino
		"000081A4" + // mode: regular, 0644
		"00000000" + "00000000" + // uid, gid
		"00000001" + // nlink
		"00000000" + // mtime
		"00000005" + // filesize
		"00000000" + "00000000" + "00000000" + "00000000" + // dev, rdev
		"0000000A" + // namesize: "etc/hosts" and NUL
		"00000000" + // check
		"etc/hosts\x00" + // 110+10 is aligned already
		"hello" + "\x00\x00\x00" + // body padded to 8
		"070701" + "00000000" + "00000000" + "00000000" + "00000000" + "00000001" +
		strings.Repeat("00000000", 6) + "0000000B" + "00000000" +
		"TRAILER!!!\x00" + "\x00\x00\x00" // 110+11 padded to 124
	want += strings.Repeat("\x00", blockSize-len(want))
	if diff := cmp.Diff(hexLines([]byte(want)), hexLines(buf.Bytes())); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

func TestReproducible(t *testing.T) {
	first := writeArchive(t, tinyTree())
	second := writeArchive(t, tinyTree())
	if !bytes.Equal(first, second) {
		t.Fatal("two archives of the same tree differ")
	}
	// Identity fields in the input must not leak into the archive.
	files := tinyTree()
	for i := range files {
		files[i].Ino, files[i].Nlink, files[i].Devmajor, files[i].Devminor = 777, 9, 8, 3
	}
	if third := writeArchive(t, files); !bytes.Equal(first, third) {
		t.Fatal("Ino, Nlink or Devmajor/Devminor in the headers changed the archive")
	}
}

func TestNameNormalization(t *testing.T) {
	tests := []struct {
		name string
		mode fs.FileMode
		want string
	}{
		{name: "x", want: "x"},
		{name: "./x", want: "x"},
		{name: "/x", want: "x"},
		{name: "//x", want: "x"},
		{name: "a//b/", want: "a/b", mode: fs.ModeDir},
		{name: "a/./b", want: "a/b"},
		{name: ".", want: ".", mode: fs.ModeDir},
		{name: "./", want: ".", mode: fs.ModeDir},
		{name: "/", want: ".", mode: fs.ModeDir},
		{name: "..foo/bar..", want: "..foo/bar.."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := writeArchive(t, []file{{Header: Header{Name: tc.name, Mode: tc.mode | 0o755}}})
			got, err := readArchive(data)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 1 || got[0].Name != tc.want {
				t.Errorf("stored %q as %+v, want name %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestWriteHeaderRefuses(t *testing.T) {
	tests := []struct {
		name   string
		header Header
		want   string // in the error message
	}{
		{name: "empty name", header: Header{Mode: 0o644}, want: "empty name"},
		{name: "dotdot", header: Header{Name: "a/../../etc/shadow", Mode: 0o644}, want: `".." component`},
		{name: "leading dotdot", header: Header{Name: "../x", Mode: 0o644}, want: `".." component`},
		{name: "only dotdot", header: Header{Name: "..", Mode: fs.ModeDir}, want: `".." component`},
		{name: "NUL in name", header: Header{Name: "a\x00b", Mode: 0o644}, want: "NUL"},
		{name: "name too long", header: Header{Name: strings.Repeat("n", MaxNameLen+1), Mode: 0o644}, want: "longer than 4095"},
		{name: "trailer name", header: Header{Name: "./TRAILER!!!", Mode: 0o644}, want: "reserved"},
		{name: "root as file", header: Header{Name: ".", Mode: 0o644}, want: "must be a directory"},
		{name: "append-only bit", header: Header{Name: "x", Mode: fs.ModeAppend | 0o644}, want: "cannot hold"},
		{name: "irregular file", header: Header{Name: "x", Mode: fs.ModeIrregular}, want: "unsupported file type"},
		{name: "char bit without device bit", header: Header{Name: "x", Mode: fs.ModeCharDevice}, want: "unsupported file type"},
		{name: "negative mtime", header: Header{Name: "x", ModTime: -1}, want: "modification time -1"},
		{name: "mtime after 2106", header: Header{Name: "x", ModTime: MaxModTime + 1}, want: "modification time 4294967296"},
		{name: "4 GiB file", header: Header{Name: "x", Size: 4 << 30}, want: "size 4294967296 is outside"},
		{name: "negative size", header: Header{Name: "x", Size: -1}, want: "size -1"},
		{name: "directory with body", header: Header{Name: "d", Mode: fs.ModeDir, Size: 1}, want: "directory has size 1; only regular files have a body"},
		{name: "fifo with body", header: Header{Name: "p", Mode: fs.ModeNamedPipe, Size: 1}, want: "only regular files have a body"},
		{name: "empty symlink", header: Header{Name: "l", Mode: fs.ModeSymlink}, want: "target is empty"},
		{name: "NUL in symlink", header: Header{Name: "l", Mode: fs.ModeSymlink, Linkname: "a\x00"}, want: "NUL"},
		{name: "symlink too long", header: Header{Name: "l", Mode: fs.ModeSymlink, Linkname: strings.Repeat("x", MaxLinknameLen+1)}, want: "longer than 4095"},
		{name: "symlink size mismatch", header: Header{Name: "l", Mode: fs.ModeSymlink, Linkname: "abc", Size: 2}, want: "differs from its target"},
		{name: "hard link", header: Header{Name: "x", Mode: 0o644, Linkname: "y"}, want: "write hard links with WriteHardLinked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			err := w.WriteHeader(&tc.header)
			if !errors.Is(err, ErrHeader) {
				t.Fatalf("WriteHeader = %v, want an error wrapping ErrHeader", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("WriteHeader = %q, want it to mention %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("a refused header wrote %d bytes", buf.Len())
			}
			// A refused header leaves the Writer usable.
			if err := w.AddFile("ok", 0o644, 0, 0, []byte("ok")); err != nil {
				t.Fatalf("AddFile after refused header: %v", err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := readArchive(buf.Bytes())
			if err != nil || len(got) != 1 || got[0].Ino != 1 {
				t.Errorf("archive after refused header = %+v, %v; want one entry with inode 1", got, err)
			}
		})
	}
}

func TestWriterBodyErrors(t *testing.T) {
	t.Run("too long", func(t *testing.T) {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.WriteHeader(&Header{Name: "f", Mode: 0o644, Size: 3}); err != nil {
			t.Fatal(err)
		}
		n, err := w.Write([]byte("abcd"))
		if n != 3 || !errors.Is(err, ErrWriteTooLong) {
			t.Fatalf("Write = %d, %v; want 3, ErrWriteTooLong", n, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("Close after too-long write: %v", err)
		}
		got, err := readArchive(buf.Bytes())
		if err != nil || len(got) != 1 || got[0].Body != "abc" {
			t.Errorf("archive = %+v, %v; want f with body abc", got, err)
		}
	})
	t.Run("body on a directory", func(t *testing.T) {
		w := NewWriter(io.Discard)
		if err := w.AddDir("d", 0o755, 0, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, ErrWriteTooLong) {
			t.Fatalf("Write = %v, want ErrWriteTooLong", err)
		}
	})
	t.Run("short body is sticky", func(t *testing.T) {
		w := NewWriter(io.Discard)
		if err := w.WriteHeader(&Header{Name: "f", Mode: 0o644, Size: 3}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte("a")); err != nil {
			t.Fatal(err)
		}
		err := w.AddDir("d", 0o755, 0, 0)
		if err == nil || !strings.Contains(err.Error(), "2 bytes short") {
			t.Fatalf("WriteHeader after short body = %v, want a short-body error", err)
		}
		if err2 := w.Close(); err2 == nil || err2.Error() != err.Error() {
			t.Errorf("Close = %v, want the same error %v", err2, err)
		}
	})
	t.Run("AddFile with file type", func(t *testing.T) {
		w := NewWriter(io.Discard)
		if err := w.AddFile("f", fs.ModeDir|0o755, 0, 0, nil); !errors.Is(err, ErrHeader) {
			t.Fatalf("AddFile = %v, want ErrHeader", err)
		}
	})
	t.Run("underlying error is sticky", func(t *testing.T) {
		w := NewWriter(failWriter{})
		err := w.AddDir("d", 0o755, 0, 0)
		if !errors.Is(err, errBroken) {
			t.Fatalf("AddDir = %v, want errBroken", err)
		}
		if err := w.Close(); !errors.Is(err, errBroken) {
			t.Errorf("Close = %v, want errBroken", err)
		}
	})
	t.Run("use after close", func(t *testing.T) {
		w := NewWriter(io.Discard)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Errorf("second Close = %v, want nil", err)
		}
		if err := w.AddDir("d", 0o755, 0, 0); err == nil {
			t.Error("AddDir after Close succeeded")
		}
	})
}

var errBroken = errors.New("broken pipe")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errBroken }

// hexLines renders b as lines of 16 bytes for readable diffs.
func hexLines(b []byte) []string {
	var lines []string
	for i := 0; i < len(b); i += 16 {
		end := min(i+16, len(b))
		lines = append(lines, fmt.Sprintf("%04x %q", i, b[i:end]))
	}
	return lines
}

func BenchmarkWriter(b *testing.B) {
	body := bytes.Repeat([]byte("x"), 300)
	names := make([]string, 1000)
	for i := range names {
		names[i] = fmt.Sprintf("usr/share/doc/pkg%03d/file%03d", i/10, i)
	}
	b.SetBytes(int64(len(names) * len(body)))
	b.ReportAllocs()
	for b.Loop() {
		w := NewWriter(io.Discard)
		for _, name := range names {
			if err := w.AddFile(name, 0o644, 0, 0, body); err != nil {
				b.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReader(b *testing.B) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	body := bytes.Repeat([]byte("x"), 300)
	for i := range 1000 {
		if err := w.AddFile(fmt.Sprintf("usr/share/doc/file%03d", i), 0o644, 0, 0, body); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(data))
		for {
			_, err := r.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
		}
	}
}
