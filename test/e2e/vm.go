package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Firmware of a VM.
type Firmware string

const (
	// BIOS is SeaBIOS; the NIC's option ROM (iPXE) boots from the network.
	BIOS Firmware = "bios"
	// UEFI is OVMF; without a NIC ROM its own PXE client loads iPXE
	// (snponly.efi) over TFTP.
	UEFI Firmware = "uefi"
	// SecureBoot is OVMF with Microsoft's keys enrolled and Secure Boot
	// enforced (SMM and a secure flash, as the secboot build needs).
	SecureBoot Firmware = "secureboot"
)

// OVMF's firmware, from Debian's ovmf package.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	// The Secure Boot build and variables with Microsoft's keys.
	ovmfSecureCode = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
	ovmfSecureVars = "/usr/share/OVMF/OVMF_VARS_4M.ms.fd"
)

// AAVMF, the arm64 UEFI firmware, from Debian's qemu-efi-aarch64.
const (
	aavmfCode = "/usr/share/AAVMF/AAVMF_CODE.fd"
	aavmfVars = "/usr/share/AAVMF/AAVMF_VARS.fd"
	// The build and variables with Microsoft's keys, Secure Boot on.
	aavmfSecureCode = "/usr/share/AAVMF/AAVMF_CODE.ms.fd"
	aavmfSecureVars = "/usr/share/AAVMF/AAVMF_VARS.ms.fd"
)

// Aarch64 is VMOptions.Arch of an arm64 VM.
const Aarch64 = "aarch64"

// VMOptions describe a VM.
type VMOptions struct {
	Name     string
	MAC      string
	Firmware Firmware
	// NoROM leaves the NIC without its iPXE option ROM (UEFI only: OVMF
	// then boots with its own PXE client).
	NoROM bool
	// HTTPBoot turns OVMF's PXE clients off (its fw_cfg switches
	// opt/org.tianocore/IPv4PXESupport and IPv6PXESupport), so that it
	// boots from the network by UEFI HTTP boot, as firmware set up for
	// HTTP boot only does (x86_64 UEFI without the NIC's ROM only).
	HTTPBoot bool
	// MemoryMB is the guest's RAM; 0 is 1024.
	MemoryMB int
	// CPUs is the number of virtual CPUs; 0 is 1.
	CPUs int
	// Disk, if set, is a raw disk image file attached as a virtio-blk
	// disk: the guest's /dev/vda. The VM writes to the file itself, so
	// it can be inspected once the VM is stopped. The firmware still
	// boots from the network.
	Disk string
	// Off starts the VM paused, as a machine whose power is off: its BMC
	// powers it on by continuing it (QMP's cont). QEMU then stays when
	// the guest powers off (-no-shutdown).
	Off bool
	// QMP, if set, is the path of a QMP socket QEMU listens on.
	QMP string
	// Bridge is the bridge of the VM's tap: "" is BridgeName, the
	// server's; RelayBridge is behind the DHCP relay (Options.Relay).
	Bridge string
	// Trunk, if set, puts the NIC on this switch's trunk port instead
	// of a tap (Options.VLAN): untagged frames reach BridgeName, frames
	// tagged with VLANID reach VLANBridge.
	Trunk *VLANSwitch
	// Arch is the guest's architecture: "" or "x86_64" (a PC, q35 with
	// UEFI), or Aarch64: qemu-system-aarch64's virt board with a
	// Cortex-A57 (cheaper to emulate than "max") under TCG whatever
	// the host, AAVMF as its UEFI firmware (with Firmware SecureBoot its
	// build with Microsoft's keys and Secure Boot on, else the plain
	// one), its PL011 serial port as the console (console=ttyAMA0).
	Arch string
	// Kernel, if set, is booted directly (QEMU's -kernel, with Initrd
	// and Append) instead of from the network, and without firmware:
	// for checking a kernel and image without the boot chain.
	Kernel, Initrd, Append string
}

// VM is a running QEMU guest whose serial console is captured.
type VM struct {
	Name    string
	MAC     string
	Started time.Time
	Console *Console
	// ConsoleFile is where the console is written.
	ConsoleFile string
	proc        vmProc
	stdin       io.WriteCloser // nil: the console takes no input
	copied      chan struct{}
	// stopConsole, when set, ends a console that follows a file.
	stopConsole func()
}

// vmProc is the QEMU process of a VM: one the harness started (*Proc),
// or one a BMC simulator starts and stops (pidFileProc).
type vmProc interface {
	PID() int
	Exited() (bool, error)
	Stop(grace time.Duration) error
}

