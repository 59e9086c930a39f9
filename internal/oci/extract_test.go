package oci

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// etcEscape is a name absolute entries would create on the host if they
// were not taken relative to the destination.
const etcEscape = "/etc/wwboot-oci-test-escape"

// TestHostileEntries applies archives that try to write outside the
// destination: each either fails with an error naming the entry, or (for
// names that are only absolute, and for symlinks, which are only text)
// lands inside; either way nothing outside the destination changes.
func TestHostileEntries(t *testing.T) {
	passwd, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		layers  [][]tentry
		wantErr string // substring of the error; "" for success
		want    map[string]string
	}{
		{
			name:    "dotdot",
			layers:  [][]tentry{{file("../sentinel/escape", "x")}},
			wantErr: `entry "../sentinel/escape": unsafe entry: "../sentinel/escape" climbs out`,
		},
		{
			name:    "dotdot inside a name",
			layers:  [][]tentry{{dir("a/"), file("a/../../sentinel/escape", "x")}},
			wantErr: `entry "a/../../sentinel/escape": unsafe entry`,
		},
		{
			name:    "absolute dotdot",
			layers:  [][]tentry{{file("/../sentinel/escape", "x")}},
			wantErr: `entry "/../sentinel/escape": unsafe entry`,
		},
		{
			name:   "dotdot that stays inside",
			layers: [][]tentry{{dir("a/"), file("a/../b", "b")}},
			want:   map[string]string{"a": "dir", "b": "file b"},
		},
		{
			name:   "absolute name lands inside",
			layers: [][]tentry{{file(etcEscape, "x")}},
			want:   map[string]string{"etc": "dir", strings.TrimPrefix(etcEscape, "/"): "file x"},
		},
		// Writing through a symlink to the real /etc is only tried with a
		// new, unique name: were the code broken, the test must not
		// clobber the host. "$BASE/victim" stands for /etc to try
		// overwriting an existing file (link/passwd).
		{
			name:    "symlink to /etc then a file through it",
			layers:  [][]tentry{{symlink("link", "/etc"), file("link/wwboot-oci-test-escape", "x")}},
			wantErr: `entry "link/wwboot-oci-test-escape": unsafe entry: "link" is a symbolic link (to "/etc")`,
		},
		{
			name:    "symlink to /etc from an earlier layer",
			layers:  [][]tentry{{symlink("link", "/etc")}, {file("link/wwboot-oci-test-escape", "x")}},
			wantErr: `layer 2: entry "link/wwboot-oci-test-escape": unsafe entry`,
		},
		{
			name:    "absolute symlink then overwriting a file through it",
			layers:  [][]tentry{{symlink("link", "$BASE/victim"), file("link/keep", "root::0:0::/:/bin/sh\n")}},
			wantErr: `entry "link/keep": unsafe entry: "link" is a symbolic link`,
		},
		{
			name:    "hard link to a file through an absolute symlink",
			layers:  [][]tentry{{symlink("link", "$BASE/victim"), hardlink("h", "link/keep")}},
			wantErr: `entry "h": hard link target "link/keep": unsafe entry`,
		},
		{
			name:    "symlink to dotdot then through it",
			layers:  [][]tentry{{symlink("up", ".."), file("up/sentinel/escape", "x")}},
			wantErr: `entry "up/sentinel/escape": unsafe entry: "up" is a symbolic link (to "..")`,
		},
		{
			name:    "symlink from an earlier layer",
			layers:  [][]tentry{{symlink("s", "../sentinel")}, {file("s/escape", "x")}},
			wantErr: `layer 2: entry "s/escape": unsafe entry: "s" is a symbolic link`,
		},
		{
			name:    "symlink deeper in the path",
			layers:  [][]tentry{{dir("a/"), symlink("a/b", "../.."), file("a/b/sentinel/escape", "x")}},
			wantErr: `entry "a/b/sentinel/escape": unsafe entry: "a/b" is a symbolic link`,
		},
		{
			name:    "chain of symlinks",
			layers:  [][]tentry{{symlink("x", "y"), symlink("y", "../sentinel"), file("x/escape", "x")}},
			wantErr: `entry "x/escape": unsafe entry: "x" is a symbolic link`,
		},
		{
			name:    "directory through a symlink",
			layers:  [][]tentry{{symlink("s", "../sentinel"), dir("s/d/")}},
			wantErr: `entry "s/d/": unsafe entry`,
		},
		{
			name:    "symlink through a symlink",
			layers:  [][]tentry{{symlink("s", "../sentinel"), symlink("s/l", "/")}},
			wantErr: `entry "s/l": unsafe entry`,
		},
		{
			name:    "hard link to /etc/passwd",
			layers:  [][]tentry{{hardlink("h", "/etc/passwd")}},
			wantErr: `entry "h": hard link target "/etc/passwd"`,
		},
		{
			name:    "hard link climbing out",
			layers:  [][]tentry{{hardlink("h", "../victim/keep")}},
			wantErr: `entry "h": hard link target: unsafe entry: "../victim/keep" climbs out`,
		},
		{
			name:    "hard link through a symlink",
			layers:  [][]tentry{{symlink("l", "../victim"), hardlink("h", "l/keep")}},
			wantErr: `entry "h": hard link target "l/keep": unsafe entry: "l" is a symbolic link`,
		},
		{
			name:    "hard link written through a symlink",
			layers:  [][]tentry{{file("f", "f"), symlink("l", "../sentinel"), hardlink("l/h", "f")}},
			wantErr: `entry "l/h": unsafe entry`,
		},
		{
			name:   "hard link to a symlink links the symlink",
			layers: [][]tentry{{symlink("s", "../victim/keep"), hardlink("h", "s")}},
			want:   map[string]string{"s": "symlink ../victim/keep", "h": "symlink ../victim/keep"},
		},
		{
			name:    "hard link to a directory",
			layers:  [][]tentry{{dir("d/"), hardlink("h", "d")}},
			wantErr: `entry "h": hard link target "d" is a directory`,
		},
		{
			name:   "file replaces a symlink, not written through it",
			layers: [][]tentry{{symlink("f", "../victim/keep")}, {file("f", "new")}},
			want:   map[string]string{"f": "file new"},
		},
		{
			name:   "directory replaces a symlink",
			layers: [][]tentry{{symlink("d", "../sentinel"), dir("d/"), file("d/x", "x")}},
			want:   map[string]string{"d": "dir", "d/x": "file x"},
		},
		{
			name:   "fifo replaces a symlink",
			layers: [][]tentry{{symlink("p", "../victim/keep"), fifo("p")}},
			want:   map[string]string{"p": "fifo"},
		},
		{
			name:    "whiteout through a symlink",
			layers:  [][]tentry{{symlink("l", "../victim")}, {file("l/.wh.keep", "")}},
			wantErr: `layer 2: entry "l/.wh.keep": unsafe entry`,
		},
		{
			name:    "opaque directory through a symlink",
			layers:  [][]tentry{{symlink("l", "../victim")}, {file("l/.wh..wh..opq", "")}},
			wantErr: `layer 2: entry "l/.wh..wh..opq": unsafe entry`,
		},
		{
			name:    "whiteout climbing out",
			layers:  [][]tentry{{file("../victim/.wh.keep", "")}},
			wantErr: `unsafe entry`,
		},
		{
			name:   "whiteout of a symlink removes the symlink only",
			layers: [][]tentry{{symlink("l", "../victim"), file("k", "k")}, {file(".wh.l", "")}},
			want:   map[string]string{"k": "file k"},
		},
		{
			name:    "whiteout of dotdot",
			layers:  [][]tentry{{file("a/.wh...", "")}},
			wantErr: `invalid whiteout name`,
		},
		{
			name:    "root as a file",
			layers:  [][]tentry{{file(".", "x")}},
			wantErr: `the root can only be a directory`,
		},
		{
			name:    "file under a file",
			layers:  [][]tentry{{file("f", "f"), file("f/g", "g")}},
			wantErr: `entry "f/g": "f" is not a directory`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resolverModes(t, func(t *testing.T, walk bool) {
				base, dest := newDest(t)
				t.Cleanup(func() { os.Remove(etcEscape) })
				var layers [][]byte
				for _, l := range tc.layers {
					l = slices.Clone(l)
					for i := range l {
						l[i].link = strings.ReplaceAll(l[i].link, "$BASE", base)
					}
					layers = append(layers, tarBytes(t, l...))
				}
				_, err := extractLayers(t, dest, walk, nil, layers...)
				switch {
				case tc.wantErr == "" && err != nil:
					t.Fatalf("extract: %v", err)
				case tc.wantErr != "" && err == nil:
					t.Fatalf("extract succeeded, want an error containing %q", tc.wantErr)
				case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
					t.Fatalf("error %q, want it to contain %q", err, tc.wantErr)
				}
				if tc.wantErr != "" && strings.Contains(tc.wantErr, "unsafe entry") && !errors.Is(err, ErrUnsafe) {
					t.Errorf("error %q does not wrap ErrUnsafe", err)
				}
				checkContained(t, base)
				if _, err := os.Lstat(etcEscape); err == nil {
					t.Errorf("%s was created on the host", etcEscape)
				}
				if now, err := os.ReadFile("/etc/passwd"); err != nil || sha256.Sum256(now) != sha256.Sum256(passwd) {
					t.Errorf("/etc/passwd changed")
				}
				if tc.want != nil {
					if diff := cmp.Diff(tc.want, shortTree(t, dest)); diff != "" {
						t.Errorf("tree (-want +got):\n%s", diff)
					}
				}
			})
		})
	}
}

