package cli

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	for _, want := range []string{"bb /boot/vmlinuz-6.1.0-27-amd64 6.1.0-27-amd64 true 1", "bb /boot/vmlinuz-6.1.0-9-amd64 6.1.0-9-amd64 false 0"} {
		if !strings.Contains(kernels, want) {
			t.Errorf("kernels lack %q: %s", want, kernels)
		}
	}
	list := strings.Join(strings.Fields(tr.mustRun("image", "list")), " ")
	if !strings.Contains(list, "bb 1 6.1.0-27-amd64") {
		t.Errorf("list: %s", list)
	}
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
		{"existing name", []string{"image", "import", tarball, "bb"}, `image "bb" already exists (use --force`},
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
