package cli

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/daemon"
)

func (a *app) serverCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the provisioning daemon (warewulfd) in the foreground",
		Long: `Run the provisioning daemon: the HTTP server booting nodes talk to, on
warewulf.port (--listen to choose another address), and, as dhcp.mode and
tftp.mode ask (embedded by default), the DHCP and TFTP servers on
the interfaces of dhcp.interface (or the one holding ipaddr) and
dhcp.networks, answering relayed requests too. Listening on one address
(--listen ADDR:PORT), iPXE on another network gets its boot loader by TFTP,
not the URL of a script it could not fetch (a custom iPXE moving to a VLAN,
see "Custom iPXE builds" in the README). It serves each node's
iPXE script, kernel, image and overlays, builds stale overlays on demand, and
records how far each node got (wwctl node status). With warewulf.tls it also
serves HTTPS on "tls port" (wwctl configure tls makes the certificate) and
the runtime overlay only there. Files of an overlay that others may not read
(private keys, passwords) go only to a request that proves it is the node:
see "Secrets" in the README. Changes to warewulf.conf, nodes.conf and site
overlays are noticed within 2 s; SIGHUP re-reads them at once. Ports,
listeners, DHCP/TFTP settings and paths need a restart, which the log says.
It raises its open-file limit to the hard limit and keeps its connections
within warewulf.max connections, "max connections per client" and "idle
connections per client" (see "Provisioning daemon" in the README).
SIGTERM or SIGINT stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Its heap grows to hold every node and the overlay images it
			// builds: in huge pages, a boot storm's builds take a third
			// less time, and the first answer comes sooner.
			a.readyHeap()
			d, err := daemon.New(daemon.Options{Site: a.site, ConfigPath: a.confLoaded, Listen: addr,
				Stderr: a.env.Stderr, Log: a.log})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						if _, err := d.Reload(); err != nil {
							a.log.Error("reload failed; still serving the previous configuration", "err", err)
						} else {
							a.log.Info("reloaded warewulf.conf, nodes.conf and overlays")
						}
					}
				}
			}()
			return d.Run(ctx)
		},
	}
	cmd.Flags().StringVar(&addr, "listen", "", "Address to listen on (default :<warewulf.port>)")
	return cmd
}
