package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// execTree is a busybox tree for image exec tests, which need root.
func execTree(t *testing.T) (*tree, string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("image exec needs root")
	}
	tr := busyboxTree(t)
	return tr, filepath.Join(tr.root, "var/warewulf/chroots/bb/rootfs")
}

// TestImageExecRebuildsPlainArchive: the rebuild after image exec keeps
// the uncompressed bb.img current, which nodes tagged
// IPXEMenuEntry=initrd_nocompress boot; a failed command rebuilds nothing.
func TestImageExecRebuildsPlainArchive(t *testing.T) {
	tr, _ := execTree(t)
	tr.mustRun("image", "build", "bb", "--uncompressed")
	plain := filepath.Join(tr.root, "var/warewulf/provision/images/bb.img")
	tr.mustRun("image", "exec", "bb", "--", "sh", "-c", "echo marker-after-exec > /etc/motd")
	data, err := os.ReadFile(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte("marker-after-exec")) {
		t.Errorf("%s is stale after image exec", plain)
	}
	before, _ := os.Stat(plain)
	_, errOut, err := tr.run("", "image", "exec", "bb", "--", "sh", "-c", "echo half > /etc/motd; exit 3")
	if err == nil || !strings.Contains(err.Error(), "status 3") || !strings.Contains(errOut, "not rebuilt") {
		t.Errorf("failed command: %v, %q", err, errOut)
	}
	if after, _ := os.Stat(plain); !after.ModTime().Equal(before.ModTime()) {
		t.Error("the image was rebuilt after a failed command")
	}
}

// TestImageExecNode: --node shows the image read-only with the node's
// rendered overlays on top, and changes and builds nothing.
func TestImageExecNode(t *testing.T) {
	tr, root := execTree(t)
	tr.mustRun("overlay", "create", "site")
	tr.mustRun("overlay", "mkdir", "site", "etc")
	tmpl := filepath.Join(tr.root, "motd.ww")
	if err := os.WriteFile(tmpl, []byte("node {{.Id}} in {{.ClusterName}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.mustRun("overlay", "import", "site", tmpl, "etc/motd.ww")
	tr.mustRun("node", "add", "n1", "--image", "bb", "--cluster", "c1", "--system-overlays", "site", "--runtime-overlays", "hosts")
	if err := os.WriteFile(filepath.Join(root, "etc/motd"), []byte("image motd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A read-only image may be looked at this way.
	if err := os.WriteFile(filepath.Join(tr.root, "var/warewulf/chroots/bb/readonly"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, err := tr.run("", "image", "exec", "bb", "--node", "n1", "--", "sh", "-c",
		"cat /etc/motd; hostname; grep -c n1 /etc/hosts; touch /etc/new 2>/dev/null || echo read-only")
	if err != nil {
		t.Fatalf("exec --node: %v\n%s", err, errOut)
	}
	if want := "node n1 in c1\nn1\n1\nread-only\n"; out != want {
		t.Errorf("exec --node output %q, want %q", out, want)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(data) != "image motd\n" {
		t.Errorf("the image's motd changed: %q", data)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/new")); err == nil {
		t.Error("etc/new was written into the image")
	}
	if hosts, _ := os.ReadFile(filepath.Join(root, "etc/hosts")); bytes.Contains(hosts, []byte("n1")) {
		t.Errorf("the node's hosts file was written into the image:\n%s", hosts)
	}
	if _, err := os.Stat(filepath.Join(tr.root, "var/warewulf/provision/images/bb.img.gz")); err == nil {
		t.Error("exec --node built the image")
	}
	if _, _, err := tr.run("", "image", "exec", "bb", "--node", "nosuch", "--", "true"); err == nil || !strings.Contains(err.Error(), "no such node: nosuch") {
		t.Errorf("unknown node: %v", err)
	}
}

// TestImageSyncuserFlags: build --syncuser synchronises first; exec
// --syncuser only when the command changed the image's passwd or group.
func TestImageSyncuserFlags(t *testing.T) {
	tr, root := execTree(t)
	if err := os.MkdirAll(filepath.Join(tr.root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tr.root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\nalice:x:2001:0::/home/alice:/bin/sh\nbob:x:2002:0::/home/bob:/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tr.root, "etc/group"), []byte("root:x:0:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The command adds alice with another id: synchronised after it.
	out := tr.mustRun("image", "exec", "bb", "--syncuser", "--build=false", "--", "sh", "-c", "echo alice:x:1001:0::/home/alice:/bin/sh >> /etc/passwd")
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "user alice 1001 2001") {
		t.Errorf("exec --syncuser: %s", out)
	}
	// Not changed by the command: not synchronised.
	if err := os.WriteFile(filepath.Join(root, "etc/passwd"), append(mustRead(t, filepath.Join(root, "etc/passwd")), "bob:x:1002:0::/home/bob:/bin/sh\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	out = tr.mustRun("image", "exec", "bb", "--syncuser", "--build=false", "--", "true")
	if strings.Contains(out, "bob") {
		t.Errorf("exec --syncuser synchronised an unchanged passwd: %s", out)
	}
	out = tr.mustRun("image", "build", "bb", "--syncuser")
	if !strings.Contains(strings.Join(strings.Fields(out), " "), "user bob 1002 2002") || !strings.Contains(out, "Built image bb") {
		t.Errorf("build --syncuser: %s", out)
	}
	if !strings.Contains(string(mustRead(t, filepath.Join(root, "etc/passwd"))), "bob:x:2002:") {
		t.Error("build --syncuser did not rewrite passwd")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
