package site

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/testkit/nettest"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// TestConfigureNFSExportfs runs configure nfs with the real exportfs of
// nfs-utils on /etc/exports. It re-executes itself in new mount and
// network namespaces where /etc is an overlay over the machine's own
// (what it writes goes to a temporary directory) and /var/lib/nfs, where
// exportfs keeps its table, a tmpfs: nothing of the machine changes.
// The kernel's nfsd need not be there: exportfs parses the file, checks
// every path and writes its table (etab) without it.
func TestConfigureNFSExportfs(t *testing.T) {
	exportfs := lookSbin("exportfs")
	if !filepath.IsAbs(exportfs) {
		t.Skip("exportfs is not installed (Debian: nfs-kernel-server, see scripts/deps.sh)")
	}
	if !nettest.Isolate(t) {
		return
	}

	tmp := t.TempDir()
	for _, d := range []string{"upper", "work", "home", "opt", "srv"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := "lowerdir=/etc,upperdir=" + filepath.Join(tmp, "upper") + ",workdir=" + filepath.Join(tmp, "work")
	if err := unix.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
		t.Fatalf("overlay on /etc: %v", err)
	}
	if err := os.MkdirAll("/var/lib/nfs", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", "/var/lib/nfs", "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatalf("tmpfs on /var/lib/nfs: %v", err)
	}
	sitetest.Write(t, "/etc/warewulf/nodes.conf", "nodes: {}\n")
	previous := filepath.Join(tmp, "srv") + " 127.0.0.1(ro,no_subtree_check)\n"
	sitetest.Write(t, "/etc/exports", previous)
	if err := os.Remove("/etc/exports.wwbackup"); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}

	home, opt := filepath.Join(tmp, "home"), filepath.Join(tmp, "opt")
	open := func(t *testing.T, exports string) *Site {
		t.Helper()
		conf := "ipaddr: 10.0.0.1\nnetmask: 255.255.0.0\nnfs:\n  export paths:\n" + exports +
			"paths:\n  sysconfdir: /etc\n  localstatedir: " + filepath.Join(tmp, "var") +
			"\n  datadir: " + filepath.Join(tmp, "share") + "\n  cachedir: " + filepath.Join(tmp, "cache") + "\n"
		cfg, _, err := config.Parse([]byte(conf), "warewulf.conf")
		if err != nil {
			t.Fatal(err)
		}
		s, err := Open(Options{Config: cfg})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := "    - path: " + home + "\n      export options: rw,sync,no_subtree_check\n    - path: " + opt + "\n      export options: ro,no_root_squash\n"
	noSystemd := filepath.Join(tmp, "no-systemd")
	etab := func(t *testing.T) []string {
		t.Helper()
		data, err := os.ReadFile("/var/lib/nfs/etab")
		if err != nil {
			t.Fatal(err)
		}
		var exports []string
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			path, rest, _ := strings.Cut(line, "\t")
			client, opts, _ := strings.Cut(rest, "(")
			first, _, _ := strings.Cut(opts, ",")
			exports = append(exports, path+" "+client+" "+first)
		}
		slices.Sort(exports)
		return exports
	}
	kept := func(t *testing.T) {
		t.Helper()
		if got := readOrNone(t, "/etc/exports"); got != previous {
			t.Errorf("/etc/exports: %q, want the previous %q", got, previous)
		}
		if got := readOrNone(t, "/etc/exports.wwbackup"); got != "<none>" {
			t.Errorf("a backup is left: %q", got)
		}
	}
	ctx := context.Background()

	// The previous exports, loaded as an NFS server's start would.
	if out, err := exec.Command(exportfs, "-ra").CombinedOutput(); err != nil {
		t.Fatalf("exportfs -ra on the previous file: %v: %s", err, out)
	}

	t.Run("exportfs missing", func(t *testing.T) {
		_, err := open(t, good).ConfigureNFS(ctx, NFSOptions{Exportfs: filepath.Join(tmp, "bin", "exportfs"), SystemdDir: noSystemd})
		if err == nil || !strings.Contains(err.Error(), "exportfs -ra: ") || !strings.Contains(err.Error(), "install the NFS server") {
			t.Errorf("error %v", err)
		}
		kept(t)
	})
	t.Run("exportfs refuses an option", func(t *testing.T) {
		_, err := open(t, "    - path: "+home+"\n      export options: rw,bogus\n").ConfigureNFS(ctx, NFSOptions{SystemdDir: noSystemd})
		if err == nil || !strings.Contains(err.Error(), `unknown keyword "bogus"`) || !strings.Contains(err.Error(), "/etc/exports is as it was") {
			t.Errorf("error %v", err)
		}
		kept(t)
		if diff := cmp.Diff([]string{filepath.Join(tmp, "srv") + " 127.0.0.1 ro"}, etab(t)); diff != "" {
			t.Errorf("exportfs's table is not the previous one (-want +got):\n%s", diff)
		}
	})
	t.Run("exportfs refuses a missing directory", func(t *testing.T) {
		missing := filepath.Join(tmp, "missing")
		_, err := open(t, "    - path: "+missing+"\n").ConfigureNFS(ctx, NFSOptions{SystemdDir: noSystemd})
		if err == nil || !strings.Contains(err.Error(), "Failed to stat "+missing) {
			t.Errorf("error %v", err)
		}
		kept(t)
	})
	t.Run("exports loaded", func(t *testing.T) {
		plan, err := open(t, good).ConfigureNFS(ctx, NFSOptions{SystemdDir: noSystemd})
		if err != nil {
			t.Fatal(err)
		}
		if !plan.Changed || !plan.Loaded || plan.Started || plan.Backup != "/etc/exports.wwbackup" ||
			!strings.Contains(plan.Hint, "systemctl enable --now nfs-server") {
			t.Errorf("plan %+v", plan)
		}
		if got := readOrNone(t, "/etc/exports.wwbackup"); got != previous {
			t.Errorf("backup %q, want %q", got, previous)
		}
		want := []string{home + " 10.0.0.0/255.255.0.0 rw", opt + " 10.0.0.0/255.255.0.0 ro"}
		if diff := cmp.Diff(want, etab(t)); diff != "" {
			t.Errorf("exportfs's table (-want +got):\n%s", diff)
		}
	})
	t.Run("second run", func(t *testing.T) {
		plan, err := open(t, good).ConfigureNFS(ctx, NFSOptions{SystemdDir: noSystemd})
		if err != nil {
			t.Fatal(err)
		}
		if plan.Changed || plan.Backup != "" || !plan.Loaded {
			t.Errorf("plan %+v", plan)
		}
	})
	t.Run("systemctl refuses", func(t *testing.T) {
		// Only where systemd does not run: systemctl must fail, not
		// start this machine's NFS server.
		if _, err := os.Stat("/run/systemd/system"); err == nil {
			t.Skip("systemd runs this machine")
		}
		if !filepath.IsAbs(lookSbin("systemctl")) {
			t.Skip("no systemctl")
		}
		_, err := open(t, good).ConfigureNFS(ctx, NFSOptions{SystemdDir: tmp})
		if err == nil || !strings.Contains(err.Error(), "systemctl enable --now nfs-server: exit status") {
			t.Errorf("error %v", err)
		}
	})
}
