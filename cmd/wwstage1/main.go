// Command wwstage1 is /init of the bootstrap initramfs of two-stage
// boot (see internal/stage1). It is static (CGO_ENABLED=0) and runs as
// PID 1 with nothing else in the initramfs.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/nodeclient"
	"github.com/wwboot/wwboot/internal/stage1"
)

func main() {
	// The bootstrap's udevadm is a link to this program, for the
	// wwinit.d scripts stage one runs.
	if filepath.Base(os.Args[0]) == "udevadm" {
		os.Exit(stage1.Udevadm(os.Args[1:], os.Stderr, stage1.Linux{}.DiskLinks))
	}
	err := run()
	fmt.Fprintf(os.Stderr, "wwstage1: ERROR: %v\n", err)
	// PID 1 must not exit: the kernel would panic without saying why.
	for {
		time.Sleep(time.Hour)
	}
}

func run() error {
	// The new root takes nearly all the memory of a small node: keep the
	// heap (decoder windows, buffers) from growing past what it needs.
	debug.SetMemoryLimit(48 << 20)
	sys := stage1.Linux{}
	if err := sys.MountKernelFS(); err != nil {
		fmt.Fprintf(os.Stderr, "wwstage1: %v\n", err)
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return err
	}
	p, err := stage1.ParseCmdline(string(cmdline))
	if err != nil {
		fmt.Fprintf(os.Stderr, "wwstage1: ERROR: %v; rebooting in 60 s\n", err)
		time.Sleep(time.Minute)
		return sys.Reboot()
	}
	s := &stage1.Stage{
		Sys:     sys,
		Client:  nodeclient.NewClient(30*time.Second, true),
		Console: os.Stderr,
		NewRoot: "/newroot",
		Modules: "/etc/wwstage1/modules",
		Owners:  true,
		Backoff: stage1.Backoff,
		Resumes: 20,
		Now:     time.Now,
		Net:     stage1.LinuxNet{},
		PreRoot: "/wwinit",
		Shell:   "/" + contract.BootstrapProgramDir + "/sh",
		ScriptEnv: []string{
			"PATH=/" + contract.BootstrapProgramDir + ":/usr/sbin:/sbin:/bin",
			"LD_LIBRARY_PATH=/" + contract.BootstrapLibDir,
			"HOME=/", "TERM=linux",
		},
	}
	return s.Run(context.Background(), p)
}
