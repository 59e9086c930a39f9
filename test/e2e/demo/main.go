// Command demo is "make demo": a virtual cluster of two busybox nodes
// booting from wwctl server in a private network namespace, with "wwctl
// node status" shown as they boot. It runs until Ctrl-C and then removes
// everything it made.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/test/e2e"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "bin", "Directory with wwctl and wwclient (make build)")
	dir := flag.String("dir", "", "Directory for the cluster's tree and logs (default: a new temporary one, removed at the end)")
	nodes := flag.Int("nodes", 2, "Number of nodes")
	accel := flag.String("accel", "auto", "QEMU accelerator: tcg, kvm or auto")
	flag.Parse()
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the virtual cluster needs a network namespace and taps")
	}
	if *nodes < 1 || *nodes > 9 {
		return fmt.Errorf("-nodes %d: want 1 to 9", *nodes)
	}
	binDir, err := filepath.Abs(*bin)
	if err != nil {
		return err
	}
	keep := *dir != ""
	if !keep {
		if *dir, err = os.MkdirTemp("", "wwboot-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(*dir)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(*dir, "demo.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	// Warnings on the terminal, everything in demo.log.
	log := slog.New(slog.NewTextHandler(io.MultiWriter(logFile, levelWriter{os.Stderr}), &slog.HandlerOptions{Level: slog.LevelInfo}))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	say("Fetching Debian's kernel (cached in %s) for a busybox image", e2e.DefaultCacheDir)
	kernel, err := e2e.FetchKernel(ctx, e2e.DefaultCacheDir, log)
	if err != nil {
		return err
	}
	c, err := e2e.New(e2e.Options{
		Dir: filepath.Join(*dir, "cluster"), Bin: binDir, Accel: *accel, ProbeKernel: kernel.Vmlinuz(),
		UpdateInterval: 10, Secure: true, Log: log,
	})
	if err != nil {
		return err
	}
	defer func() {
		say("Removing the virtual cluster (VMs, daemon, namespace)")
		if err := c.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: cleanup:", err)
			return
		}
		say("Done; nothing is left running")
	}()
	if err := demo(ctx, c, kernel, *nodes); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	return nil
}

func demo(ctx context.Context, c *e2e.Cluster, kernel *e2e.Kernel, n int) error {
	wwctl := func(args ...string) error {
		fmt.Printf("\n\033[1m$ wwctl %s\033[0m\n", strings.Join(args, " "))
		out, err := c.Wwctl(ctx, args...)
		fmt.Print(out)
		return err
	}
	say("Making a busybox image with Debian's kernel %s", kernel.Version)
	if err := wwctl("image", "create", "demo", "--from", "busybox"); err != nil {
		return err
	}
	if err := kernel.InstallInto(ctx, c.Rootfs("demo")); err != nil {
		return err
	}
	if err := wwctl("image", "build", "demo"); err != nil {
		return err
	}
	if err := c.WriteOverlay("e2eprobe", e2e.ProbeOverlay()...); err != nil {
		return err
	}
	pattern := "n1"
	if n > 1 {
		pattern = fmt.Sprintf("n[1-%d]", n)
	}
	if err := wwctl("node", "add", pattern, "--image", "demo", "--netdev", "eth0",
		"--ipaddr", "192.0.2.11", "--netmask", e2e.Netmask, "--system-overlays", "e2eprobe",
		"-A", "console=ttyS0 no_timer_check"); err != nil {
		return err
	}
	for i := 1; i <= n; i++ {
		if err := wwctl("node", "set", fmt.Sprintf("n%d", i), "--hwaddr", mac(i), "--yes"); err != nil {
			return err
		}
	}
	if err := wwctl("node", "list", "-n"); err != nil {
		return err
	}
	say("Starting wwctl server (DHCP, TFTP, HTTP) in a private network namespace")
	if err := c.Start(ctx); err != nil {
		return err
	}
	say("Namespace %s, bridge %s %s; daemon log %s", c.Netns().Name, e2e.BridgeName, e2e.ServerIP, c.DaemonLog)
	vms := make([]*e2e.VM, 0, n)
	for i := 1; i <= n; i++ {
		vm, err := c.StartVM(ctx, e2e.VMOptions{Name: fmt.Sprintf("n%d", i), MAC: mac(i), Firmware: e2e.BIOS})
		if err != nil {
			return err
		}
		vms = append(vms, vm)
		say("VM n%d booting from the network (%s); console: %s", i, c.Accel(), vm.ConsoleFile)
	}
	say("Showing wwctl node status as the nodes boot; Ctrl-C stops the demo and removes everything")
	last, shown := "", time.Time{}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			fmt.Println()
			return nil
		case <-tick.C:
		}
		cmd := c.Netns().Command(ctx, filepath.Join(c.BinDir(), "wwctl"), "--warewulfconf", c.Conf, "node", "status")
		out, err := cmd.Output()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("wwctl node status: %w", err)
		}
		var b strings.Builder
		b.Write(out)
		for _, vm := range vms {
			fmt.Fprintf(&b, "  %s console: %s\n", vm.Name, lastLine(vm))
		}
		// The LASTSEEN column changes every second: show the table when
		// anything else changed, and every 20 s anyway.
		s := b.String()
		if key := withoutLastColumn(s); key != last || time.Since(shown) >= 20*time.Second {
			fmt.Printf("\n\033[1m$ wwctl node status\033[0m   (%s)\n%s", time.Now().Format("15:04:05"), s)
			last, shown = key, time.Now()
		}
	}
}

// withoutLastColumn drops the last field (LASTSEEN) of each table line;
// the console lines the demo adds ("n1 console: ...") stay whole.
func withoutLastColumn(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) > 1 && f[1] != "console:" {
			f = f[:len(f)-1]
		}
		b.WriteString(strings.Join(f, " ") + "\n")
	}
	return b.String()
}

func mac(i int) string { return fmt.Sprintf("52:54:00:e2:d0:%02x", i) }

func lastLine(vm *e2e.VM) string {
	lines := vm.Console.Lines()
	for i := len(lines) - 1; i >= 0; i-- {
		if t := strings.TrimSpace(lines[i].Text); t != "" {
			if len(t) > 100 {
				t = t[:100]
			}
			return t
		}
	}
	return "(nothing yet)"
}

func say(format string, args ...any) {
	fmt.Printf("\n\033[1;34m==> "+format+"\033[0m\n", args...)
}

// levelWriter passes on only the log lines of warnings and errors.
type levelWriter struct{ w io.Writer }

func (l levelWriter) Write(p []byte) (int, error) {
	if strings.Contains(string(p), "level=WARN") || strings.Contains(string(p), "level=ERROR") {
		return l.w.Write(p)
	}
	return len(p), nil
}
