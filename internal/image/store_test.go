package image

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInstall(t *testing.T) {
	im := &Images{Chroots: t.TempDir(), Provision: t.TempDir()}
	fill := func(files map[string]string) func(string) error {
		return func(dst string) error { writeTree(t, dst, files); return nil }
	}
	if err := im.Install("rocky", false, nil, fill(map[string]string{"bin/sh": "v1"})); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(im.Dir("rocky"), "readonly"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		replace bool
		update  bool
		fill    func(string) error
		want    string // content of bin/sh afterwards
		wantErr string
		extra   string // a file the new tree must also have
	}{
		{name: "existing without replace", fill: fill(map[string]string{"bin/sh": "v2"}), want: "v1", wantErr: "already exists"},
		{name: "failed fill keeps the old image", replace: true, fill: func(string) error { return errors.New("pull failed") }, want: "v1", wantErr: "pull failed"},
		{name: "replace", replace: true, fill: fill(map[string]string{"bin/sh": "v2"}), want: "v2"},
		{name: "update starts from the current tree", replace: true, update: true, fill: fill(map[string]string{"etc/new": "x"}), want: "v2", extra: "etc/new"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var base func(string) error
			if tc.update {
				base = func(dst string) error {
					data, err := os.ReadFile(filepath.Join(im.RootFS("rocky"), "bin/sh"))
					writeTree(t, dst, map[string]string{"bin/sh": string(data)})
					return err
				}
			}
			err := im.Install("rocky", tc.replace, base, tc.fill)
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want %q", err, tc.wantErr)
			}
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(filepath.Join(im.RootFS("rocky"), "bin/sh"))
			if string(got) != tc.want {
				t.Errorf("bin/sh = %q, want %q", got, tc.want)
			}
			if tc.extra != "" {
				if _, err := os.Stat(filepath.Join(im.RootFS("rocky"), tc.extra)); err != nil {
					t.Error(err)
				}
			}
			if !im.ReadOnly("rocky") {
				t.Error("the readonly marker was lost")
			}
			leftovers, _ := filepath.Glob(filepath.Join(im.Chroots, ".*"))
			if len(leftovers) != 0 {
				t.Errorf("left behind: %v", leftovers)
			}
		})
	}
}

func TestRenameDelete(t *testing.T) {
	im := &Images{Chroots: t.TempDir(), Provision: t.TempDir()}
	for _, n := range []string{"a", "b"} {
		if err := im.Install(n, false, nil, func(dst string) error { writeTree(t, dst, map[string]string{"bin/sh": n}); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	writeTree(t, filepath.Dir(im.Archive("a")), map[string]string{"a.img": "x", "a.img.gz": "y"})
	if err := im.Rename("a", "b"); err == nil || !strings.Contains(err.Error(), `image "b" already exists`) {
		t.Errorf("rename onto an existing image: %v", err)
	}
	if err := im.Rename("a", "bad/name"); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Errorf("rename to a bad name: %v", err)
	}
	if err := im.Rename("a", "c"); err != nil {
		t.Fatal(err)
	}
	if len(im.Archives("a")) != 0 {
		t.Error("archives of the old name are still there")
	}
	if err := im.Delete("c"); err != nil {
		t.Fatal(err)
	}
	names, _ := im.Names()
	if strings.Join(names, ",") != "b" {
		t.Errorf("images %v, want only b", names)
	}
	if err := im.Delete("nosuch"); err == nil {
		t.Error("deleting a missing image succeeded")
	}
}
