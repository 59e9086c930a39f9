package cli

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/site"
)

func (a *app) nodeConsole() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "console NODE [OPTIONS]",
		Short: "Connect to a node's serial console (IPMI serial over LAN)",
		Long: `Connect to the serial console of NODE (one node) through its BMC: IPMI 2.0
serial over LAN, spoken in process, so the node's ipmi interface must be
lanplus (the default). What the node prints is shown, what you type is sent;
on a terminal, the terminal is raw for the session and restored after it.

The node's ipmi escapechar (default ~) at the start of a line begins an
escape: ~. leaves, ~~ sends one ~, ~? lists them. Leaving, the end of input,
SIGINT, SIGTERM and SIGHUP (a closed terminal) release the console on the BMC,
so that the next console starts at once. Connecting is bounded by
warewulf.conf's ipmi.timeout (10 s); the console itself lasts until you leave.

When another session holds the console (another wwctl node console, ipmitool
sol activate, or one that ended without releasing it), it is refused; --force
takes it over, as "ipmitool sol deactivate" then "sol activate" would.

A node whose ipmi template names a Warewulf BMC template (other than the
default ipmitool.tmpl) has the template's Console command run instead, with
this terminal, as Warewulf does: that command handles the escapes itself.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return fmt.Errorf("console takes one node, got %d arguments", len(args))
			}
			return nil
		},
		ValidArgsFunction: a.completeNames(site.NodeKind),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A closed terminal (SIGHUP) ends the console cleanly too;
			// wwctl's main already turns SIGINT and SIGTERM into the end
			// of the context.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			var (
				once    sync.Once
				restore = func() {}
				node    string
			)
			defer func() { once.Do(restore) }()
			ready := func(t bmc.Target) {
				node = t.Node
				esc, _ := bmc.EscapeChar(t.EscapeChar)
				fmt.Fprintf(a.env.Stderr, "[console of %s; %c. to leave, %c? for help]\r\n", t.Node, esc, esc)
				if f, ok := a.env.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					fd := int(f.Fd())
					if st, err := term.MakeRaw(fd); err == nil {
						restore = func() { _ = term.Restore(fd, st) }
					} else {
						a.log.Warn("cannot make the terminal raw: typed lines go as whole lines", "error", err)
					}
				}
			}
			err := a.site.Console(ctx, args[0], a.env.Stdin, a.out(), site.ConsoleOptions{
				Force: force, Messages: a.env.Stderr, Ready: ready,
			})
			once.Do(restore)
			if node != "" {
				fmt.Fprintf(a.env.Stderr, "\r\n[console of %s closed]\n", node)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "Take the console over when another session holds it")
	return cmd
}
