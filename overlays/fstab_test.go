package overlays

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/nettest"
)

// fstabLines renders the fstab overlay for node and returns its lines
// that are not comments.
func fstabLines(t *testing.T, conf, nodes, node string) []string {
	t.Helper()
	snap := newSnapshot(t, serverRoot(t), conf, nodes)
	r, err := snap.Renderer("fstab")
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.Render(snap.Node(node), "", []string{"fstab"})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := out.Tree["etc/fstab"]
	if !ok {
		t.Fatal("no etc/fstab")
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(e.Data)), "\n") {
		if !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestFstabAsWarewulf renders a node like the one of Warewulf 4.7's own
// fstab overlay test (overlays/fstab/internal there): local file systems
// from nodes.conf, one with mount options, and an NFS mount from the
// fstab resource, here inherited from the default profile as "wwctl
// upgrade nodes" puts it, with only spec and file. Its lines, comments
// aside, are the ones Warewulf's test expects.
func TestFstabAsWarewulf(t *testing.T) {
	const nodes = `nodeprofiles:
  default:
    resources:
      fstab:
        - spec: warewulf:/home
          file: /home
nodes:
  node1:
    profiles: [default]
    filesystems:
      /dev/disk/by-partlabel/scratch:
        format: btrfs
        path: /scratch
        mount_options: nondefault
      /dev/disk/by-partlabel/scratch2:
        format: btrfs
        path: /scratch2
      /dev/disk/by-partlabel/swap:
        format: swap
        path: swap
`
	conf := "ipaddr: 192.168.0.1\nnetmask: 255.255.255.0\nnfs:\n  export paths:\n    - path: /home\n      export options: rw,sync\n"
	want := []string{
		"rootfs / tmpfs defaults 0 0",
		"devpts /dev/pts devpts gid=5,mode=620 0 0",
		"tmpfs /run/shm tmpfs defaults 0 0",
		"sysfs /sys sysfs defaults 0 0",
		"proc /proc proc defaults 0 0",
		"/dev/disk/by-partlabel/scratch /scratch btrfs noauto,nondefault 0 0",
		"/dev/disk/by-partlabel/scratch2 /scratch2 btrfs noauto,defaults 0 0",
		"/dev/disk/by-partlabel/swap swap swap noauto,defaults 0 0",
		"warewulf:/home /home nfs defaults 0 0",
	}
	if diff := cmp.Diff(want, fstabLines(t, conf, nodes, "node1")); diff != "" {
		t.Errorf("fstab (-want +got):\n%s", diff)
	}
}

// TestFstabNFSMounts checks the NFS lines of a rendered fstab with
// util-linux's mount and nfs-utils' mount.nfs: "mount -f --fstab FILE -a
// -t nfs,nfs4" parses the file as the node's mount would and has
// mount.nfs check each entry (host:dir, options, the mount point) without
// mounting; a malformed line (no host:dir, a missing mount point, a
// field too few) fails it. It runs in new mount
// and network namespaces, so nothing is mounted and nothing is sent.
// (The kernel here has no nfsd, so a real mount cannot be tested: see
// README, "NFS".)
func TestFstabNFSMounts(t *testing.T) {
	if _, err := os.Stat("/sbin/mount.nfs"); err != nil {
		t.Skip("no mount.nfs (Debian: nfs-common, with nfs-kernel-server in scripts/deps.sh)")
	}
	if !nettest.Isolate(t) {
		return
	}
	mnt := t.TempDir()
	for _, d := range []string{"home", "opt", "scratch"} {
		if err := os.Mkdir(filepath.Join(mnt, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	nodes := `nodeprofiles:
  default:
    resources:
      fstab:
        - spec: 10.0.0.1:/home
          file: ` + mnt + `/home
        - spec: 10.0.0.1:/opt
          file: ` + mnt + `/opt
          mntops: ro,vers=4.2,nofail
          freq: 0
          passno: 0
nodes:
  node1:
    profiles: [default]
    filesystems:
      /dev/disk/by-partlabel/scratch:
        format: ext4
        path: ` + mnt + `/scratch
`
	lines := fstabLines(t, "ipaddr: 10.0.0.1\nnetmask: 255.255.0.0\n", nodes, "node1")
	fstab := filepath.Join(t.TempDir(), "fstab")
	if err := os.WriteFile(fstab, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-f", "-v", "--fstab", fstab, "-a", "-t", "nfs,nfs4").CombinedOutput()
	if err != nil {
		t.Fatalf("mount -f --fstab %s -a: %v\n%s\nfstab:\n%s", fstab, err, out, strings.Join(lines, "\n"))
	}
	var mounted []string
	for _, l := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutSuffix(l, ": successfully mounted"); ok {
			mounted = append(mounted, strings.TrimSpace(p))
		}
	}
	if diff := cmp.Diff([]string{mnt + "/home", mnt + "/opt"}, mounted); diff != "" {
		t.Errorf("mount -f (-want +got):\n%s\n%s", diff, out)
	}
}
