package cli

import (
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/provision"
)

func (a *app) serverCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the provisioning daemon (warewulfd) in the foreground",
		Long: `Run the provisioning daemon: the HTTP server booting nodes talk to, on
warewulf.port (--listen to choose another address). It serves each node's
iPXE script, kernel, image and overlays, builds stale overlays on demand, and
records how far each node got (wwctl node status). SIGHUP re-reads nodes.conf
and the overlays; SIGTERM or SIGINT stops it gracefully.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if addr == "" {
				addr = net.JoinHostPort("", strconv.Itoa(a.cfg.Warewulf.Port))
			}
			var templates = os.DirFS(filepath.Join(a.cfg.ConfDir(), "ipxe"))
			srv, err := provision.New(provision.Options{
				Config:     a.cfg,
				Nodes:      a.store(),
				Overlays:   a.overlayStore(),
				Images:     a.images(),
				Builder:    &overlay.Builder{Dir: filepath.Join(a.cfg.Paths.Wwprovisiondir, "overlays"), Log: a.log},
				StatusFile: filepath.Join(a.cfg.Paths.Localstatedir, "warewulf", "status.json"),
				Templates:  templates,
				Log:        a.log,
			})
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
						if err := srv.Reload(); err != nil {
							a.log.Error("reload failed; still serving the previous configuration", "err", err)
						} else {
							a.log.Info("reloaded nodes.conf and overlays")
						}
					}
				}
			}()
			fmt.Fprintf(a.env.Stderr, "wwctl server: listening on %s\n", addr)
			return srv.Serve(ctx, addr)
		},
	}
	cmd.Flags().StringVar(&addr, "listen", "", "Address to listen on (default :<warewulf.port>)")
	return cmd
}
