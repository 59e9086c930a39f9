package cpio

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// linkView is what a reader needs to tell hard links apart.
type linkView struct {
	Name  string
	Ino   uint32
	Nlink uint32
	Size  int64
	Body  string
}

func linkViews(t *testing.T, archive []byte) []linkView {
	t.Helper()
	files, err := readArchive(archive)
	if err != nil {
		t.Fatalf("reading archive: %v", err)
	}
	var out []linkView
	for _, f := range files {
		out = append(out, linkView{f.Name, f.Ino, f.Nlink, f.Size, f.Body})
	}
	return out
}

// hardLinkArchive writes a directory, a file with three names and a plain
// file after it.
func hardLinkArchive(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.AddDir("d", 0o755, 0, 0); err != nil {
		t.Fatal(err)
	}
	h := &Header{Name: "d/z", Mode: 0o640, UID: 7, GID: 8, ModTime: 1700000000, Size: 3}
	if err := w.WriteHardLinked(h, []string{"d/x", "./d/y"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFile("e", 0o644, 0, 0, []byte("plain")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteHardLinked(t *testing.T) {
	got := linkViews(t, hardLinkArchive(t))
	want := []linkView{
		{Name: "d", Ino: 1, Nlink: 2},
		{Name: "d/x", Ino: 2, Nlink: 3},
		{Name: "d/y", Ino: 2, Nlink: 3},
		{Name: "d/z", Ino: 2, Nlink: 3, Size: 3, Body: "abc"},
		{Name: "e", Ino: 3, Nlink: 1, Size: 5, Body: "plain"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive (-want +got):\n%s", diff)
	}
}

func TestWriteHardLinkedRefuses(t *testing.T) {
	tests := []struct {
		name   string
		header Header
		others []string
		want   string
	}{
		{name: "directory", header: Header{Name: "d", Mode: fs.ModeDir | 0o755}, others: []string{"e"}, want: "only regular files"},
		{name: "symlink", header: Header{Name: "l", Mode: fs.ModeSymlink | 0o777, Linkname: "t"}, others: []string{"m"}, want: "only regular files"},
		{name: "dot-dot link", header: Header{Name: "f", Mode: 0o644}, others: []string{"../f"}, want: `hard link "../f"`},
		{name: "empty link name", header: Header{Name: "f", Mode: 0o644}, others: []string{""}, want: "empty name"},
		{name: "bad header", header: Header{Name: "", Mode: 0o644}, others: []string{"g"}, want: "empty name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := NewWriter(&buf)
			err := w.WriteHardLinked(&tc.header, tc.others)
			if !errors.Is(err, ErrHeader) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("WriteHardLinked = %v, want an ErrHeader containing %q", err, tc.want)
			}
			if buf.Len() != 0 {
				t.Errorf("a refused header wrote %d bytes", buf.Len())
			}
			// The refusal is not sticky.
			if err := w.AddFile("next", 0o644, 0, 0, nil); err != nil {
				t.Errorf("next entry after a refusal: %v", err)
			}
		})
	}
}

// TestHardLinksLikeGNUCPIO compares the layout with GNU cpio's own for a
// file with two names, and checks that GNU cpio unpacks the Writer's
// names as links of one file.
func TestHardLinksLikeGNUCPIO(t *testing.T) {
	bin := gnuCPIO(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "x"), []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "x"), filepath.Join(src, "y")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-o", "-H", "newc", "--quiet")
	cmd.Dir = src
	cmd.Stdin = strings.NewReader("x\ny\n")
	gnu, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -o: %v", err)
	}
	// Ours, for the same walk: the group is written where its last name
	// comes.
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteHardLinked(&Header{Name: "y", Mode: 0o644, Size: 3}, []string{"x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	layout := func(views []linkView) []linkView {
		base := views[0].Ino // GNU cpio records the real inode
		for i := range views {
			views[i].Ino -= base
		}
		return views
	}
	if diff := cmp.Diff(layout(linkViews(t, gnu)), layout(linkViews(t, buf.Bytes()))); diff != "" {
		t.Errorf("layout (-GNU cpio +Writer):\n%s", diff)
	}

	dir := t.TempDir()
	runCPIO(t, bin, dir, hardLinkArchive(t), "-idm", "--quiet", "--no-absolute-filenames")
	var inos []uint64
	for _, name := range []string{"d/x", "d/y", "d/z"} {
		info, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		st := info.Sys().(*syscall.Stat_t)
		inos = append(inos, st.Ino)
		if st.Nlink != 3 {
			t.Errorf("%s: link count %d, want 3", name, st.Nlink)
		}
		body, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(body) != "abc" {
			t.Errorf("%s: body %q, want %q", name, body, "abc")
		}
	}
	if inos[0] != inos[1] || inos[1] != inos[2] {
		t.Errorf("unpacked names have inodes %v, want one inode", inos)
	}
}
