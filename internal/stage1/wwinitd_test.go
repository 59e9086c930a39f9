package stage1

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/testkit/treetest"
)

// TestRunWwinitDBeforeRoot boots with PreRoot set: the system overlay is
// fetched once, unpacked into PreRoot, its wwinit.d scripts run there
// through the wwinit overlay's own run-wwinit.d (with the host's sh), the
// disk links are made before and after them, then the root is mounted,
// the file systems of warewulf/mounts below it, parents first, and the
// same system overlay goes into the new root.
func TestRunWwinitDBeforeRoot(t *testing.T) {
	runner, err := os.ReadFile("../../overlays/wwinit/rootfs/warewulf/run-wwinit.d")
	if err != nil {
		t.Fatal(err)
	}
	img := archive(t, compress.Gzip, ent{name: "init", mode: 0o755, body: "#!/bin/sh\n"})
	system := archive(t, compress.Zstd,
		ent{name: "warewulf", mode: fs.ModeDir | 0o755},
		ent{name: "warewulf/config", mode: 0o644, body: "WWROOT=/dev/vda1\n"},
		ent{name: "warewulf/run-wwinit.d", mode: 0o755, body: string(runner)},
		ent{name: "warewulf/wwinit.d", mode: fs.ModeDir | 0o755},
		ent{name: "warewulf/wwinit.d/10-disk.sh", mode: 0o644,
			body: "echo \"script PREFIX=$PREFIX\" >>\"$LOG\"\necho made >\"$PREFIX/warewulf/made\"\n" +
				"mkdir -p \"$PREFIX/warewulf/run/sub\" && echo done >\"$PREFIX/warewulf/run/sub/.ignition-done\"\n"},
		ent{name: "warewulf/wwinit.d/20-fails.sh", mode: 0o644, body: "exit 3\n"},
		ent{name: "warewulf/mounts", mode: 0o644,
			body: "/dev/vdb2 ext4 /scratch/tmp\n/dev/vdb1 xfs /scratch\nnot a mount\n/dev/vdc ext4 /a/../../etc\n"})
	tests := []struct {
		name        string
		shell       string
		wantLog     []string
		wantConsole []string
	}{
		{name: "scripts run before the root", shell: "/bin/sh",
			wantLog: []string{"disk links", "script PREFIX={preroot}", "disk links", "mount root",
				"mount /dev/vdb1 xfs /scratch", "mount /dev/vdb2 ext4 /scratch/tmp"},
			wantConsole: []string{"system: 7 files, 0.0 MiB unpacked into {preroot} from", "running the system overlay's wwinit.d scripts (2) before preparing the root",
				"wwinit: running wwinit.d/10-disk.sh", "wwinit: WARNING: wwinit.d/20-fails.sh failed (exit status 3)", "wwinit.d scripts done in",
				`warewulf/mounts: "not a mount" is not "DEVICE TYPE /PATH": left out`, `"/dev/vdc ext4 /a/../../etc" is not`,
				"mounted /dev/vdb1 (xfs) at /scratch", "system: 7 files, 0.0 MiB unpacked into the new root in"}},
		{name: "no shell in the bootstrap", shell: "/nonexistent/sh",
			wantLog: []string{"mount root", "mount /dev/vdb1 xfs /scratch", "mount /dev/vdb2 ext4 /scratch/tmp"},
			wantConsole: []string{"WARNING: the bootstrap has no shell (/nonexistent/sh) to run the system overlay's wwinit.d scripts",
				"switching root"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &fakeDaemon{t: t, image: img, system: system}
			ts := httptest.NewServer(d)
			defer ts.Close()
			dir := t.TempDir()
			logFile := filepath.Join(dir, "log")
			newRoot, preRoot := filepath.Join(dir, "newroot"), filepath.Join(dir, "wwinit")
			sys := &fakeSys{logFile: logFile, newRoot: newRoot}
			var console bytes.Buffer
			s := &Stage{Sys: sys, Net: &fakeNet{}, Client: ts.Client(), Console: &console, NewRoot: newRoot,
				Modules: filepath.Join(dir, "none"), Backoff: func(int) time.Duration { return time.Millisecond }, Resumes: 2, Now: time.Now,
				PreRoot: preRoot, Shell: tt.shell, ScriptEnv: []string{"PATH=" + os.Getenv("PATH"), "LOG=" + logFile}}
			p, err := ParseCmdline("wwid=52:54:00:e2:e0:01 wwserver=" + ts.URL + " wwroot=/dev/vda1 wwstage1.attempts=1")
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Run(context.Background(), p); !errors.Is(err, errSwitched) {
				t.Fatalf("Run: %v\n%s", err, console.String())
			}
			ran := tt.shell == "/bin/sh"
			if got := slices.Contains(sys.switched, "WWSTAGE1_WWINITD=done"); got != ran {
				t.Errorf("WWSTAGE1_WWINITD=done given to /init: %v, want %v (%q)", got, ran, sys.switched)
			}
			log, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, l := range tt.wantLog {
				want = append(want, strings.ReplaceAll(l, "{preroot}", preRoot))
			}
			if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(log)), "\n")); diff != "" {
				t.Errorf("what happened, in order (-want +got):\n%s\nconsole:\n%s", diff, console.String())
			}
			for _, w := range tt.wantConsole {
				if w = strings.ReplaceAll(w, "{preroot}", preRoot); !strings.Contains(console.String(), w) {
					t.Errorf("console lacks %q:\n%s", w, console.String())
				}
			}
			systems := 0
			for _, q := range d.queries {
				if strings.HasPrefix(q, "/system/") {
					systems++
				}
			}
			if systems != 1 {
				t.Errorf("the system overlay was fetched %d times, want once: %q", systems, d.queries)
			}
			// The new root has the overlay as served, not what the
			// scripts made in PreRoot...
			got := treetest.Read(t, newRoot)
			for _, p := range []string{"init", "warewulf/config", "warewulf/run-wwinit.d", "warewulf/wwinit.d/10-disk.sh", "warewulf/mounts"} {
				if _, ok := got[p]; !ok {
					t.Errorf("new root lacks %s: %v", p, got)
				}
			}
			if _, ok := got["warewulf/made"]; ok {
				t.Error("what a script made in PreRoot is in the new root")
			}
			// ...but for what they leave in warewulf/run, which
			// Warewulf's dracut module keeps.
			if ran && got["warewulf/run/sub/.ignition-done"] != "done\n" {
				t.Errorf("the scripts' warewulf/run is not in the new root: %v", got)
			}
			_, err = os.Stat(filepath.Join(preRoot, "warewulf", "made"))
			if made := err == nil; made != ran {
				t.Errorf("the script made warewulf/made in PreRoot: %v, want %v", made, ran)
			}
			if _, err := os.Stat(preRoot + ".img"); !os.IsNotExist(err) {
				t.Errorf("the saved system overlay is left behind: %v", err)
			}
		})
	}
}

