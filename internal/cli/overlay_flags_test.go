package cli

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOverlayChown: Warewulf's UID[:GID] forms, each changing only what it
// names.
func TestOverlayChown(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	tests := []struct {
		name             string
		spec             string
		wantUID, wantGID uint32
		wantErr          string
	}{
		{name: "user and group", spec: "1000:2000", wantUID: 1000, wantGID: 2000},
		{name: "user only keeps the group", spec: "1000", wantUID: 1000, wantGID: 7},
		{name: "group only keeps the user", spec: ":2000", wantUID: 5, wantGID: 2000},
		{name: "user with empty group keeps the group", spec: "1000:", wantUID: 1000, wantGID: 7},
		{name: "names are not ids", spec: "bad:bad", wantErr: `the user id "bad" is not a number`},
		{name: "negative group", spec: "1:-2", wantErr: `the group id "-2" is not a number`},
		{name: "nothing", spec: ":", wantErr: "give a user id, a group id or both"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.mustRun("overlay", "create", "site")
			src := filepath.Join(tr.root, "motd")
			if err := os.WriteFile(src, []byte("hello\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tr.mustRun("overlay", "import", "site", src, "motd")
			p := filepath.Join(tr.root, "var/warewulf/overlays/site/rootfs/motd")
			if err := os.Lchown(p, 5, 7); err != nil {
				t.Fatal(err)
			}
			_, _, err := tr.run("", "overlay", "chown", "site", "motd", tt.spec)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("chown %s: %v, want %q", tt.spec, err, tt.wantErr)
				}
				tt.wantUID, tt.wantGID = 5, 7
			} else if err != nil {
				t.Fatalf("chown %s: %v", tt.spec, err)
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				t.Fatal(err)
			}
			if st.Uid != tt.wantUID || st.Gid != tt.wantGID {
				t.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, tt.wantUID, tt.wantGID)
			}
		})
	}
}

// TestOverlayEditModeAndImportWorkers: edit --parents makes directories
// with --mode; import takes Warewulf's --workers.
func TestOverlayEditModeAndImportWorkers(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("overlay", "create", "site")
	tr.env["EDITOR"] = writeEditor(t, tr.root, `echo edited > "$1"`)
	tr.mustRun("overlay", "edit", "site", "etc/app/conf.d/x.conf", "--parents", "--mode", "0750")
	base := filepath.Join(tr.root, "var/warewulf/overlays/site/rootfs")
	for _, d := range []string{"etc", "etc/app", "etc/app/conf.d"} {
		st, err := os.Stat(filepath.Join(base, d))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o750 {
			t.Errorf("%s mode %v, want 0750", d, st.Mode().Perm())
		}
	}
	if data, _ := os.ReadFile(filepath.Join(base, "etc/app/conf.d/x.conf")); string(data) != "edited\n" {
		t.Errorf("edited file %q", data)
	}
	if _, _, err := tr.run("", "overlay", "edit", "site", "y/z", "--parents", "--mode", "999"); err == nil || !strings.Contains(err.Error(), "not an octal permission mode") {
		t.Errorf("bad mode: %v", err)
	}
	src := filepath.Join(tr.root, "motd")
	if err := os.WriteFile(src, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.mustRun("overlay", "import", "--workers", "4", "site", src, "motd")
	if data, _ := os.ReadFile(filepath.Join(base, "motd")); string(data) != "hello\n" {
		t.Errorf("imported file %q", data)
	}
}
