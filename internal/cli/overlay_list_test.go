package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// TestOverlayListAsWarewulf checks every form of overlay list against the
// shape of Warewulf 4.7's: the header and its row of dashes, the SITE
// column (PATH with --path), --all's rows of paths relative to the
// rootfs (directories ending in "/", a directory's contents right after
// it), --long's permission bits without the file type, and an empty
// overlay's row of 0.
func TestOverlayListAsWarewulf(t *testing.T) {
	tr := newTree(t, "")
	site := filepath.Join(tr.root, "var/warewulf/overlays")
	motd := filepath.Join(site, "motd", "rootfs")
	sitetest.WriteMode(t, filepath.Join(motd, "etc/motd.ww"), "{{.Id}}\n", 0o644)
	sitetest.WriteMode(t, filepath.Join(motd, "etc.txt"), "x\n", 0o600)
	sitetest.WriteMode(t, filepath.Join(motd, "bin/hello"), "#!/bin/sh\n", 0o755)
	for _, d := range []string{filepath.Join(motd, "etc"), filepath.Join(motd, "bin")} {
		if err := os.Chmod(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	tr.mustRun("overlay", "create", "blank")
	me := strconv.Itoa(os.Getuid()) + " " + strconv.Itoa(os.Getgid())
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "default",
			args: []string{"motd", "blank", "hostname"},
			want: `OVERLAY NAME  FILES/DIRS  SITE
------------  ----------  ----
motd          5           true
blank         0           true
hostname      2           false
`,
		},
		{
			name: "all",
			args: []string{"-a", "motd", "blank"},
			want: `OVERLAY NAME  FILES/DIRS  SITE
------------  ----------  ----
motd          bin/        true
motd          bin/hello   true
motd          etc/        true
motd          etc/motd.ww  true
motd          etc.txt     true
blank         0           true
`,
		},
		{
			name: "long",
			args: []string{"-l", "motd"},
			want: `PERM MODE   UID  GID  OVERLAY  FILE PATH    SITE
---------   ---  ---  -------  ---------    ----
-rwxr-x---  ` + me + `    motd     bin/         true
-rwxr-xr-x  ` + me + `    motd     bin/hello    true
-rwxr-x---  ` + me + `    motd     etc/         true
-rw-r--r--  ` + me + `    motd     etc/motd.ww  true
-rw-------  ` + me + `    motd     etc.txt      true
`,
		},
		{
			name: "path",
			args: []string{"-p", "motd", "hostname"},
			want: `OVERLAY NAME  FILES/DIRS  PATH
------------  ----------  ----
motd          5           ` + filepath.Join(site, "motd") + `
hostname      2           --
`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tr.mustRun(append([]string{"overlay", "list"}, tc.args...)...)
			if diff := cmp.Diff(squeeze(tc.want), squeeze(got)); diff != "" {
				t.Errorf("overlay list %s (-want +got):\n%s", strings.Join(tc.args, " "), diff)
			}
		})
	}
}

// TestOverlayShowAsWarewulf checks overlay show --render's lines before
// each file, as Warewulf 4.7 prints them without --quiet: one file, one
// that calls nobackup, two files from one template, and an abort.
func TestOverlayShowAsWarewulf(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n1")
	rootfs := filepath.Join(tr.root, "var/warewulf/overlays/demo/rootfs")
	sitetest.Write(t, filepath.Join(rootfs, "etc/one.ww"), "id {{.Id}}\n")
	sitetest.Write(t, filepath.Join(rootfs, "etc/keep.ww"), "{{ nobackup }}kept\n")
	sitetest.Write(t, filepath.Join(rootfs, "etc/two.ww"), "{{ file \"a.conf\" }}a\n{{ file \"b.conf\" }}b\n")
	sitetest.Write(t, filepath.Join(rootfs, "etc/none.ww"), "{{ abort }}\n")
	sitetest.Write(t, filepath.Join(rootfs, "etc/named.ww"), "{{ file \"x.conf\" }}x\n")
	tests := []struct{ file, want string }{
		{"etc/one.ww", "backupFile: true\nwriteFile: true\nFilename: etc/one\nid n1\n"},
		{"etc/one", "backupFile: true\nwriteFile: true\nFilename: etc/one\nid n1\n"},
		{"etc/keep.ww", "backupFile: false\nwriteFile: true\nFilename: etc/keep\nkept\n"},
		{"etc/two.ww", "backupFile: true\nwriteFile: true\nFilename: a.conf\na\nbackupFile: true\nwriteFile: true\nFilename: b.conf\nb\n"},
		{"etc/named.ww", "backupFile: true\nwriteFile: true\nFilename: x.conf\nx\n"},
		{"etc/none.ww", "backupFile: true\nwriteFile: false\nAborted\n"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tr.mustRun("overlay", "show", "-r", "n1", "demo", tc.file)); diff != "" {
				t.Errorf("overlay show -r n1 demo %s (-want +got):\n%s", tc.file, diff)
			}
		})
	}
}
