package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/mkchroot"
)

// busyboxTree makes a tree with image bb created from the busybox
// template, or skips when the template cannot be used here.
func busyboxTree(t *testing.T) *tree {
	t.Helper()
	for _, tp := range mkchroot.Templates() {
		if tp.Name == "busybox" && !tp.Available {
			t.Skipf("busybox template unavailable: needs %s", tp.Missing)
		}
	}
	tr := newTree(t, "")
	tr.mustRun("image", "create", "bb", "--from", "busybox")
	return tr
}

func TestImageCreateBuildList(t *testing.T) {
	tr := busyboxTree(t)
	out := tr.mustRun("image", "build", "bb")
	if !strings.Contains(out, "Built image bb:") || !strings.Contains(out, "bb.img.zst") {
		t.Errorf("build: %s", out)
	}
	if out := tr.mustRun("image", "build", "bb"); !strings.Contains(out, "Image bb unchanged") {
		t.Errorf("second build: %s", out)
	}
	// A kernel in the image is listed and is the default.
	root := filepath.Join(tr.root, "var/warewulf/chroots/bb/rootfs")
	for _, k := range []string{"boot/vmlinuz-6.1.0-27-amd64", "boot/vmlinuz-6.1.0-9-amd64"} {
		if err := os.MkdirAll(filepath.Join(root, "boot"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, k), []byte("kernel"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr.mustRun("node", "add", "n1", "--image", "bb")
	kernels := strings.Join(strings.Fields(tr.mustRun("image", "kernels")), " ")
	for _, want := range []string{"bb /boot/vmlinuz-6.1.0-27-amd64 6.1.0-27 true 1", "bb /boot/vmlinuz-6.1.0-9-amd64 6.1.0-9 false 0"} {
		if !strings.Contains(kernels, want) {
			t.Errorf("kernels lack %q: %s", want, kernels)
		}
	}
	list := strings.Join(strings.Fields(tr.mustRun("image", "list", "-k")), " ")
	if !strings.Contains(list, "IMAGE NAME NODES KERNEL VERSION") || !strings.Contains(list, "bb 1 6.1.0-27") {
		t.Errorf("list -k: %s", list)
	}
	imageListColumns(t, tr)
}

func TestImageImportAndRefusals(t *testing.T) {
	tr := busyboxTree(t)
	root := filepath.Join(tr.root, "var/warewulf/chroots/bb/rootfs")
	tarball := filepath.Join(tr.root, "bb.tar.gz")
	if out, err := exec.Command("tar", "-C", root, "-czf", tarball, ".").CombinedOutput(); err != nil {
		t.Fatalf("tar: %v\n%s", err, out)
	}
	tr.mustRun("image", "import", tarball, "fromtar")
	tr.mustRun("image", "import", root, "fromdir")
	if _, err := os.Stat(filepath.Join(tr.root, "var/warewulf/chroots/fromtar/rootfs/bin/busybox")); err != nil {
		t.Error(err)
	}

	// A hostile tarball is refused, naming the entry, and leaves nothing.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"bin/sh", "../escape"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("x"))
	}
	tw.Close()
	hostile := filepath.Join(tr.root, "hostile.tar")
	if err := os.WriteFile(hostile, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"hostile tarball", []string{"image", "import", hostile, "evil"}, `entry "../escape"`},
		{"existing name", []string{"image", "import", tarball, "bb"}, "image name exists, specify --force, --update, or choose a different name: bb"},
		{"failed update keeps the image", []string{"image", "import", "--update", hostile, "bb"}, `entry "../escape"`},
		{"unknown image", []string{"image", "build", "nosuch"}, `image "nosuch" does not exist`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tr.run("", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(tr.root, "escape")); !os.IsNotExist(err) {
		t.Error("the hostile tarball wrote outside the image")
	}
	if _, err := os.Stat(filepath.Join(root, "bin/busybox")); err != nil {
		t.Errorf("image bb damaged by a failed update: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(tr.root, "var/warewulf/chroots"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "bb fromdir fromtar" {
		t.Errorf("chroots hold %v", names)
	}

	// Delete refuses an image in use; rename follows the nodes.
	tr.mustRun("node", "add", "n1", "--image", "fromtar")
	if _, _, err := tr.run("", "image", "delete", "fromtar", "-y"); err == nil || !strings.Contains(err.Error(), "used by node n1") {
		t.Errorf("delete of a used image: %v", err)
	}
	tr.mustRun("image", "rename", "fromtar", "renamed")
	if !strings.Contains(tr.nodesConf(), "image name: renamed") {
		t.Errorf("rename did not follow the node:\n%s", tr.nodesConf())
	}
	tr.mustRun("image", "delete", "fromdir", "-y")
}

func TestImageExec(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("image exec needs root")
	}
	tr := busyboxTree(t)
	host := filepath.Join(tr.root, "host.txt")
	if err := os.WriteFile(host, []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := tr.mustRun("image", "exec", "bb", "--build=false", "--bind", host+":/mnt/host.txt:ro", "--",
		"sh", "-c", "hostname; cat /mnt/host.txt; echo changed > /etc/motd")
	if out != "bb\nfrom the host\n" {
		t.Errorf("exec output %q", out)
	}
	motd, _ := os.ReadFile(filepath.Join(tr.root, "var/warewulf/chroots/bb/rootfs/etc/motd"))
	if string(motd) != "changed\n" {
		t.Errorf("change inside the image not kept: %q", motd)
	}
	_, _, err := tr.run("", "image", "exec", "bb", "--build=false", "--", "sh", "-c", "exit 7")
	var exit *ExitError
	if err == nil || !strings.Contains(err.Error(), "status 7") {
		t.Errorf("exit status not propagated: %v (%T)", err, exit)
	}
	if err := os.WriteFile(filepath.Join(tr.root, "var/warewulf/chroots/bb/readonly"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tr.run("", "image", "exec", "bb", "--", "true"); err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("read-only image changed: %v", err)
	}
}

func TestImageSyncuser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing owners needs root")
	}
	tr := busyboxTree(t)
	root := filepath.Join(tr.root, "var/warewulf/chroots/bb/rootfs")
	passwd, err := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), append(passwd, []byte("alice:x:1001:0::/home/alice:/bin/sh\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tr.root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tr.root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nalice:x:2001:0::/home/alice:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tr.root, "etc/group"), []byte("root:x:0:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := strings.Join(strings.Fields(tr.mustRun("image", "syncuser", "bb", "--write=false")), " ")
	if !strings.Contains(out, "user alice 1001 2001") || !strings.Contains(out, "Nothing changed") {
		t.Errorf("report: %s", out)
	}
	tr.mustRun("image", "syncuser", "bb")
	after, _ := os.ReadFile(filepath.Join(root, "etc/passwd"))
	if !strings.Contains(string(after), "alice:x:2001:0:") {
		t.Errorf("passwd not rewritten:\n%s", after)
	}
}

// writeTarball writes a tar of entries (directories end in "/", files
// hold their own name) to a file in the tree.
func writeTarball(t *testing.T, tr *tree, name string, entries ...string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{Name: e, Mode: 0o755, Typeflag: tar.TypeDir, Format: tar.FormatPAX}
		if !strings.HasSuffix(e, "/") {
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, 0o644, int64(len(e))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag == tar.TypeReg {
			tw.Write([]byte(e))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(tr.root, name)
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImageImportLimits: the "image import" limits of warewulf.conf reach
// the import, a refusal names the entry, the limit and its key, and it
// leaves the image as it was and nothing beside it.
func TestImageImportLimits(t *testing.T) {
	tr := newTree(t, "")
	chroots := filepath.Join(tr.root, "var/warewulf/chroots")
	small := writeTarball(t, tr, "small.tar", "bin/", "bin/sh", "etc/", "etc/os-release")
	tr.mustRun("image", "import", small, "small")

	deep := []string{}
	for p := "d/"; len(deep) < 3000; p += "d/" {
		deep = append(deep, p)
	}
	deepTar := writeTarball(t, tr, "deep.tar", deep...)
	deeper := writeTarball(t, tr, "deeper.tar", "a/", "a/b/", "a/b/c/")
	conf, err := os.ReadFile(tr.conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		conf string // added to warewulf.conf
		args []string
		want []string
	}{
		{
			name: "3000 deep with the defaults",
			args: []string{"image", "import", deepTar, "deep"},
			want: []string{`entry "` + strings.Repeat("d/", 257) + `": path is 257 directories deep, over the import limit of 256`,
				`(the limit is "image import: max depth" in warewulf.conf)`},
		},
		{
			name: "entries from warewulf.conf",
			conf: "image import:\n  max entries: 3\n",
			args: []string{"image", "import", "--force", small, "small"},
			want: []string{`entry "etc/os-release": more than 3 entries, the import limit`,
				`(the limit is "image import: max entries" in warewulf.conf)`},
		},
		{
			name: "update",
			conf: "image import:\n  max depth: 2\n",
			args: []string{"image", "import", "--update", deeper, "small"},
			want: []string{`entry "a/b/c/": path is 3 directories deep, over the import limit of 2`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(tr.conf, append(append([]byte(nil), conf...), tc.conf...), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, err := tr.run("", tc.args...)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error = %v, want it to contain %q", err, w)
				}
			}
			entries, _ := os.ReadDir(chroots)
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if strings.Join(names, " ") != "small" {
				t.Errorf("chroots hold %v, want only small", names)
			}
			if b, err := os.ReadFile(filepath.Join(chroots, "small/rootfs/etc/os-release")); err != nil || string(b) != "etc/os-release" {
				t.Errorf("image small changed: %q, %v", b, err)
			}
		})
	}
}

// imageListColumns checks image list's Warewulf columns on a tree whose
// image bb is built compressed only and used by one node.
func imageListColumns(t *testing.T, tr *tree) {
	t.Helper()
	fields := func(args ...string) []string {
		var rows []string
		for _, l := range strings.Split(strings.TrimSpace(tr.mustRun(append([]string{"image", "list"}, args...)...)), "\n") {
			if !strings.HasPrefix(l, "---") {
				rows = append(rows, strings.Join(strings.Fields(l), " "))
			}
		}
		return rows
	}
	gz, err := os.Stat(filepath.Join(tr.root, "var/warewulf/provision/images/bb.img.gz"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"IMAGE NAME", "bb"}},
		{[]string{"-s"}, []string{"IMAGE NAME NODES SIZE", "bb 1 0 B"}},
		{[]string{"--compressed"}, []string{"IMAGE NAME NODES SIZE", "bb 1 " + humanBytes(gz.Size())}},
		{[]string{"nosuch"}, []string{"IMAGE NAME"}},
	} {
		if diff := cmp.Diff(tc.want, fields(tc.args...)); diff != "" {
			t.Errorf("image list %v (-want +got):\n%s", tc.args, diff)
		}
	}
	if rows := fields("-c"); len(rows) != 2 || !strings.HasPrefix(rows[1], "bb 1 ") || strings.HasSuffix(rows[1], " 0 B") {
		t.Errorf("image list -c: %q", rows)
	}
	rows := fields("-l")
	if len(rows) != 2 || rows[0] != "IMAGE NAME NODES KERNEL VERSION CREATION TIME MODIFICATION TIME SIZE" ||
		!strings.HasPrefix(rows[1], "bb 1 6.1.0-27 ") || !strings.HasSuffix(rows[1], " 0 B") {
		t.Errorf("image list -l: %q", rows)
	}
}