// startVM boots a VM in ns from the network on a new tap, with its files
// (console, QEMU's errors, UEFI variables) in dir.
func startVM(ctx context.Context, ns *Netns, dir, accel string, o VMOptions, log *slog.Logger) (*VM, error) {
	netdev := ""
	if o.Trunk != nil {
		netdev = o.Trunk.NetdevArgs("n0")
	} else {
		bridge := o.Bridge
		if bridge == "" {
			bridge = BridgeName
		}
		tap, err := ns.AddTapOn(ctx, bridge)
		if err != nil {
			return nil, err
		}
		netdev = tapNetdev(tap)
	}
	args, err := qemuArgs(dir, netdev, accel, o, "-chardev", "stdio,id=s0,signal=off", "-serial", "chardev:s0")
	if err != nil {
		return nil, err
	}
	vm := &VM{Name: o.Name, MAC: o.MAC, ConsoleFile: filepath.Join(dir, "console.log"), copied: make(chan struct{})}
	consoleFile, err := os.Create(vm.ConsoleFile)
	if err != nil {
		return nil, err
	}
	errFile, err := os.Create(filepath.Join(dir, "qemu.err"))
	if err != nil {
		consoleFile.Close()
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		consoleFile.Close()
		errFile.Close()
		return nil, err
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		consoleFile.Close()
		errFile.Close()
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := ns.Command(context.Background(), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errFile
	vm.Started = time.Now()
	vm.Console = newConsole(vm.Started)
	proc, err := startProc("qemu "+o.Name, cmd, log)
	// The child has its copies; the parent keeps only its ends.
	inR.Close()
	outW.Close()
	errFile.Close()
	if err != nil {
		consoleFile.Close()
		outR.Close()
		inW.Close()
		return nil, err
	}
	vm.proc, vm.stdin = proc, inW
	go func() {
		defer close(vm.copied)
		vm.Console.copyFrom(outR, consoleFile)
		outR.Close()
		consoleFile.Close()
	}()
	log.Info("VM booting", "vm", o.Name, "arch", o.Arch, "mac", o.MAC, "firmware", o.Firmware, "rom", !o.NoROM, "netdev", netdev, "accel", accel, "disk", o.Disk)
	return vm, nil
}

// tapNetdev is the -netdev value of a NIC on tap.
func tapNetdev(tap string) string { return "tap,id=n0,ifname=" + tap + ",script=no,downscript=no" }

// qemuArgs is the QEMU command line of a VM whose NIC is on netdev (the
// value of -netdev, id n0), with its files in dir and its serial port
// and other devices as serial gives them.
func qemuArgs(dir, netdev, accel string, o VMOptions, serial ...string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	mem, cpus := o.MemoryMB, o.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 1
	}
	if o.Arch == Aarch64 {
		return aarch64Args(dir, netdev, mem, cpus, o, serial)
	}
	if o.Arch != "" && o.Arch != "x86_64" {
		return nil, fmt.Errorf("VM %s: unknown architecture %q (want x86_64 or aarch64)", o.Name, o.Arch)
	}
	args := []string{"qemu-system-x86_64", "-name", o.Name,
		"-accel", accel, "-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		// SeaBIOS copies its text (and iPXE's) to the serial port only
		// with -nographic.
		"-nographic", "-nodefaults", "-no-reboot",
		"-netdev", netdev,
	}
	args = append(args, sharedArgs(o, serial)...)
	if accel == "kvm" {
		args = append(args, "-cpu", "host")
	}
	dev := "virtio-net-pci,netdev=n0,mac=" + o.MAC + ",bootindex=1"
	if o.NoROM {
		dev += ",romfile="
	}
	args = append(args, "-device", dev)
	args = append(args, diskArgs(o)...)
	if o.Kernel != "" {
		return append(args, directBoot(o)...), nil
	}
	if o.HTTPBoot {
		if o.Firmware != UEFI && o.Firmware != SecureBoot || !o.NoROM {
			return nil, fmt.Errorf("VM %s: HTTP boot needs UEFI firmware and no NIC ROM", o.Name)
		}
		args = append(args, "-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
			"-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n")
	}
	switch o.Firmware {
	case BIOS, "":
		args = append(args, "-machine", "pc", "-boot", "order=n")
	case UEFI:
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		if err := copyFile(ovmfVars, vars); err != nil {
			return nil, fmt.Errorf("UEFI variables for %s: %w", o.Name, err)
		}
		args = append(args, "-machine", "q35",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	case SecureBoot:
		vars := filepath.Join(dir, "OVMF_VARS.fd")
		if err := copyFile(ovmfSecureVars, vars); err != nil {
			return nil, fmt.Errorf("UEFI variables for %s: %w", o.Name, err)
		}
		args = append(args, "-machine", "q35,smm=on",
			"-global", "driver=cfi.pflash01,property=secure,value=on",
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfSecureCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	default:
		return nil, fmt.Errorf("VM %s: unknown firmware %q", o.Name, o.Firmware)
	}
	return args, nil
}

// sharedArgs are the options of a VM of either architecture for its
// serial devices (serial), a start powered off (o.Off) and QMP.
func sharedArgs(o VMOptions, serial []string) []string {
	args := append([]string{}, serial...)
	if o.Off {
		args = append(args, "-S", "-no-shutdown")
	}
	if o.QMP != "" {
		args = append(args, "-qmp", "unix:"+strings.ReplaceAll(o.QMP, ",", ",,")+",server=on,wait=off")
	}
	return args
}

// diskArgs attach o.Disk, if set, as a virtio-blk disk. QEMU's option
// syntax doubles a comma within a value. cache=unsafe: QEMU ignores the
// guest's flushes. A test's disk lives only as long as the test, and the
// host reads it back through its page cache once the VM is stopped; a
// flush would be an fdatasync on the host's file system, which can wait
// for whatever else the machine is writing. (Once, in CI, scenario w's
// second boot hung over 120 s in the mount of its disk root while a fresh
// root was being built beside it; this is the likeliest cause we could
// name, not a proven one.)
func diskArgs(o VMOptions) []string {
	if o.Disk == "" {
		return nil
	}
	return []string{"-drive", "file=" + strings.ReplaceAll(o.Disk, ",", ",,") + ",format=raw,if=none,id=d0,cache=unsafe",
		"-device", "virtio-blk-pci,drive=d0"}
}

// aarch64Args is qemuArgs for an arm64 VM. TCG always: the e2e hosts
// are x86_64 (on an arm64 host, KVM would need -cpu host and the
// host's GIC; not needed yet).
func aarch64Args(dir, netdev string, mem, cpus int, o VMOptions, serial []string) ([]string, error) {
	args := []string{"qemu-system-aarch64", "-name", o.Name,
		"-machine", "virt", "-cpu", "cortex-a57", "-accel", "tcg",
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus),
		"-nographic", "-nodefaults", "-no-reboot",
		"-netdev", netdev,
	}
	args = append(args, sharedArgs(o, serial)...)
	// No option ROM: AAVMF's own network stack boots from the NIC.
	args = append(args, "-device", "virtio-net-pci,netdev=n0,mac="+o.MAC+",bootindex=1,romfile=")
	args = append(args, diskArgs(o)...)
	if o.Kernel != "" {
		return append(args, directBoot(o)...), nil
	}
	code, varsFrom := aavmfCode, aavmfVars
	if o.Firmware == SecureBoot {
		code, varsFrom = aavmfSecureCode, aavmfSecureVars
	}
	vars := filepath.Join(dir, "AAVMF_VARS.fd")
	if err := copyFile(varsFrom, vars); err != nil {
		return nil, fmt.Errorf("UEFI variables for %s: %w (apt-get install qemu-efi-aarch64)", o.Name, err)
	}
	return append(args,
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars), nil
}

// directBoot is the -kernel, -initrd and -append of a VM booted directly.
func directBoot(o VMOptions) []string {
	args := []string{"-kernel", o.Kernel}
	if o.Initrd != "" {
		args = append(args, "-initrd", o.Initrd)
	}
	if o.Append != "" {
		args = append(args, "-append", o.Append)
	}
	return args
}

// Type writes s to the VM's serial console, as if typed.
func (vm *VM) Type(s string) error {
	if vm.stdin == nil {
		return fmt.Errorf("VM %s: its console is its BMC's serial over LAN, not the harness's", vm.Name)
	}
	_, err := io.WriteString(vm.stdin, s)
	return err
}

// Exited reports whether QEMU has exited.
func (vm *VM) Exited() (bool, error) { return vm.proc.Exited() }

// Stop powers the VM off (QEMU exits on SIGTERM) and waits for the
// console to be written out.
func (vm *VM) Stop() error {
	err := vm.proc.Stop(10 * time.Second)
	if vm.stdin != nil {
		vm.stdin.Close()
	}
	if vm.stopConsole != nil {
		vm.stopConsole()
	}
	select {
	case <-vm.copied:
	case <-time.After(5 * time.Second):
	}
	return err
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}
