package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

func TestUpgradeNodes(t *testing.T) {
	old := filepath.Join("..", "inventory", "testdata", "nodes-4.5.conf")
	oldConf := filepath.Join("..", "config", "testdata", "site-4.5.conf")
	tr := newTree(t, old)

	// Every command that reads the old file says what to run.
	_, errOut, err := tr.run("", "node", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, `run \"wwctl upgrade nodes\" to convert the file`) {
		t.Errorf("node list: stderr lacks the upgrade hint:\n%s", errOut)
	}

	// Warewulf requires both choices.
	if _, _, err := tr.run("", "upgrade", "nodes"); err == nil || !strings.Contains(err.Error(), "add-defaults") {
		t.Errorf("upgrade nodes without --add-defaults: %v", err)
	}

	out, errOut, err := tr.run("", "upgrade", "nodes", "--add-defaults=false", "--replace-overlays=false", "-o", "-",
		"--with-warewulfconf", oldConf)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if !strings.Contains(errOut, `removed "WW_INTERNAL"`) || !strings.Contains(errOut, "added warewulf:/home on /home from warewulf.conf") {
		t.Errorf("stderr does not list the changes:\n%s", errOut)
	}
	if !strings.Contains(out, "- spec: warewulf:/home") || strings.Contains(out, "WW_INTERNAL") {
		t.Errorf("stdout:\n%s", out)
	}
	if before, _ := os.ReadFile(old); tr.nodesConf() != string(before) {
		t.Error(`"-o -" changed nodes.conf`)
	}

	_, errOut, err = tr.run("", "upgrade", "nodes", "--add-defaults=false", "--replace-overlays=false",
		"--with-warewulfconf", oldConf)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if tr.nodesConf() != out {
		t.Errorf("written nodes.conf differs from the one shown:\n%s", tr.nodesConf())
	}
	if kept, _ := os.ReadFile(tr.nodes + "-old"); len(kept) == 0 || !strings.Contains(string(kept), "WW_INTERNAL") {
		t.Errorf("previous content not kept in %s-old", tr.nodes)
	}
	inv, err := inventory.NewStore(tr.nodes).Load()
	if err != nil {
		t.Fatal(err)
	}
	if ws := inv.Warnings(); len(ws) > 0 {
		t.Errorf("upgraded nodes.conf warns: %v", ws)
	}
	if _, errOut, _ := tr.run("", "node", "list"); strings.Contains(errOut, "upgrade") {
		t.Errorf("node list still warns:\n%s", errOut)
	}
}

func TestUpgradeConfig(t *testing.T) {
	tr := newTree(t, "")
	old := filepath.Join(tr.root, "old.conf")
	data, err := os.ReadFile(filepath.Join("..", "config", "testdata", "site-4.2.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(old, data, 0o644); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "config", "testdata", "site-4.2.upgraded.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := tr.run("", "upgrade", "config", "-i", old, "-o", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if out != string(want) {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	if !strings.Contains(errOut, "removed nfs.exports") {
		t.Errorf("stderr does not list the changes:\n%s", errOut)
	}
	if _, errOut, err := tr.run("", "upgrade", "config", "-i", old, "-o", old); err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if got, _ := os.ReadFile(old); string(got) != string(want) {
		t.Errorf("written file:\n%s", got)
	}
	if kept, _ := os.ReadFile(old + "-old"); string(kept) != string(data) {
		t.Errorf("previous content not kept in -old")
	}
}

// A Warewulf 4.5 kernel override naming a kernel imported with "wwctl
// kernel import" becomes the image's kernel of that version, as in
// Warewulf's own upgrade test ("Kernel.Override (legacy)"): the imported
// kernel's version file says 1.2.3 and the image has /boot/vmlinuz-1.2.3.
func TestUpgradeNodesKernelOverride(t *testing.T) {
	tr := newTree(t, "")
	cfg, _, err := config.Load(tr.conf)
	if err != nil {
		t.Fatal(err)
	}
	sitetest.Write(t, filepath.Join(cfg.Paths.Wwprovisiondir, "kernel", "mykernel", "version"), "1.2.3")
	sitetest.Write(t, filepath.Join(cfg.Paths.Wwchrootdir, "myimage", "rootfs", "boot", "vmlinuz-1.2.3"), "")
	sitetest.Write(t, tr.nodes, `nodeprofiles:
  default:
    container name: myimage
    kernel:
      override: mykernel
nodes:
  n1:
    container name: myimage
    kernel:
      override: mykernel
  n2:
    container name: otherimage
    kernel:
      override: mykernel
`)
	out, errOut, err := tr.run("", "upgrade", "nodes", "--add-defaults=false", "--replace-overlays=false", "-o", "-")
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	if got := strings.Count(out, "version: /boot/vmlinuz-1.2.3"); got != 2 {
		t.Errorf("the profile's and n1's override are resolved %d times, want 2:\n%s", got, out)
	}
	if !strings.Contains(errOut, "kernel override mykernel: resolved to kernel version /boot/vmlinuz-1.2.3") {
		t.Errorf("stderr does not say the override was resolved:\n%s", errOut)
	}
	// n2's image has no such kernel: said so, and the override is kept.
	if !strings.Contains(errOut, "kernel override mykernel: unable to resolve (image otherimage)") {
		t.Errorf("stderr does not say n2's override could not be resolved:\n%s", errOut)
	}
}
