package cpio

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rawHeader builds a newc header with the given mode, size and name by
// hand, so tests can describe archives the Writer would refuse to write.
func rawHeader(mode, size uint32, namesize uint32, name string) string {
	var b strings.Builder
	b.WriteString(magic)
	for _, v := range []uint32{1, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, namesize, 0} {
		fmt.Fprintf(&b, "%08x", v)
	}
	b.WriteString(name)
	return b.String()
}

// entryBytes is a complete, padded entry with a correct namesize.
func entryBytes(mode uint32, name, body string) string {
	s := rawHeader(mode, uint32(len(body)), uint32(len(name)+1), name+"\x00")
	s += strings.Repeat("\x00", int(padLen(int64(len(s)))))
	s += body + strings.Repeat("\x00", int(padLen(int64(len(body)))))
	return s
}

// patch returns s with repl written over it at offset at.
func patch(s string, at int, repl string) string { return s[:at] + repl + s[at+len(repl):] }

func trailerBytes() string { return entryBytes(0, trailer, "") }

func TestReaderAcceptsGNUStyle(t *testing.T) {
	// GNU cpio writes "./"-prefixed names when given them, lower- or
	// upper-case hex depending on version, and hard links as entries
	// sharing an inode with nlink > 1.
	data := entryBytes(0o40755, ".", "") +
		patch(entryBytes(0o100644, "./etc/a", "x"), 38, "00000002") +
		strings.ToLower(entryBytes(0o100644, "etc/b", "yy")) +
		trailerBytes() + strings.Repeat("\x00", 300)
	got, err := readArchive([]byte(data))
	if err != nil {
		t.Fatal(err)
	}
	want := []file{
		{Header: Header{Name: ".", Mode: fs.ModeDir | 0o755, Ino: 1, Nlink: 1}},
		{Header: Header{Name: "etc/a", Mode: 0o644, Ino: 1, Nlink: 2, Size: 1}, Body: "x"},
		{Header: Header{Name: "etc/b", Mode: 0o644, Ino: 1, Nlink: 1, Size: 2}, Body: "yy"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("read (-want +got):\n%s", diff)
	}
}

func TestReaderRefuses(t *testing.T) {
	tests := []struct {
		name    string
		archive string
		want    string // in the error message
		wantEOF bool   // error wraps io.ErrUnexpectedEOF rather than ErrFormat
	}{
		{name: "empty input", archive: "", want: "offset 0: archive ends inside a header", wantEOF: true},
		{name: "old binary magic", archive: "\xc7\x71" + strings.Repeat("\x00", 200), want: `offset 0: cpio: invalid archive: bad magic "\xc7q\x00\x00\x00\x00"`},
		{name: "odc magic", archive: strings.Replace(trailerBytes(), "070701", "070707", 1), want: `offset 0: cpio: invalid archive: bad magic "070707"`},
		{name: "crc magic", archive: strings.Replace(trailerBytes(), "070701", "070702", 1), want: "bad magic"},
		{name: "bad hex in uid", archive: patch(entryBytes(0o100644, "f", ""), 22, "0000000g") + trailerBytes(), want: `offset 22: cpio: invalid archive: uid field "0000000g" is not 8 hex digits`},
		{name: "sign in namesize", archive: strings.Replace(trailerBytes(), "0000000b", "-000000b", 1), want: `offset 94: cpio: invalid archive: namesize field "-000000b"`},
		{name: "space in size", archive: patch(entryBytes(0o100644, "f", ""), 54, "0000 000") + trailerBytes(), want: `offset 54: cpio: invalid archive: filesize field "0000 000"`},
		{name: "name without NUL", archive: rawHeader(0o100644, 0, 4, "abcd") + trailerBytes(), want: `offset 113: cpio: invalid archive: name "abcd" is not NUL-terminated`},
		{name: "NUL inside name", archive: rawHeader(0o100644, 0, 4, "a\x00b\x00") + "\x00\x00" + trailerBytes(), want: `offset 111: cpio: invalid archive: name "a\x00b" contains a NUL byte`},
		{name: "zero namesize", archive: rawHeader(0o100644, 0, 0, "") + trailerBytes(), want: "offset 94: cpio: invalid archive: namesize 0"},
		{name: "empty name", archive: rawHeader(0o100644, 0, 1, "\x00") + "\x00" + trailerBytes(), want: "namesize 1"},
		{name: "huge namesize", archive: rawHeader(0o100644, 0, 0xffffffff, "x\x00"), want: "namesize 4294967295 is outside 2 to 4096"},
		{name: "dotdot", archive: entryBytes(0o100644, "../etc/passwd", "x") + trailerBytes(), want: `offset 110: cpio: invalid archive: name "../etc/passwd" contains a ".." component`},
		{name: "trailer in disguise", archive: entryBytes(0o100644, "./TRAILER!!!", "") + trailerBytes(), want: "reserved"},
		{name: "unknown file type", archive: entryBytes(0o170644, "f", "") + trailerBytes(), want: "offset 14: cpio: invalid archive: mode 0170644 has an unknown file type"},
		{name: "mode beyond 16 bits", archive: entryBytes(0o1100644, "f", "") + trailerBytes(), want: "bits outside the Unix mode"},
		{name: "directory with body", archive: entryBytes(0o40755, "d", "junk") + trailerBytes(), want: `offset 54: cpio: invalid archive: directory "d" has size 4`},
		{name: "empty symlink", archive: entryBytes(0o120777, "l", "") + trailerBytes(), want: `symlink "l" has a target of 0 bytes`},
		{name: "symlink too long", archive: entryBytes(0o120777, "l", strings.Repeat("t", 5000)) + trailerBytes(), want: "target of 5000 bytes"},
		{name: "NUL in symlink", archive: entryBytes(0o120777, "l", "a\x00b") + trailerBytes(), want: `offset 113: cpio: invalid archive: symlink "l" target "a\x00b" contains a NUL byte`},
		{name: "trailer with body", archive: entryBytes(0, trailer, "xx"), want: "end-of-archive entry has size 2"},
		{name: "missing trailer", archive: entryBytes(0o100644, "f", "abc"), want: "offset 116: archive ends inside a header", wantEOF: true},
		{name: "truncated header", archive: trailerBytes()[:50], want: "offset 50: archive ends inside a header", wantEOF: true},
		{name: "truncated name", archive: entryBytes(0o100644, "abcdef", "")[:113], want: "offset 113: archive ends inside a name", wantEOF: true},
		{name: "truncated symlink", archive: entryBytes(0o120777, "l", "target")[:115], want: "offset 115: archive ends inside a symlink target", wantEOF: true},
		{name: "truncated body", archive: entryBytes(0o100644, "f", "abcdef")[:114], want: `offset 114: archive ends 2 bytes into the body of "f"`, wantEOF: true},
		{name: "body size beyond input", archive: rawHeader(0o100644, 0xffffffff, 2, "f\x00") + "xyz", want: `archive ends 3 bytes into the body of "f"`, wantEOF: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readArchive([]byte(tc.archive))
			if err == nil {
				t.Fatal("archive accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			wantErr := ErrFormat
			if tc.wantEOF {
				wantErr = io.ErrUnexpectedEOF
			}
			if !errors.Is(err, wantErr) {
				t.Errorf("error %q does not wrap %v", err, wantErr)
			}
		})
	}
}

func TestReaderStickyErrorAndEOF(t *testing.T) {
	r := NewReader(strings.NewReader(entryBytes(0o100644, "f", "abc") + trailerBytes()))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	// Leave the body unread: Next skips it.
	for range 3 {
		if _, err := r.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("Next after trailer = %v, want io.EOF", err)
		}
		if n, err := r.Read(make([]byte, 10)); n != 0 || !errors.Is(err, io.EOF) {
			t.Fatalf("Read after trailer = %d, %v; want 0, io.EOF", n, err)
		}
	}

	r = NewReader(strings.NewReader("garbage" + strings.Repeat("!", 200)))
	_, err1 := r.Next()
	_, err2 := r.Next()
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() {
		t.Errorf("Next twice on garbage = %v, %v; want the same error", err1, err2)
	}
}

// TestReaderTruncations cuts a valid archive at every length: each cut is
// refused as truncated, never accepted and never a panic.
func TestReaderTruncations(t *testing.T) {
	data := writeArchive(t, tinyTree())
	end := bytes.Index(data, []byte(trailer)) + len(trailer) + 1
	for n := range end {
		_, err := readArchive(data[:n])
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("archive cut to %d bytes: error %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
	if _, err := readArchive(data[:end]); err != nil {
		t.Fatalf("archive cut after the trailer name: %v", err)
	}
}

// TestReaderBoundedMemory feeds headers claiming 4 GiB bodies and the
// longest names: the Reader must not allocate by the claimed sizes.
func TestReaderBoundedMemory(t *testing.T) {
	var b strings.Builder
	for range 100 {
		b.WriteString(rawHeader(0o100644, 0xffffffff, 2, "f\x00"))
	}
	archive := b.String()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r := NewReader(strings.NewReader(archive))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, r); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reading a body longer than the input: %v, want io.ErrUnexpectedEOF", err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Errorf("reading allocated %d bytes, want under 1 MiB", got)
	}
}
