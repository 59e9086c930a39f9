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
