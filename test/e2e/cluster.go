package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// DaemonPort is the daemon's HTTP port (warewulf.port).
const DaemonPort = 9873

// Options configure a Cluster.
type Options struct {
	// Dir holds the cluster's tree (warewulf.conf, nodes.conf, images,
	// overlays) and its logs; it is created.
	Dir string
	// Bin is the directory with wwctl and wwclient.
	Bin string
	// Accel is the QEMU accelerator: "tcg", "kvm", or "" / "auto" to use
	// KVM only when it really boots a kernel (ProbeKernel).
	Accel string
	// ProbeKernel is the kernel image the KVM probe boots.
	ProbeKernel string
	// CacheDir remembers the probe's answer until the host reboots.
	CacheDir string
	// UpdateInterval is warewulf.update interval, the seconds between
	// wwclient's runtime overlay updates; 0 keeps the default (60).
	UpdateInterval int
	// Secure is warewulf.secure: the runtime overlay only to a
	// privileged source port (wwclient), not to iPXE.
	Secure bool
	// External: DHCP and TFTP are an external dnsmasq's (dhcp.mode and
	// tftp.mode external, dhcp.systemd name dnsmasq), which "wwctl
	// configure dhcp" and "configure tftp" set up and StartDnsmasq runs;
	// the daemon serves HTTP only.
	External bool
	// VLAN adds VLANBridge (VLANNetwork, the server at VLANServerIP)
	// and a user-space 802.1Q switch (Cluster.VLANSwitch) whose native
	// VLAN is BridgeName and whose VLAN VLANID is VLANBridge. The VLAN
	// is the main network (ipaddr, dhcp.interface), BridgeName's a
	// dhcp.networks entry for PXE; the daemon's HTTP listens on
	// VLANServerIP only, so a node reaches it over VLANID alone.
	VLAN bool
	// Relay adds RelayBridge behind a router namespace whose ISC
	// dhcrelay relays its DHCP requests to the daemon, and the relayed
	// network to dhcp.networks (with RelayRouterIP as its gateway and
	// RelayRangeStart-RelayRangeEnd as its dynamic range).
	Relay bool
	// ProxyDHCP: the nodes' addresses come from the site's DHCP server,
	// ISC dhcpd in a namespace of its own on BridgeName (SiteDHCPIP,
	// SiteRangeStart-SiteRangeEnd, no boot options), and the daemon
	// answers boot clients as ProxyDHCP (dhcp.mode proxy).
	ProxyDHCP bool
	// SiteNextServer: the site's DHCP server names the daemon as
	// next-server (siaddr), which Debian's GRUB needs through ProxyDHCP.
	SiteNextServer bool
	Log            *slog.Logger
}

// Cluster is a virtual cluster: a network namespace with a bridge, the
// provisioning daemon (wwctl server) inside it as the only DHCP, TFTP
// and HTTP server, and QEMU VMs booting from it. Close removes all of it;
// so does an interrupt (SIGINT, SIGTERM, SIGHUP), after which the signal
// takes its usual course.
type Cluster struct {
	opts Options
	// Conf is the warewulf.conf every wwctl command of the cluster reads.
	Conf string
	// OverlayDir is the site overlay directory (paths.wwoverlaydir).
	OverlayDir string
	// ChrootDir holds the images (paths.wwchrootdir).
	ChrootDir string
	// DaemonLog is the daemon's stderr and stdout.
	DaemonLog string
	// Status follows the daemon's /status once Start returned.
	Status *StatusLog

	log        *slog.Logger
	accel      string
	ns         *Netns
	router     *Netns      // Options.Relay's router namespace
	siteHost   *Netns      // Options.ProxyDHCP's DHCP server's namespace
	vlan       *VLANSwitch // Options.VLAN's switch
	daemon     *Proc
	stopPoll   context.CancelFunc
	pollDone   chan struct{}
	mu         sync.Mutex
	vms        []*VM
	bmcs       []*BMC
	aux        []*Proc // other servers in the namespace (dnsmasq)
	closeOnce  sync.Once
	closeErr   error
	signals    chan os.Signal
	stopSignal chan struct{}
}

