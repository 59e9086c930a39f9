// Package treetest reads a directory tree into a map a test can compare
// with cmp.Diff: each entry's path relative to the root, and its content,
// "-> TARGET" for a symbolic link or "/" for a directory.
package treetest

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// Read lists every entry under dir (dir itself left out); a failure to
// read one fails the test.
func Read(t testing.TB, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			got[rel] = "-> " + target
			return err
		case d.IsDir():
			got[rel] = "/"
		default:
			data, err := os.ReadFile(p)
			got[rel] = string(data)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}
