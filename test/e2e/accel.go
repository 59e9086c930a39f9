package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// kvmProbeTime bounds the KVM probe: with working KVM a kernel without a
// root file system panics within a few seconds.
const kvmProbeTime = 20 * time.Second

// ChooseAccel returns the QEMU accelerator to use. want "tcg" or "kvm"
// is taken as is; "" or "auto" means KVM only if /dev/kvm can be opened
// and really boots kernel (a /dev/kvm can exist and not run a stock
// kernel, as with nested PVM: the e2e README's "KVM" section), else TCG.
// The probe's answer is kept in cacheDir until the host reboots.
func ChooseAccel(ctx context.Context, want, kernel, cacheDir string, log *slog.Logger) (string, error) {
	switch want {
	case "tcg", "kvm":
		return want, nil
	case "", "auto":
	default:
		return "", fmt.Errorf("accelerator %q: want tcg, kvm or auto", want)
	}
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg", nil
	}
	f.Close()
	if kernel == "" {
		log.Info("no kernel to probe KVM with: using TCG")
		return "tcg", nil
	}
	bootID, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	cache := filepath.Join(cacheDir, "accel-"+strings.TrimSpace(string(bootID)))
	if data, err := os.ReadFile(cache); err == nil && len(bootID) > 0 {
		return strings.TrimSpace(string(data)), nil
	}
	accel := "tcg"
	if probeKVM(ctx, kernel) {
		accel = "kvm"
	}
	log.Info("probed KVM", "accel", accel)
	if err := os.MkdirAll(cacheDir, 0o755); err == nil && len(bootID) > 0 {
		_ = os.WriteFile(cache, []byte(accel+"\n"), 0o644)
	}
	return accel, nil
}

// probeKVM boots kernel without a root file system under KVM and
// reports whether it got as far as its panic in time.
func probeKVM(ctx context.Context, kernel string) bool {
	ctx, cancel := context.WithTimeout(ctx, kvmProbeTime)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-accel", "kvm", "-cpu", "host", "-m", "256",
		"-nographic", "-nodefaults", "-no-reboot", "-serial", "stdio",
		"-kernel", kernel, "-append", "console=ttyS0 panic=-1 no_timer_check")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	_ = cmd.Run()
	return bytes.Contains(out.Bytes(), []byte("Kernel panic"))
}
