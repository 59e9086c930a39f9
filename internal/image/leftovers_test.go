package image

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// installerEnv makes the test binary a process that installs image
// "killed" in the chroots directory it names and, once its fill has
// started, says so on stdout and waits to be killed.
const installerEnv = "WWBOOT_IMAGE_TEST_INSTALLER"

func TestMain(m *testing.M) {
	if dir := os.Getenv(installerEnv); dir != "" {
		im := &Images{Chroots: dir}
		err := im.Install("killed", false, nil, func(dst string) error {
			if err := os.WriteFile(filepath.Join(dst, "partial"), []byte("x"), 0o644); err != nil {
				return err
			}
			os.Stdout.WriteString("filling\n")
			select {} // until killed
		})
		os.Stderr.WriteString("install returned: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// dotEntries lists the hidden entries of dir (trees being made, locks).
func dotEntries(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out
}

// TestKilledImportLeftovers kills an import in the middle (SIGKILL, so it
// cleans nothing): while it ran, another Install left its tree alone; once
// it is dead, the next Install removes the tree and its lock file.
func TestKilledImportLeftovers(t *testing.T) {
	im := &Images{Chroots: t.TempDir(), Provision: t.TempDir()}
	installer := exec.Command(os.Args[0], "-test.run=^$")
	installer.Env = append(os.Environ(), installerEnv+"="+im.Chroots)
	installer.Stderr = os.Stderr
	out, err := installer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := installer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = installer.Process.Kill()
		_ = installer.Wait()
	}()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "filling\n" {
		t.Fatalf("installer said %q, %v", line, err)
	}
	live := dotEntries(t, im.Chroots)
	if len(live) != 2 || live[1] != live[0]+".lock" || !strings.HasPrefix(live[0], ".killed.new-") {
		t.Fatalf("while the import runs, chroots hold %q, want its tree and lock", live)
	}
	if _, err := os.Stat(filepath.Join(im.Chroots, live[0], "rootfs", "partial")); err != nil {
		t.Fatalf("the running import's tree: %v", err)
	}

	fill := func(dst string) error { writeTree(t, dst, map[string]string{"bin/sh": "sh"}); return nil }
	if err := im.Install("other", false, nil, fill); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(live, dotEntries(t, im.Chroots)); diff != "" {
		t.Errorf("an Install during a live import removed its tree (-before +after):\n%s", diff)
	}

	if err := installer.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = installer.Wait()
	if diff := cmp.Diff(live, dotEntries(t, im.Chroots)); diff != "" {
		t.Fatalf("the killed import did not leave its tree (-want +got):\n%s", diff)
	}
	if err := im.Install("another", false, nil, fill); err != nil {
		t.Fatal(err)
	}
	if got := dotEntries(t, im.Chroots); len(got) != 0 {
		t.Errorf("after the next Install, chroots still hold %q", got)
	}
	names, err := im.Names()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"another", "other"}, names); diff != "" {
		t.Errorf("images (-want +got):\n%s", diff)
	}
}

// TestRemoveStale covers the leftovers a killed process can leave at each
// step of making a tree, and what must be kept.
func TestRemoveStale(t *testing.T) {
	tests := []struct {
		name  string
		make  func(t *testing.T, dir string)
		want  []string
		heldF string // a lock file this test holds
	}{
		{
			name: "tree whose lock is not held",
			make: func(t *testing.T, dir string) {
				writeTree(t, dir, map[string]string{".a.new-1/rootfs/x": "x", ".a.new-1.lock": ""})
			},
		},
		{
			name: "tree without a lock file (an older wwctl's)",
			make: func(t *testing.T, dir string) { writeTree(t, dir, map[string]string{".a.new-2/rootfs/x": "x"}) },
		},
		{
			name: "lock file without its tree",
			make: func(t *testing.T, dir string) { writeTree(t, dir, map[string]string{".a.new-3.lock": ""}) },
		},
		{
			name: "tree whose lock is held",
			make: func(t *testing.T, dir string) {
				writeTree(t, dir, map[string]string{".a.new-4/rootfs/x": "x", ".a.new-4.lock": ""})
			},
			heldF: ".a.new-4.lock",
			want:  []string{".a.new-4", ".a.new-4.lock"},
		},
		{
			name: "other hidden entries and images",
			make: func(t *testing.T, dir string) {
				writeTree(t, dir, map[string]string{".keep": "", "img/rootfs/x": "", ".new-x": ""})
			},
			want: []string{".keep", ".new-x"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			im := &Images{Chroots: t.TempDir()}
			tc.make(t, im.Chroots)
			if tc.heldF != "" {
				f, err := os.Open(filepath.Join(im.Chroots, tc.heldF))
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				// Another open file description: flock excludes it as it
				// excludes another process.
				if ok, err := lockNB(f); !ok || err != nil {
					t.Fatalf("lock: %v %v", ok, err)
				}
			}
			im.RemoveStale()
			if diff := cmp.Diff(tc.want, dotEntries(t, im.Chroots)); diff != "" {
				t.Errorf("hidden entries left (-want +got):\n%s", diff)
			}
		})
	}
}
