package e2e

import (
	"context"
	"fmt"
	"os"
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
	out, err := os.Create(c.RelayLog())
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := router.Command(context.Background(), "dhcrelay", "-d", "-4", "-pf", filepath.Join(c.opts.Dir, "dhcrelay.pid"),
		"-iu", "up0", "-id", "down0", ServerIP)
	cmd.Stdout, cmd.Stderr = out, out
	p, err := startProc("dhcrelay", cmd, c.log)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.aux = append(c.aux, p)
	c.mu.Unlock()
	// It is up once it has opened its sockets, or gone.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if done, err := p.Exited(); done {
			return fmt.Errorf("dhcrelay exited (%v):\n%s", err, tailFile(c.RelayLog(), 10))
		}
		if data, _ := os.ReadFile(c.RelayLog()); strings.Contains(string(data), "Sending on   Socket/fallback") {
			c.log.Info("DHCP relay up", "netns", router.Name, "log", c.RelayLog())
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("dhcrelay did not open its sockets in 10 s:\n%s", tailFile(c.RelayLog(), 10))
}
