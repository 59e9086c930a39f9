package cli

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"

	"github.com/wwboot/wwboot/internal/provision"
	"github.com/wwboot/wwboot/internal/tftp"
)

func (a *app) serverCommand() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the provisioning daemon (warewulfd) in the foreground",
		Long: `Run the provisioning daemon: the HTTP server booting nodes talk to, on
warewulf.port (--listen to choose another address), and, as dhcp.mode and
tftp.mode ask (embedded by default), the DHCP and TFTP servers on
dhcp.interface (or the interface holding ipaddr). It serves each node's
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
			if addr == "" {
				addr = net.JoinHostPort("", strconv.Itoa(a.cfg.Warewulf.Port))
			}
			// Every connection is a file descriptor: take all the system
			// allows (warewulf.max connections stays below it).
			if from, to, err := raiseOpenFiles(); err != nil {
				a.log.Warn("open-file limit not raised", "soft", from, "err", err)
			} else {
				a.log.Info("open-file limit", "soft", to, "was", from)
			}
			// HTTPS listens on the host --listen names, on the TLS port.
			tlsHost, _, err := net.SplitHostPort(addr)
			if err != nil {
				return fmt.Errorf("--listen %q: %w", addr, err)
			}
			var templates = os.DirFS(a.site.IpxeTemplateDir())
			render, err := a.site.RenderOptions()
			if err != nil {
				return err
			}
			tokenKey, err := provision.LoadTokenKey(a.site.TokenKey())
			if err != nil {
				return err
			}
			var tlsConf *tls.Config
			if a.cfg.Warewulf.TLS {
				if tlsConf, err = serverTLS(a.site); err != nil {
					return err
				}
			}
			// The API's callbacks run only on requests, once srv is set.
			var srv *provision.Server
			builder := a.site.NewBuilder(0)
			api, err := a.apiHandler(builder, func() error { return srv.Reload() },
				func() map[string]provision.NodeStatus { return srv.Status() })
			if err != nil {
				return err
			}
			// UEFI HTTP-boot clients fetch the iPXE EFI binaries over HTTP.
			efiboot := map[string]string{}
			files, _ := tftp.ResolveIpxe(a.site.IpxeSource(), a.cfg.Tftp.IpxeBinaries, tftp.DefaultIpxeDirs())
			for name, file := range files {
				efiboot[path.Base(name)] = file
			}
			srv, err = provision.New(provision.Options{
				EFIBoot:    efiboot,
				API:        api,
				Render:     render,
				TokenKey:   tokenKey,
				ConfigPath: a.confLoaded,
				Config:     a.cfg,
				Nodes:      a.store(),
				Overlays:   a.site.Overlays(),
				Images:     a.site.Images(),
				Builder:    builder,
				StatusFile: a.site.StatusFile(),
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
							a.log.Info("reloaded warewulf.conf, nodes.conf and overlays")
						}
					}
				}
			}()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("HTTP listener: %w", err)
			}
			lns := []net.Listener{ln}
			fmt.Fprintf(a.env.Stderr, "wwctl server: HTTP on %s\n", ln.Addr())
			if tlsConf != nil {
				tln, err := net.Listen("tcp", net.JoinHostPort(tlsHost, strconv.Itoa(a.cfg.Warewulf.TLSPort)))
				if err != nil {
					ln.Close()
					return fmt.Errorf("HTTPS listener: %w", err)
				}
				fmt.Fprintf(a.env.Stderr, "wwctl server: HTTPS on %s\n", tln.Addr())
				lns = append(lns, provision.TLSListener(tln, tlsConf))
			}
			g, gctx := errgroup.WithContext(ctx)
			if err := a.startNetboot(gctx, g, srv); err != nil {
				for _, l := range lns {
					l.Close()
				}
				return err
			}
			g.Go(func() error { return srv.ServeListeners(gctx, lns...) })
			return g.Wait()
		},
	}
	cmd.Flags().StringVar(&addr, "listen", "", "Address to listen on (default :<warewulf.port>)")
	return cmd
}

// raiseOpenFiles raises the process's RLIMIT_NOFILE soft limit to its
// hard limit and returns the soft limit before and after.
func raiseOpenFiles() (from, to uint64, err error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, 0, fmt.Errorf("read RLIMIT_NOFILE: %w", err)
	}
	if r.Cur >= r.Max {
		return r.Cur, r.Cur, nil
	}
	from = r.Cur
	r.Cur = r.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return from, from, fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", r.Max, err)
	}
	return from, r.Max, nil
}