func TestUdevEscape(t *testing.T) {
	for in, want := range map[string]string{
		"rootfs": "rootfs", "my root": `my\x20root`, "a/b": `a\x2fb`, "x#+-.:=@_y": "x#+-.:=@_y", "été": "été", `back\slash`: `back\x5cslash`,
	} {
		got := udevEscape(in)
		if got != want {
			t.Errorf("udevEscape(%q) = %q, want %q", in, got, want)
		}
		if back := udevUnescape(got); back != in {
			t.Errorf("udevUnescape(%q) = %q, want %q", got, back, in)
		}
	}
}

func TestUdevadm(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		linkErr   error
		want      int
		wantLinks int
		wantErr   string
	}{
		{name: "trigger makes the links", args: []string{"trigger", "--subsystem-match=block", "--action=add"}, wantLinks: 1},
		{name: "trigger that fails", args: []string{"trigger"}, linkErr: errors.New("no sysfs"), want: 1, wantLinks: 1, wantErr: "no sysfs"},
		{name: "settle", args: []string{"settle"}},
		{name: "options first", args: []string{"--debug", "settle", "-t", "5"}},
		{name: "info is not known", args: []string{"info", "/dev/vda"}, want: 2, wantErr: `"info": the bootstrap has no udev`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			links := 0
			got := Udevadm(tt.args, &stderr, func() error { links++; return tt.linkErr })
			if got != tt.want || links != tt.wantLinks || !strings.Contains(stderr.String(), tt.wantErr) {
				t.Errorf("Udevadm(%q) = %d with %d link runs, stderr %q; want %d, %d, %q", tt.args, got, links, stderr.String(), tt.want, tt.wantLinks, tt.wantErr)
			}
		})
	}
}

func TestMakeDiskLinks(t *testing.T) {
	const rootGUID = "5a3e6c1d-0b2f-4c3e-9a8b-7c6d5e4f3a2b"
	const extUUID = "0fc63daf-8483-4772-8e79-3d69d8477de4"
	disk := makeGPT(512, 64, 128, 128, []gptEntry{{slot: 1, name: "my root", guid: rootGUID}}, nil)
	sysDir, devDir := fakeSysfs(t, []fakeBlock{
		{name: "vda", dev: "253:0", img: disk},
		{name: "vda2", dev: "253:2", disk: "vda", n: 2, img: makeExt("root", extUUID)},
		{name: "vdb", dev: "253:16", img: makeXFS("scratch", "11111111-2222-3333-4444-555555555555")},
	})
	// A stale link from before the disks changed goes.
	stale := filepath.Join(devDir, "disk", "by-label", "gone")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev/vdz", stale); err != nil {
		t.Fatal(err)
	}
	mknod := func(string, uint32, uint32) error { return errors.New("no mknod in this test") }
	if err := makeDiskLinks(sysDir, devDir, mknod); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err := filepath.WalkDir(filepath.Join(devDir, "disk"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		target, err := os.Readlink(p)
		rel, _ := filepath.Rel(devDir, p)
		got[rel] = target
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"disk/by-label/root":                                filepath.Join(devDir, "vda2"),
		"disk/by-label/scratch":                             filepath.Join(devDir, "vdb"),
		"disk/by-uuid/" + extUUID:                           filepath.Join(devDir, "vda2"),
		"disk/by-uuid/11111111-2222-3333-4444-555555555555": filepath.Join(devDir, "vdb"),
		`disk/by-partlabel/my\x20root`:                      filepath.Join(devDir, "vda2"),
		"disk/by-partuuid/" + rootGUID:                      filepath.Join(devDir, "vda2"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("links (-want +got):\n%s", diff)
	}
}