// New makes the cluster's tree and configuration; Start brings up its
// network and daemon. Close must be called whatever happens next.
func New(opts Options) (*Cluster, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.CacheDir == "" {
		opts.CacheDir = DefaultCacheDir
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	c := &Cluster{
		opts:       opts,
		Conf:       filepath.Join(dir, "warewulf.conf"),
		OverlayDir: filepath.Join(dir, "var", "warewulf", "overlays"),
		ChrootDir:  filepath.Join(dir, "var", "warewulf", "chroots"),
		DaemonLog:  filepath.Join(dir, "daemon.log"),
		log:        opts.Log,
		signals:    make(chan os.Signal, 1),
		stopSignal: make(chan struct{}),
	}
	for _, d := range []string{"etc/warewulf", "var/warewulf", "share", "cache", "vms"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	if err := os.WriteFile(c.Conf, []byte(c.warewulfConf()), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", c.Conf, err)
	}
	signal.Notify(c.signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go c.onSignal()
	return c, nil
}

// warewulfConf is the daemon's configuration: everything under the
// cluster's directory, DHCP and TFTP embedded on the bridge.
func (c *Cluster) warewulfConf() string {
	interval := c.opts.UpdateInterval
	if interval == 0 {
		interval = 60
	}
	d := c.opts.Dir
	dhcpMode, tftpMode, dhcpServer := "embedded", "embedded", "dhcpd"
	if c.opts.External {
		dhcpMode, tftpMode, dhcpServer = "external", "external", "dnsmasq"
	}
	if c.opts.ProxyDHCP {
		dhcpMode = "proxy"
	}
	networks := ""
	if c.opts.Relay {
		networks += fmt.Sprintf("    - network: %s\n      netmask: %s\n      gateway: %s\n      range start: %s\n      range end: %s\n",
			RelayNetwork, Netmask, RelayRouterIP, RelayRangeStart, RelayRangeEnd)
	}
	// The main network (ipaddr, where nodes are provisioned) is the
	// bridge's, or with VLAN the VLAN's, the bridge's network then
	// serving PXE only.
	main := mainNetwork{ip: ServerIP, network: "192.0.2.0", iface: BridgeName, start: "192.0.2.100", end: "192.0.2.199"}
	if c.opts.VLAN {
		main = mainNetwork{ip: VLANServerIP, network: VLANNetwork, iface: VLANBridge, start: VLANRangeStart, end: VLANRangeEnd}
		networks += fmt.Sprintf("    - network: 192.0.2.0\n      netmask: %s\n      interface: %s\n      range start: 192.0.2.100\n      range end: 192.0.2.199\n",
			Netmask, BridgeName)
	}
	if networks != "" {
		networks = "  networks:\n" + networks
	}
	return fmt.Sprintf(`# Written by the wwboot e2e harness.
ipaddr: %[1]s
netmask: %[2]s
network: %[14]s
warewulf:
  port: %[3]d
  update interval: %[4]d
  secure: %[5]t
dhcp:
  enabled: true
  mode: %[10]s
  systemd name: %[12]s
  interface: %[6]s
  range start: %[15]s
  range end: %[16]s
%[13]stftp:
  enabled: true
  mode: %[11]s
nfs:
  enabled: false
paths:
  sysconfdir: %[7]s/etc
  hostroot: %[7]s
  localstatedir: %[7]s/var
  datadir: %[7]s/share
  cachedir: %[7]s/cache
  wwoverlaydir: %[8]s
  wwchrootdir: %[9]s
`, main.ip, Netmask, DaemonPort, interval, c.opts.Secure, main.iface, d, c.OverlayDir, c.ChrootDir, dhcpMode, tftpMode, dhcpServer, networks,
		main.network, main.start, main.end)
}

// mainNetwork is the network of warewulf.conf's ipaddr.
type mainNetwork struct{ ip, network, iface, start, end string }

// Wwctl runs "wwctl --warewulfconf CONF args..." on the host and returns
// its standard output.
func (c *Cluster) Wwctl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.Bin, "wwctl"), append([]string{"--warewulfconf", c.Conf}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("wwctl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Start creates the network namespace and starts the daemon in it (with
// --debug: its log records every request), and
// returns when the daemon answers /status.
func (c *Cluster) Start(ctx context.Context) error {
	if err := SweepStale(ctx, c.log); err != nil {
		c.log.Warn("could not remove every stale namespace", "err", err)
	}
	accel, err := ChooseAccel(ctx, c.opts.Accel, c.opts.ProbeKernel, c.opts.CacheDir, c.log)
	if err != nil {
		return err
	}
	c.accel = accel
	ns, err := NewNetns(ctx, c.log)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.ns = ns
	c.mu.Unlock()
	if c.opts.Relay {
		if err := c.startRelay(ctx); err != nil {
			return err
		}
	}
	if c.opts.ProxyDHCP {
		if err := c.startSiteDHCP(ctx); err != nil {
			return err
		}
	}
	httpHost, daemonArgs := ServerIP, []string{}
	if c.opts.VLAN {
		if err := c.startVLAN(ctx); err != nil {
			return err
		}
		httpHost = VLANServerIP
		daemonArgs = append(daemonArgs, "--listen", netJoin(VLANServerIP, DaemonPort))
	}

	logFile, err := os.Create(c.DaemonLog)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := ns.Command(context.Background(), filepath.Join(c.opts.Bin, "wwctl"), "--warewulfconf", c.Conf, "--debug", "server")
	cmd.Args = append(cmd.Args, daemonArgs...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	daemon, err := startProc("wwctl server", cmd, c.log)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.daemon = daemon
	pollCtx, cancel := context.WithCancel(context.Background())
	c.stopPoll = cancel
	c.pollDone = make(chan struct{})
	c.Status = newStatusLog(ns, "http://"+netJoin(httpHost, DaemonPort)+contract.PathStatus, 200*time.Millisecond, c.log)
	c.mu.Unlock()
	go func() {
		defer close(c.pollDone)
		c.Status.run(pollCtx)
	}()
	readyCtx, cancelReady := context.WithTimeout(ctx, 60*time.Second)
	defer cancelReady()
	readyCtx, cancelDaemon := c.WithDaemon(readyCtx)
	defer cancelDaemon()
	if err := c.Status.WaitReady(readyCtx); err != nil {
		return fmt.Errorf("daemon did not come up: %w\n%s", err, tailFile(c.DaemonLog, 30))
	}
	c.log.Info("daemon up", "netns", ns.Name, "log", c.DaemonLog)
	return nil
}

// WithDaemon returns a context that ends when the daemon exits, so that
// waits fail at once instead of at their deadline.
func (c *Cluster) WithDaemon(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-ctx.Done():
		case <-c.daemon.Done():
			_, err := c.daemon.Exited()
			cancel(fmt.Errorf("the daemon exited (%v):\n%s", err, tailFile(c.DaemonLog, 30)))
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Accel is the QEMU accelerator VMs use.
func (c *Cluster) Accel() string { return c.accel }

// BinDir is the directory with wwctl and wwclient.
func (c *Cluster) BinDir() string { return c.opts.Bin }

// Netns is the cluster's network namespace.
func (c *Cluster) Netns() *Netns { return c.ns }

// StartVM boots a VM on a new tap of the bridge; Close stops it.
func (c *Cluster) StartVM(ctx context.Context, o VMOptions) (*VM, error) {
	if c.ns == nil {
		return nil, errors.New("start the cluster before its VMs")
	}
	vm, err := startVM(ctx, c.ns, filepath.Join(c.opts.Dir, "vms", o.Name), c.accel, o, c.log)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.vms = append(c.vms, vm)
	c.mu.Unlock()
	return vm, nil
}

// Close stops the VMs and the daemon (by their PIDs), deletes the
// namespace with its bridge and taps, and checks that none of them is
// left. It is safe to call more than once and from a signal.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		signal.Stop(c.signals)
		close(c.stopSignal)
		c.closeErr = c.teardown()
	})
	return c.closeErr
}

func (c *Cluster) teardown() error {
	c.mu.Lock()
	vms, bmcs, aux, daemon, ns, vlan, stopPoll := c.vms, c.bmcs, c.aux, c.daemon, c.ns, c.vlan, c.stopPoll
	others := []*Netns{c.router, c.siteHost}
	c.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	vmErrs := make([]error, len(vms))
	for i, vm := range vms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vmErrs[i] = vm.Stop()
		}()
	}
	wg.Wait()
	errs = append(errs, vmErrs...)
	// A BMC after its VM: it would power the VM on again.
	for _, b := range bmcs {
		errs = append(errs, b.proc.Stop(10*time.Second))
	}
	for _, p := range aux {
		errs = append(errs, p.Stop(10*time.Second))
	}
	if stopPoll != nil {
		stopPoll()
		<-c.pollDone
	}
	if daemon != nil {
		errs = append(errs, daemon.Stop(15*time.Second))
	}
	if vlan != nil {
		errs = append(errs, vlan.Close())
	}
	for _, other := range others {
		if other == nil {
			continue
		}
		errs = append(errs, other.Close())
		if out, err := exec.Command("ip", "netns", "list").Output(); err == nil && containsField(string(out), other.Name) {
			errs = append(errs, fmt.Errorf("namespace %s is still there", other.Name))
		}
	}
	if ns != nil {
		errs = append(errs, ns.Close())
		if out, err := exec.Command("ip", "netns", "list").Output(); err == nil && containsField(string(out), ns.Name) {
			errs = append(errs, fmt.Errorf("namespace %s is still there", ns.Name))
		}
	}
	for _, vm := range vms {
		if done, _ := vm.Exited(); !done {
			errs = append(errs, fmt.Errorf("VM %s (pid %d) is still running", vm.Name, vm.proc.PID()))
		}
	}
	for _, p := range aux {
		if done, _ := p.Exited(); !done {
			errs = append(errs, fmt.Errorf("%s (pid %d) is still running", p.name, p.PID()))
		}
	}
	for _, b := range bmcs {
		if done, _ := b.proc.Exited(); !done {
			errs = append(errs, fmt.Errorf("BMC simulator (pid %d) is still running", b.proc.PID()))
		}
	}
	if daemon != nil {
		if done, _ := daemon.Exited(); !done {
			errs = append(errs, fmt.Errorf("daemon (pid %d) is still running", daemon.PID()))
		}
	}
	return errors.Join(errs...)
}

// onSignal tears the cluster down on an interrupt, then lets the signal
// take its usual course: it is sent again once this cluster no longer
// catches it, so the last cluster to finish ends the process (unless the
// program itself handles the signal).
func (c *Cluster) onSignal() {
	select {
	case <-c.stopSignal:
		return
	case sig := <-c.signals:
		c.log.Warn("interrupted: removing the virtual cluster", "signal", sig)
		if err := c.Close(); err != nil {
			c.log.Error("cleanup after the interrupt", "err", err)
		}
		if s, ok := sig.(syscall.Signal); ok {
			_ = syscall.Kill(os.Getpid(), s)
		}
	}
}

func containsField(out, name string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return true
		}
	}
	return false
}