// shortTree summarises the tree under root as "type [content]" by path.
func shortTree(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for p, n := range snapshot(t, root) {
		s := n.Type
		if n.Type == "file" || n.Type == "symlink" {
			s += " " + n.Content
		}
		out[p] = s
	}
	return out
}

// TestLayerSemantics checks whiteouts, opaque directories and replacements
// across layers, as docker applies them.
func TestLayerSemantics(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]tentry
		want   map[string]string
	}{
		{
			name:   "whiteout removes a file",
			layers: [][]tentry{{file("a", "a"), file("b", "b")}, {file(".wh.a", "")}},
			want:   map[string]string{"b": "file b"},
		},
		{
			name:   "whiteout removes a directory tree",
			layers: [][]tentry{{dir("d/"), dir("d/e/"), file("d/e/f", "f"), file("k", "k")}, {file(".wh.d", "")}},
			want:   map[string]string{"k": "file k"},
		},
		{
			name:   "whiteout of something missing",
			layers: [][]tentry{{file("k", "k")}, {file("nope/.wh.x", ""), file(".wh.y", "")}},
			want:   map[string]string{"k": "file k"},
		},
		{
			name:   "whiteout spares what its own layer wrote",
			layers: [][]tentry{{file("a", "old")}, {file("a", "new"), file(".wh.a", "")}},
			want:   map[string]string{"a": "file new"},
		},
		{
			name: "opaque directory hides the lower layers only",
			layers: [][]tentry{
				{dir("d/"), file("d/old", "old"), dir("d/sub/"), file("d/sub/lower", "l")},
				{dir("d/"), file("d/new", "new"), dir("d/sub/"), file("d/sub/upper", "u"), file("d/.wh..wh..opq", "")},
			},
			want: map[string]string{"d": "dir", "d/new": "file new", "d/sub": "dir", "d/sub/upper": "file u"},
		},
		{
			name: "opaque directory first",
			layers: [][]tentry{
				{dir("d/"), file("d/old", "old"), file("keep", "k")},
				{dir("d/"), file("d/.wh..wh..opq", ""), file("d/new", "new")},
			},
			want: map[string]string{"d": "dir", "d/new": "file new", "keep": "file k"},
		},
		{
			name: "opaque directory keeps a same-layer file in an unlisted subdirectory",
			layers: [][]tentry{
				{dir("d/"), dir("d/s/"), file("d/s/old", "old")},
				{file("d/s/new", "new"), file("d/.wh..wh..opq", "")},
			},
			want: map[string]string{"d": "dir", "d/s": "dir", "d/s/new": "file new"},
		},
		{
			name:   "opaque root",
			layers: [][]tentry{{file("a", "a")}, {file(".wh..wh..opq", ""), file("b", "b")}},
			want:   map[string]string{"b": "file b"},
		},
		{
			name:   "other aufs metadata is ignored",
			layers: [][]tentry{{file("a", "a")}, {dir(".wh..wh.plnk/"), file(".wh..wh.plnk/1.2", "")}},
			want:   map[string]string{"a": "file a"},
		},
		{
			name:   "file replaces a directory",
			layers: [][]tentry{{dir("x/"), file("x/y", "y")}, {file("x", "file")}},
			want:   map[string]string{"x": "file file"},
		},
		{
			name:   "directory replaces a file",
			layers: [][]tentry{{file("x", "file")}, {dir("x/"), file("x/y", "y")}},
			want:   map[string]string{"x": "dir", "x/y": "file y"},
		},
		{
			name:   "directory listed again keeps its contents",
			layers: [][]tentry{{dir("x/"), file("x/y", "y")}, {dir("x/").withMode(0o700)}},
			want:   map[string]string{"x": "dir", "x/y": "file y"},
		},
		{
			name:   "symlink replaced by a file",
			layers: [][]tentry{{symlink("l", "target")}, {file("l", "file")}},
			want:   map[string]string{"l": "file file"},
		},
		{
			name:   "hard link to a file of an earlier layer",
			layers: [][]tentry{{file("a", "a")}, {hardlink("b", "a")}},
			want:   map[string]string{"a": "file a", "b": "file a"},
		},
		{
			name:   "hard link to itself is kept",
			layers: [][]tentry{{file("a", "a"), hardlink("a", "a")}},
			want:   map[string]string{"a": "file a"},
		},
		{
			name:   "implicit parents are made",
			layers: [][]tentry{{file("a/b/c", "c")}},
			want:   map[string]string{"a": "dir", "a/b": "dir", "a/b/c": "file c"},
		},
		{
			name:   "unknown entry type is skipped",
			layers: [][]tentry{{{name: "x", typ: 'Z', mode: 0o644}, file("y", "y")}},
			want:   map[string]string{"y": "file y"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resolverModes(t, func(t *testing.T, walk bool) {
				base, dest := newDest(t)
				var layers [][]byte
				for _, l := range tc.layers {
					layers = append(layers, tarBytes(t, l...))
				}
				if _, err := extractLayers(t, dest, walk, nil, layers...); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, shortTree(t, dest)); diff != "" {
					t.Errorf("tree (-want +got):\n%s", diff)
				}
				checkContained(t, base)
			})
		})
	}
}

