package atomicfile

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteFile(t *testing.T) {
	for _, tc := range []struct {
		name     string
		existing *os.FileMode // mode of a file already there
		perm     os.FileMode
		want     os.FileMode
	}{
		{name: "new file gets perm", perm: 0o600, want: 0o600},
		{name: "replaced file keeps its mode", existing: ptr(os.FileMode(0o640)), perm: 0o600, want: 0o640},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f")
			if tc.existing != nil {
				if err := os.WriteFile(path, []byte("old"), *tc.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, *tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, []byte("new"), tc.perm); err != nil {
				t.Fatal(err)
			}
			data, _ := os.ReadFile(path)
			st, _ := os.Stat(path)
			if string(data) != "new" || st.Mode().Perm() != tc.want {
				t.Errorf("content %q mode %v, want %q %v", data, st.Mode().Perm(), "new", tc.want)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the file", len(entries))
			}
		})
	}
}

func TestWriteFileMissingDir(t *testing.T) {
	err := WriteFile(filepath.Join(t.TempDir(), "no", "such", "f"), nil, 0o600)
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("error = %v", err)
	}
}

func TestLockExcludes(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := Lock(context.Background(), lock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, lock); err == nil {
		t.Fatal("second lock taken while the first is held")
	}
	unlock()
	unlock2, err := Lock(context.Background(), lock)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	unlock2()
}

func TestRemoveStale(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "nodes.conf")
	for _, name := range []string{".nodes.conf.tmp-123", ".nodes.conf.tmp-abc", "nodes.conf", ".other.tmp-1"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveStale(path); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	if strings.Join(left, " ") != ".other.tmp-1 nodes.conf" {
		t.Errorf("left %v", left)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCreateParts(t *testing.T) {
	many := make([][]byte, 0, 3*maxIovecs)
	for i := range 3 * maxIovecs {
		many = append(many, []byte(strings.Repeat(string(rune('a'+i%26)), i%7)))
	}
	for _, tc := range []struct {
		name  string
		parts [][]byte
		perm  os.FileMode
	}{
		{name: "no parts", perm: 0o640},
		{name: "empty parts among others", parts: [][]byte{nil, []byte("head"), {}, []byte("body")}, perm: 0o600},
		{name: "more parts than one writev takes", parts: many, perm: 0o644},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "f.pack")
			if err := os.WriteFile(path, []byte("old content"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := CreateParts(path, tc.parts, tc.perm); err != nil {
				t.Fatal(err)
			}
			var want strings.Builder
			for _, p := range tc.parts {
				want.Write(p)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(path)
			if string(data) != want.String() || st.Mode().Perm() != tc.perm {
				t.Errorf("%d bytes mode %v, want %d bytes mode %v", len(data), st.Mode().Perm(), want.Len(), tc.perm)
			}
			if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the file", len(entries))
			}
		})
	}
}

func TestCreatePartsMissingDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gone")
	err := CreateParts(filepath.Join(dir, "f"), [][]byte{[]byte("x")}, 0o600)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "f")) || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("error = %v, want one naming the file and the missing directory", err)
	}
}

// A Temp finished is a file under a temporary name that Link gives
// other names, new or replacing a file, each the same inode; nothing
// else is left in the directory.
func TestTempAndLink(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.pack")
	if err := os.WriteFile(old, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := NewTemp(filepath.Join(dir, "batch"))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.WriteAt([][]byte{[]byte("new "), []byte("content")}, 0); err != nil {
		t.Fatal(err)
	}
	tmp, err := w.Finish(0o640, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(filepath.Base(tmp), ".batch.tmp-") {
		t.Errorf("temporary name %s", tmp)
	}
	for _, name := range []string{"new.pack", "old.pack"} {
		if err := Link(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Remove(tmp); err != nil {
		t.Fatal(err)
	}
	src, _ := os.Stat(filepath.Join(dir, "new.pack"))
	for _, name := range []string{"new.pack", "old.pack"} {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(p)
		if string(data) != "new content" || st.Mode().Perm() != 0o640 || !os.SameFile(st, src) {
			t.Errorf("%s: %q mode %v, same file %v", name, data, st.Mode().Perm(), os.SameFile(st, src))
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the two names", len(entries))
	}
	if err := Link(filepath.Join(dir, "missing"), filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "link "+filepath.Join(dir, "x")) {
		t.Errorf("link of a missing file: %v", err)
	}
}

// A Temp is written at offsets by many goroutines at once, each part
// where it was put, with room left as zeros; Finish gives it its mode,
// and Remove leaves nothing behind.
func TestTempWrittenAtOffsets(t *testing.T) {
	dir := t.TempDir()
	tmp, err := NewTemp(filepath.Join(dir, "batch"))
	if err != nil {
		t.Fatal(err)
	}
	const parts, size = 64, 3 * maxIovecs // more buffers than one pwritev takes
	want := make([]byte, 16+parts*size)
	var wg sync.WaitGroup
	for i := range parts {
		bufs := make([][]byte, size)
		for k := range bufs {
			bufs[k] = []byte{byte('a' + i%26)}
		}
		off := int64(16 + i*size)
		copy(want[off:], strings.Repeat(string(rune('a'+i%26)), size))
		wg.Go(func() {
			if err := tmp.WriteAt(bufs, off); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	name, err := tmp.Finish(0o640, true)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(name)
	if !bytes.Equal(data, want) || st.Mode().Perm() != 0o640 || !strings.HasPrefix(filepath.Base(name), ".batch.tmp-") {
		t.Errorf("%s: %d bytes (equal %v), mode %v", name, len(data), bytes.Equal(data, want), st.Mode().Perm())
	}

	gone, err := NewTemp(filepath.Join(dir, "other"))
	if err != nil {
		t.Fatal(err)
	}
	if err := gone.WriteAt([][]byte{[]byte("x")}, 0); err != nil {
		t.Fatal(err)
	}
	gone.Remove()
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want the finished one", len(entries))
	}
	if _, err := NewTemp(filepath.Join(dir, "missing", "f")); err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "missing", "f")) {
		t.Errorf("a Temp in a missing directory: %v", err)
	}
}