func netJoin(host string, port int) string { return host + ":" + strconv.Itoa(port) }

// tailFile returns the last n lines of a file, for error messages.
func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// AppendConf adds text (top-level YAML keys) to the cluster's
// warewulf.conf; before Start, for the daemon to read it.
func (c *Cluster) AppendConf(text string) error {
	f, err := os.OpenFile(c.Conf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(text); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// DnsmasqLog is the external dnsmasq's log (StartDnsmasq).
func (c *Cluster) DnsmasqLog() string { return filepath.Join(c.opts.Dir, "dnsmasq.log") }

// StartDnsmasq runs dnsmasq in the namespace as the cluster's DHCP and
// TFTP server, with the configuration "wwctl configure dhcp" wrote under
// paths.hostroot (etc/dnsmasq.d/*.conf) and no DNS; Close stops it.
func (c *Cluster) StartDnsmasq(ctx context.Context) error {
	if c.ns == nil {
		return errors.New("start the cluster before dnsmasq")
	}
	dir := c.opts.Dir
	cmd := c.ns.Command(context.Background(), "dnsmasq", "--keep-in-foreground", "--port=0", "--conf-file=/dev/null",
		"--conf-dir="+filepath.Join(dir, "etc", "dnsmasq.d")+",*.conf", "--bind-interfaces",
		// Root: the test's tree is not readable by dnsmasq's usual user.
		"--user=root", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--dhcp-leasefile="+filepath.Join(dir, "dnsmasq.leases"),
		"--log-facility="+c.DnsmasqLog(), "--log-dhcp")
	// It is up when it says so.
	return c.startAux(ctx, "dnsmasq", cmd, filepath.Join(dir, "dnsmasq.out"), c.DnsmasqLog(), "DHCP, IP range")
}
