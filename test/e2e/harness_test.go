package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/contract"
)

// The harness's own parts, without VMs: these run in every "go test".

func TestConsoleCleansAndWaits(t *testing.T) {
	start := time.Now()
	c := newConsole(start)
	r, w := io.Pipe()
	f, err := os.Create(filepath.Join(t.TempDir(), "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		c.copyFrom(r, f)
		close(done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		io.WriteString(w, "\x1b[2J\x1b[01;01HiPXE \x1b[1minitialising\x1b[0m devices...ok\r\n")
		io.WriteString(w, "/ # E2E-MARKER first\n")
		w.Close()
	}()
	l, m, next, err := c.WaitFrom(ctx, 0, regexp.MustCompile(`E2E-MARKER (\w+)$`))
	if err != nil {
		t.Fatal(err)
	}
	if m[1] != "first" || l.Text != "/ # E2E-MARKER first" || next != 2 {
		t.Errorf("got line %q, match %q, next %d", l.Text, m, next)
	}
	<-done
	if diff := cmp.Diff("iPXE initialising devices...ok", c.Lines()[0].Text); diff != "" {
		t.Errorf("escapes not removed (-want +got):\n%s", diff)
	}
	// The output ended: a wait for what never came fails at once.
	if _, _, _, err := c.WaitFrom(ctx, next, regexp.MustCompile(`first`)); err == nil || !strings.Contains(err.Error(), "ended") {
		t.Errorf("wait after the end: %v", err)
	}
}

func TestBootTimings(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	vm := &VM{Name: "n1", Started: t0, Console: newConsole(t0)}
	vm.Console.lines = []Line{{At: at(20), Text: "Loading the image..."}, {At: at(27.5), Text: "wwinit: booting node n1 (image bb, root initramfs)"}}
	ev := func(s float64, stage, sent string) Event {
		return Event{At: at(s), NodeStatus: contract.NodeStatus{Node: "n1", Stage: stage, Sent: sent}}
	}
	events := []Event{
		ev(-5, StageRuntime, "old.img.gz"), // an earlier boot
		ev(2.4, StageDHCP, "lease"),
		{At: at(2.5), NodeStatus: contract.NodeStatus{Node: "n2", Stage: StageDHCP}},
		ev(18.4, StageIPXE, "default.ipxe"),
		ev(18.6, StageImage, "bb.img.gz"),
		ev(19.0, StageSystem, "s.img.gz"),
		ev(19.2, StageRuntime, contract.SentBadRequest),
		ev(29.4, StageRuntime, "r.img.gz"),
		ev(37.4, StageRuntime, "r.img.gz"),
	}
	got := BootTimings(events, "n1", vm)
	want := map[string]time.Duration{
		"DHCP": 2400 * time.Millisecond, "iPXE script": 18400 * time.Millisecond, "image": 18600 * time.Millisecond,
		"overlays": 19200 * time.Millisecond, "init": 27500 * time.Millisecond, "wwclient": 29400 * time.Millisecond,
	}
	if diff := cmp.Diff(want, got.Phases); diff != "" {
		t.Errorf("phases (-want +got):\n%s", diff)
	}
	if row := got.String(); row != "| n1 | 2.4 | 18.4 | - | 18.6 | 19.2 | 27.5 | 29.4 |" {
		t.Errorf("row %q", row)
	}
	if hb := Heartbeats(events, "n1", at(30)); len(hb) != 1 {
		t.Errorf("heartbeats after 30 s: %v", hb)
	}
}

// TestBootTimingsGrub: a node booting GRUB has GRUB's configuration in
// the script column, and the kernel, image and overlays GRUB loads.
func TestBootTimingsGrub(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	vm := &VM{Name: "g1", Started: t0, Console: newConsole(t0)}
	vm.Console.lines = []Line{{At: at(32.7), Text: "wwinit: booting node g1 (image arm, root initramfs)"}}
	ev := func(s float64, stage, sent string) Event {
		return Event{At: at(s), NodeStatus: contract.NodeStatus{Node: "g1", Stage: stage, Sent: sent}}
	}
	events := []Event{
		ev(11.0, StageDHCP, "lease"),
		ev(15.1, StageGrub, "grub.cfg.ww"),
		ev(17.6, StageKernel, "vmlinuz"),
		ev(28.2, StageImage, "arm.img.gz"),
		ev(28.4, StageSystem, "s.img.gz"),
		ev(47.2, StageRuntime, "r.img.gz"),
	}
	got := BootTimings(events, "g1", vm)
	if row := got.String(); row != "| g1 | 11.0 | 15.1 | 17.6 | 28.2 | 28.4 | 32.7 | 47.2 |" {
		t.Errorf("row %q", row)
	}
}

func TestExtractKernelFiles(t *testing.T) {
	const v = "6.1.0-1-amd64"
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{
		"./boot/vmlinuz-" + v,
		"./boot/System.map-" + v,
		"./lib/modules/" + v + "/modules.builtin",
		"./lib/modules/" + v + "/modules.order",
		"./lib/modules/" + v + "/kernel/drivers/net/virtio_net.ko",
		"./lib/modules/" + v + "/kernel/drivers/virtio/virtio_pci.ko",
		"./lib/modules/" + v + "/kernel/drivers/gpu/drm/drm.ko",
		"./lib/modules/" + v + "/kernel/../../../../etc/evil.ko",
	} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(name)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(name))
	}
	tw.Close()
	dest := t.TempDir()
	found, err := extractKernelFiles(tar.NewReader(&buf), v, dest)
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	var got []string
	filepath.WalkDir(dest, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dest, p)
			got = append(got, rel)
		}
		return err
	})
	want := []string{
		"boot/vmlinuz-" + v,
		"lib/modules/" + v + "/kernel/drivers/net/virtio_net.ko",
		"lib/modules/" + v + "/kernel/drivers/virtio/virtio_pci.ko",
		"lib/modules/" + v + "/modules.builtin",
		"lib/modules/" + v + "/modules.order",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("extracted (-want +got):\n%s", diff)
	}
}

// wwinit's first line may share the console line iPXE left open: CI
// waited five minutes for an anchored match of it.
func TestInitLineAfterIPXE(t *testing.T) {
	for _, line := range []string{
		"wwinit: booting node n1 (image bb, root initramfs)",
		"Booting, single stage..wwinit: booting node n1 (image bb, root initramfs)",
	} {
		m := InitLine.FindStringSubmatch(line)
		if m == nil || m[1] != "n1" {
			t.Errorf("InitLine on %q: %q, want node n1", line, m)
		}
	}
}
