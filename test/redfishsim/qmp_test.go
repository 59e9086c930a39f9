package redfishsim

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startQEMU runs a QEMU with no machine, paused, its QMP socket in a
// temporary directory, until the test ends.
func startQEMU(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Skip("qemu-system-x86_64 is not installed; skipping the QMP machine test")
	}
	dir, err := os.MkdirTemp("", "qmp") // a unix socket path must be short
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "qmp.sock")
	cmd := exec.Command(bin, "-S", "-no-shutdown", "-nodefaults", "-display", "none", "-machine", "none",
		"-qmp", "unix:"+sock+",server=on,wait=off")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			return sock
		}
		if i == 100 {
			t.Fatalf("QEMU made no QMP socket %s in 10s", sock)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Every ResetType against a real QEMU: the run state QMP reports after
// it, the power state the BMC shows, and the boots recorded.
func TestQMPMachine(t *testing.T) {
	m := NewQMP(startQEMU(t))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	st, err := m.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st != "prelaunch" {
		t.Errorf("a VM started with -S is %q, want prelaunch", st)
	}
	m.SetBoot(Boot{Target: "Pxe", Enabled: "Once"})
	steps := []struct {
		reset  string
		status string
		power  PowerState
	}{
		{"On", "running", On},
		{"On", "running", On},
		{"ForceOff", "paused", Off},
		{"ForceOn", "running", On},
		{"ForceRestart", "running", On},
		{"PowerCycle", "running", On},
		{"GracefulShutdown", "running", On}, // no guest to act on ACPI
		{"ForceOff", "paused", Off},
	}
	for _, s := range steps {
		if err := m.Reset(ctx, s.reset); err != nil {
			t.Fatalf("%s: %v", s.reset, err)
		}
		st, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// system_reset of a stopped VM makes it prelaunch, or leaves it
		// paused, depending on QEMU's version.
		if st == "prelaunch" && s.status == "paused" {
			st = "paused"
		}
		p, err := m.PowerState(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st != s.status || p != s.power {
			t.Errorf("after %s: status %q, power %q; want %q, %q", s.reset, st, p, s.status, s.power)
		}
	}
	if err := m.Reset(ctx, "Nmi"); err == nil {
		t.Error("Reset(Nmi) = nil, want an error")
	}
	none := Boot{Target: "None", Enabled: "Disabled"}
	want := []Boot{{Target: "Pxe", Enabled: "Once"}, none, none, none}
	if diff := cmp.Diff(want, m.Boots()); diff != "" {
		t.Errorf("boots (-want +got):\n%s", diff)
	}
}

// A socket with no QEMU behind it is an error, not a hang.
func TestQMPNoSocket(t *testing.T) {
	m := NewQMP(filepath.Join(t.TempDir(), "none.sock"))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := m.PowerState(ctx); err == nil {
		t.Error("PowerState without QEMU = nil error")
	}
}
