package site

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/hostlist"
)

// ConsoleOptions are how Console runs.
type ConsoleOptions struct {
	// Force takes the console over when another session holds it.
	Force bool
	// Messages gets the console's own messages (escape help, a
	// template command's stderr).
	Messages io.Writer
	// Ready is called once the console is live (bmc.ConsoleOptions).
	Ready func(bmc.Target)
	// Timeout bounds connecting and activating the console, and
	// releasing it; 0 is warewulf.conf's ipmi.timeout. The console itself
	// lasts until it ends.
	Timeout time.Duration
}

// Console connects in and out to the serial console of the one node
// pattern names (serial over LAN, or its ipmi template's Console
// command) until the user leaves ("~." at the start of a line, with the
// node's ipmi escapechar), in ends or ctx ends. A pattern that names
// several nodes, or none, is an error; a node's failure is a *NodeError
// naming the node, its BMC and the cause.
func (s *Site) Console(ctx context.Context, pattern string, in io.Reader, out io.Writer, o ConsoleOptions) error {
	merged, err := s.mergedNodes([]string{pattern})
	if err != nil {
		return err
	}
	if len(merged) != 1 {
		names := make([]string, len(merged))
		for i, m := range merged {
			names[i] = m.Name
		}
		return fmt.Errorf("%q names %d nodes (%s): a console is one node's", pattern, len(merged), hostlist.Compress(names))
	}
	t := BMCTarget(merged[0])
	r := bmc.Request{Op: bmc.OpConsole}
	addr := ""
	if t.Ipaddr != "" {
		addr = t.Address()
	}
	fail := func(err error) error { return &NodeError{Node: t.Node, BMC: addr, Request: r, Err: err} }
	d, err := bmc.New(t, bmc.Options{Datadir: s.cfg.Paths.Datadir})
	if err != nil {
		return fail(err)
	}
	cons, ok := d.(bmc.Consoler)
	if !ok {
		return fail(fmt.Errorf("its BMC driver has no serial console: %w", bmc.ErrUnsupported))
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Duration(s.cfg.IPMI.Timeout) * time.Second
	}
	bo := bmc.ConsoleOptions{Connect: timeout, Force: o.Force, Messages: o.Messages}
	if o.Ready != nil {
		bo.Ready = func() { o.Ready(t) }
	}
	if err := cons.Console(ctx, in, out, bo); err != nil {
		return fail(err)
	}
	return nil
}
