package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bootstrapTree is a busybox tree whose image has a kernel with two
// network modules (one depending on the other) and a stage-one stand-in.
func bootstrapTree(t *testing.T) *tree {
	t.Helper()
	tr := busyboxTree(t)
	root := filepath.Join(tr.root, "var/warewulf/chroots/bb/rootfs")
	mod := "lib/modules/6.1.0-1-amd64/"
	for p, content := range map[string]string{
		"boot/vmlinuz-6.1.0-1-amd64":             "kernel",
		mod + "modules.dep":                      "kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko\nkernel/net/core/failover.ko:\n",
		mod + "kernel/drivers/net/virtio_net.ko": "ELF virtio_net",
		mod + "kernel/net/core/failover.ko":      "ELF failover",
		"lib/firmware/bnx2/bnx2-mips.fw":         "fw",
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tr.env["WWSTAGE1"] = filepath.Join(tr.root, "wwstage1")
	if err := os.WriteFile(tr.env["WWSTAGE1"], []byte("#!stage one stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr.env["SOURCE_DATE_EPOCH"] = "1700000000"
	return tr
}

func TestImageBootstrap(t *testing.T) {
	tr := bootstrapTree(t)
	out := tr.mustRun("image", "bootstrap", "bb")
	if !strings.Contains(out, "Built bootstrap of image bb, kernel 6.1.0-1-amd64: 2 modules, 1 firmware files") {
		t.Fatalf("bootstrap: %s", out)
	}
	archive := filepath.Join(tr.root, "var/warewulf/provision/images/bb.bootstrap-6.1.0-1-amd64.img.gz")
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	want := hex.EncodeToString(sum[:])
	rec, err := os.ReadFile(archive + ".sha256")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec), want) || !strings.Contains(out, "sha256:"+want) {
		t.Errorf("recorded sha256 %q and output %q do not give the archive's %s", rec, out, want)
	}
	// Reproducible: the same inputs give the same bytes.
	tr.mustRun("image", "bootstrap", "--all")
	again, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	if sum2 := sha256.Sum256(again); sum2 != sum {
		t.Errorf("a second build differs")
	}
	// "image build" makes it too.
	if err := os.Remove(archive); err != nil {
		t.Fatal(err)
	}
	tr.mustRun("image", "build", "bb")
	if _, err := os.Stat(archive); err != nil {
		t.Errorf("image build made no bootstrap: %v", err)
	}
}

func TestImageBootstrapRefusals(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		noKern  bool
		wantErr string
	}{
		{name: "no image named", args: []string{"image", "bootstrap"}, wantErr: "name the images"},
		{name: "unknown image", args: []string{"image", "bootstrap", "nosuch"}, wantErr: `image "nosuch" does not exist`},
		{name: "unknown kernel", args: []string{"image", "bootstrap", "bb", "--kernel", "9.9"}, wantErr: "9.9"},
		{name: "no stage one", args: []string{"image", "bootstrap", "bb"}, env: map[string]string{"WWSTAGE1": "/nonexistent/wwstage1"},
			wantErr: "no stage-one program"},
		{name: "bad SOURCE_DATE_EPOCH", args: []string{"image", "bootstrap", "bb"}, env: map[string]string{"SOURCE_DATE_EPOCH": "yesterday"},
			wantErr: `SOURCE_DATE_EPOCH "yesterday"`},
		{name: "image without a kernel", args: []string{"image", "bootstrap", "bb"}, noKern: true, wantErr: "has no kernel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := bootstrapTree(t)
			for k, v := range tt.env {
				tr.env[k] = v
			}
			if tt.noKern {
				if err := os.Remove(filepath.Join(tr.root, "var/warewulf/chroots/bb/rootfs/boot/vmlinuz-6.1.0-1-amd64")); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := tr.run("", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			matches, _ := filepath.Glob(filepath.Join(tr.root, "var/warewulf/provision/images/*bootstrap*"))
			if len(matches) != 0 {
				t.Errorf("a refused bootstrap left %v", matches)
			}
		})
	}
}
