package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// RelayLog is the DHCP relay's output (Options.Relay).
func (c *Cluster) RelayLog() string { return filepath.Join(c.opts.Dir, "dhcrelay.log") }

// startRelay makes the router namespace and runs ISC dhcrelay in it,
// relaying RelayBridge's requests to the daemon; Close stops both.
func (c *Cluster) startRelay(ctx context.Context) error {
	router, err := c.ns.AddRouter(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.router = router
	c.mu.Unlock()
	cmd := router.Command(context.Background(), "dhcrelay", "-d", "-4", "-pf", filepath.Join(c.opts.Dir, "dhcrelay.pid"),
		"-iu", "up0", "-id", "down0", ServerIP)
	// It is up once it has opened its sockets.
	if err := c.startAux(ctx, "dhcrelay", cmd, c.RelayLog(), c.RelayLog(), "Sending on   Socket/fallback"); err != nil {
		return err
	}
	c.log.Info("DHCP relay up", "netns", router.Name, "log", c.RelayLog())
	return nil
}

// startAux starts cmd, a server in the cluster's namespaces that Close
// stops, with its output in outFile, and waits up to 10 s for logFile to
// say ready; it fails at once if the server exits.
func (c *Cluster) startAux(ctx context.Context, name string, cmd *exec.Cmd, outFile, logFile, ready string) error {
	out, err := os.Create(outFile)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProc(name, cmd, c.log)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.aux = append(c.aux, p)
	c.mu.Unlock()
	tails := func() string {
		if outFile == logFile {
			return tailFile(logFile, 10)
		}
		return tailFile(outFile, 10) + tailFile(logFile, 10)
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if done, err := p.Exited(); done {
			return fmt.Errorf("%s exited (%v):\n%s", name, err, tails())
		}
		if data, _ := os.ReadFile(logFile); strings.Contains(string(data), ready) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not say %q in 10 s:\n%s", name, ready, tails())
}

// SiteDHCPLog is the site's DHCP server's log (Options.ProxyDHCP).
func (c *Cluster) SiteDHCPLog() string { return filepath.Join(c.opts.Dir, "site-dhcpd.log") }

// startSiteDHCP makes the site DHCP server's namespace and runs ISC
// dhcpd in it, giving addresses of SiteRangeStart-SiteRangeEnd and no
// boot options (but the daemon as next-server with
// Options.SiteNextServer); Close stops both.
func (c *Cluster) startSiteDHCP(ctx context.Context) error {
	host, err := c.ns.AddHost(ctx, SiteDHCPIP)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.siteHost = host
	c.mu.Unlock()
	dir := c.opts.Dir
	next := ""
	if c.opts.SiteNextServer {
		next = "  next-server " + ServerIP + ";\n"
	}
	conf := filepath.Join(dir, "site-dhcpd.conf")
	text := fmt.Sprintf("# The site's own DHCP server (e2e harness).\nauthoritative;\ndefault-lease-time 3600;\nmax-lease-time 3600;\n"+
		"subnet 192.0.2.0 netmask %s {\n  range %s %s;\n%s}\n", Netmask, SiteRangeStart, SiteRangeEnd, next)
	leases := filepath.Join(dir, "site-dhcpd.leases")
	for path, data := range map[string]string{conf: text, leases: ""} {
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			return err
		}
	}
	cmd := host.Command(context.Background(), "dhcpd", "-f", "-d", "-4", "-cf", conf, "-lf", leases,
		"-pf", filepath.Join(dir, "site-dhcpd.pid"), "site0")
	if err := c.startAux(ctx, "site dhcpd", cmd, c.SiteDHCPLog(), c.SiteDHCPLog(), "Server starting service."); err != nil {
		return err
	}
	c.log.Info("site DHCP server up", "netns", host.Name, "log", c.SiteDHCPLog(), "next-server", c.opts.SiteNextServer)
	return nil
}