// TestLayerMetadata checks owners, modes (setuid, sticky), times, hard
// links, devices, fifos and extended attributes of the test image, and
// that a directory's metadata is set after its contents were written.
func TestLayerMetadata(t *testing.T) {
	resolverModes(t, func(t *testing.T, walk bool) {
		_, dest := newDest(t)
		x, err := extractLayers(t, dest, walk, nil, tarBytes(t, baseLayer()...))
		if err != nil {
			t.Fatal(err)
		}
		if !walk && x.noOpenat2 {
			t.Log("openat2 is not available here; the walk was used")
		}
		if diff := cmp.Diff(wantBase(), snapshot(t, dest)); diff != "" {
			t.Errorf("base layer (-want +got):\n%s", diff)
		}
	})
	t.Run("two layers", func(t *testing.T) {
		_, dest := newDest(t)
		if _, err := extractLayers(t, dest, false, nil, tarBytes(t, baseLayer()...), tarBytes(t, upperLayer()...)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(wantUpper(), snapshot(t, dest)); diff != "" {
			t.Errorf("two layers (-want +got):\n%s", diff)
		}
	})
	t.Run("read-only directory", func(t *testing.T) {
		_, dest := newDest(t)
		entries := []tentry{dir("ro/").withMode(0o555), file("ro/f", "f")}
		if _, err := extractLayers(t, dest, false, nil, tarBytes(t, entries...)); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(expected(entries...), snapshot(t, dest)); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// TestUnprivileged checks what an import does without root: device nodes
// are skipped with a warning, fifos are made, owners are not set.
func TestUnprivileged(t *testing.T) {
	_, dest := newDest(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	root, err := openDest(dest, false)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(root)
	x := newExtractor(root, log, Limits{}, 0)
	x.privileged = false
	entries := []tentry{
		{name: "dev/null", typ: tar.TypeChar, mode: 0o666, major: 1, minor: 3},
		{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660, major: 8, minor: 0},
		fifo("dev/fifo"),
		file("owned", "x").withOwner(1234, 1234),
	}
	if err := x.applyTar(t.Context(), bytes.NewReader(tarBytes(t, entries...))); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"dev": "dir", "dev/fifo": "fifo", "owned": "file x"}
	if diff := cmp.Diff(want, shortTree(t, dest)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
	for _, w := range []string{`entry=dev/null`, `entry=dev/sda`, "not root: skipping device node", "not root: imported files are owned by the importing user"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log lacks %q:\n%s", w, logs.String())
		}
	}
	if got := snapshot(t, dest)["owned"].Owner; got == "1234:1234" {
		t.Errorf("owner %s set although unprivileged", got)
	}
}

// TestRefusedXattr checks that an extended attribute the filesystem
// refuses is skipped with a warning, once.
func TestRefusedXattr(t *testing.T) {
	_, dest := newDest(t)
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	entries := []tentry{
		file("a", "a").withXattr("bogus.attr", "v"),
		file("b", "b").withXattr("bogus.attr", "v"),
		dir("d/").withXattr("bogus.attr", "v"),
		symlink("l", "a").withXattr("user.onlink", "v"),
	}
	if _, err := extractLayers(t, dest, false, log, tarBytes(t, entries...)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "attr=bogus.attr"); n != 1 {
		t.Errorf("%d warnings about bogus.attr, want 1:\n%s", n, logs.String())
	}
	if diff := cmp.Diff(map[string]string{"a": "file a", "b": "file b", "d": "dir", "l": "symlink a"}, shortTree(t, dest)); diff != "" {
		t.Errorf("tree (-want +got):\n%s", diff)
	}
}

// TestCleanName checks the mapping of entry names to relative paths.
func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		unsafe   bool
	}{
		{in: "a/b", want: "a/b"},
		{in: "./a/b/", want: "a/b"},
		{in: "/etc/x", want: "etc/x"},
		{in: "//etc//x", want: "etc/x"},
		{in: "a/../b", want: "b"},
		{in: "/", want: "."},
		{in: "./", want: "."},
		{in: "", want: "."},
		{in: "..", unsafe: true},
		{in: "../x", unsafe: true},
		{in: "a/../../x", unsafe: true},
		{in: "/../x", unsafe: true},
		{in: "a/b/../../../x", unsafe: true},
		{in: "..x", want: "..x"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := cleanName(tc.in)
			if tc.unsafe {
				if !errors.Is(err, ErrUnsafe) {
					t.Fatalf("cleanName(%q) = %q, %v; want ErrUnsafe", tc.in, got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("cleanName(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
