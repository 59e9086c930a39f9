package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/atomicfile"
	"github.com/wwboot/wwboot/internal/hostlist"
	"github.com/wwboot/wwboot/internal/site"
	"github.com/wwboot/wwboot/internal/sshca"
)

func (a *app) configureCommand() *cobra.Command {
	var all, show bool
	// What --all runs, in Warewulf's order; adding a subcommand to --all
	// is adding it here.
	steps := []*cobra.Command{
		a.configureTLS(),
		a.configureWarewulfd(&show),
		a.configureTFTP(&show),
		a.configureDHCP(&show),
		a.configureNFS(&show),
		a.configureSSH(),
		a.configureHostfile(&show),
	}
	cmd := &cobra.Command{
		Use:   "configure COMMAND",
		Short: "Set up services and keys on the server",
		Long: `Set up what the server needs from warewulf.conf. --all does, in Warewulf's
order, what "configure tls" (a certificate when there is none), "configure
warewulfd", "configure tftp", "configure dhcp", "configure nfs", "configure
ssh" and "configure hostfile" do. Each writes only what changed, atomically, and keeps
the first file it replaces as FILE.wwbackup; a second run changes nothing.
With --show, --all shows what dhcp, tftp, nfs, hostfile and warewulfd would do
and skips tls and ssh (they only create what is missing).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !all {
				return cmd.Help()
			}
			for _, sub := range steps {
				if show && sub.Flags().Lookup("show") == nil {
					fmt.Fprintf(a.out(), "configure %s: skipped with --show\n", sub.Name())
					continue
				}
				sub.SetContext(cmd.Context())
				if err := sub.RunE(sub, nil); err != nil {
					return fmt.Errorf("configure %s: %w", sub.Name(), err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Configure everything: tls, warewulfd, tftp, dhcp, nfs, ssh and hostfile")
	cmd.Flags().BoolVarP(&show, "show", "s", false, "With --all: show what would change, change nothing")
	cmd.AddCommand(steps...)
	cmd.AddCommand(a.configureAPIUser())
	return cmd
}

// printReport says what a configure step did, or with show would do.
func (a *app) printReport(r *site.ConfigureReport, show bool) {
	w := a.out()
	for _, f := range r.Files {
		switch {
		case f.Change == site.Unchanged:
			fmt.Fprintf(w, "%s is up to date\n", f.Path)
		case show:
			fmt.Fprintf(w, "Would write %s (%s):\n%s", f.Path, map[site.Change]string{site.Created: "new", site.Updated: "changed"}[f.Change], f.Diff)
		case f.Backup != "":
			fmt.Fprintf(w, "Wrote %s (the previous file is kept as %s)\n", f.Path, f.Backup)
		default:
			fmt.Fprintf(w, "Wrote %s\n", f.Path)
		}
	}
	if len(r.Files) > 0 && !r.Changed() {
		fmt.Fprintln(w, "Nothing to change")
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, n)
	}
}

func showFlag(cmd *cobra.Command, show *bool) {
	cmd.Flags().BoolVarP(show, "show", "s", false, "Show what would change (a diff), change nothing")
}

func (a *app) configureDHCP(show *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dhcp",
		Short: "Check the DHCP configuration, or write and start the external DHCP server's",
		Long: `Warewulf's "configure dhcp" writes dhcpd's configuration and restarts it. Here
wwctl server answers DHCP itself by default: with dhcp.mode embedded or proxy
this checks the dhcp section of warewulf.conf, says what the server will
serve and names the external DHCP services that are active (to turn off).

With dhcp.mode external it renders the external server's configuration from
the host overlay, for the server dhcp.systemd name names:
  dhcpd, isc-dhcp-server           ISC dhcpd: /etc/dhcp/dhcpd.conf
                                   (and the link /etc/dhcpd.conf)
  dnsmasq                          /etc/dnsmasq.d/ww4-hosts.conf
                                   and ww4-listen.conf
  kea-dhcp4-server, kea-dhcp4, kea Kea: /etc/kea/kea-dhcp4.conf
dhcp.template static adds a fixed address for every node's MAC. The files
are checked with the server's own program (dhcpd -t -cf, dnsmasq --test,
kea-dhcp4 -t) before anything is installed: a configuration it rejects is
refused with its message. What changed is written atomically, the first
file replaced kept as FILE.wwbackup; then "systemctl enable" and "restart"
the service (or "enable --now" when nothing changed). Without systemd it
says what to run. A dhcp.range outside the network of ipaddr and netmask is
refused.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := a.site.ConfigureDHCP(cmd.Context(), site.ConfigureOptions{Show: *show})
			if err != nil {
				return err
			}
			switch plan.Served {
			case "":
				fmt.Fprintln(a.out(), "DHCP is not enabled in warewulf.conf (dhcp.enabled): nothing to configure")
			case "wwctl server":
				where := plan.Interface
				if where == "" {
					where = "the interface holding " + plan.Address
				}
				rng := plan.Range
				if rng == "" {
					rng = "none: nodes.conf's addresses only"
				}
				fmt.Fprintf(a.out(), "DHCP is served by wwctl server (dhcp.mode %s) on %s; dynamic range %s. Nothing to write.\n", plan.Mode, where, rng)
			default:
				fmt.Fprintf(a.out(), "DHCP is served by %s (dhcp.systemd name %s)\n", plan.Server, plan.Service)
			}
			a.printReport(&plan.ConfigureReport, *show)
			return nil
		},
	}
	showFlag(cmd, show)
	return cmd
}

func (a *app) configureTFTP(show *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tftp",
		Short: "Copy the iPXE binaries for an external TFTP server and start it",
		Long: `With tftp.mode external, copy the iPXE binaries of tftp.ipxe (relative names
under paths.ipxesource, else where the distribution installs iPXE) to
<tftp.tftproot>/warewulf/, the names the DHCP configurations give, as
Warewulf does; an identical copy is left alone. Then "systemctl enable" and
"restart" tftp.systemd name (or "enable --now" when nothing changed). With
tftp.mode embedded wwctl server serves the binaries itself: nothing to do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.site.ConfigureTFTP(cmd.Context(), site.ConfigureOptions{Show: *show})
			if r != nil {
				a.printReport(r, *show)
			}
			return err
		},
	}
	showFlag(cmd, show)
	return cmd
}

func (a *app) configureHostfile(show *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hostfile",
		Short: "Write the server's hosts file from the host overlay",
		Long: `Write /etc/hosts from the host overlay's etc/hosts.ww: the lines
above "# Do not edit after this line" are kept, then the server and every
node's addresses. The first file replaced is kept as hosts.wwbackup.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.site.ConfigureHostfile(cmd.Context(), site.ConfigureOptions{Show: *show})
			if r != nil {
				a.printReport(r, *show)
			}
			return err
		},
	}
	showFlag(cmd, show)
	return cmd
}

func (a *app) configureWarewulfd(show *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "warewulfd",
		Short: "Enable and start the provisioning daemon's service",
		Long: `Run "systemctl enable --now" for warewulf.systemd name (default warewulfd),
the unit that runs wwctl server. Without systemd it says what to run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := a.site.ConfigureWarewulfd(cmd.Context(), site.ConfigureOptions{Show: *show})
			if r != nil {
				a.printReport(r, *show)
			}
			return err
		},
	}
	showFlag(cmd, show)
	return cmd
}

func (a *app) configureSSH() *cobra.Command {
	var keyTypes []string
	var perNode []string
	cmd := &cobra.Command{
		Use:   "ssh",
		Short: "Create the SSH host certificate authority, the nodes' host keys and root's key",
		Long: `Give nodes the SSH host keys the ssh.host_keys overlay carries, one per type
of "ssh: key types" in warewulf.conf (or --keytypes). Existing keys are kept.

By default every node has keys of its own. This creates the cluster's SSH host
certificate authority (<sysconfdir>/warewulf/keys/ssh_host_ca_key, ed25519,
once), a key of each type for every node that lacks one
(keys/nodes/<node>/ssh_host_<type>_key) with a host certificate the authority
signs for the node's names and addresses (ssh_host_<type>_key-cert.pub; signed
again when they change), and makes the server trust the authority with an
@cert-authority line in /etc/ssh/ssh_known_hosts. Nodes trust it
through the overlay's ssh_known_hosts. A node added later gets its keys and
certificate at its first overlay build; running this again is harmless.
--per-node NODES limits the node keys to those nodes.

As in Warewulf, it also gives the user running it (root) the key pair it logs
into nodes with and the authorized_keys the ssh.authorized_keys overlay carries
to nodes: in $HOME/.ssh, id_<type> of the first key type that exists, else a
new one of the first type (no passphrase), and its public key added to
authorized_keys unless that holds it already.

With "ssh: shared host keys: true" in warewulf.conf every node gets the same
keys, as in Warewulf: this makes <sysconfdir>/warewulf/keys/ssh_host_<type>_key,
and --per-node NODES gives those nodes keys of their own (keys/nodes/<node>/),
which the overlay prefers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			types := keyTypes
			if len(types) == 0 {
				types = a.cfg.SSH.KeyTypes
			}
			usable, err := a.usableKeyTypes(types, len(keyTypes) > 0)
			if err != nil {
				return err
			}
			if !a.cfg.SSH.SharedHostKeys {
				if err := a.configureNodeKeys(cmd.Context(), usable, perNode); err != nil {
					return err
				}
				return a.configureUserKey(types)
			}
			dirs := []string{a.site.KeysDir()}
			if len(perNode) > 0 {
				names, err := hostlist.Expand(perNode...)
				if err != nil {
					return err
				}
				inv, err := a.store().Load()
				if err != nil {
					return err
				}
				if _, err := site.NodeKind.Select(inv, names, false); err != nil {
					return err
				}
				dirs = dirs[:0]
				for _, n := range names {
					dirs = append(dirs, a.site.NodeKeysDir(n))
				}
			}
			for _, dir := range dirs {
				if err := os.MkdirAll(dir, 0o700); err != nil {
					return err
				}
				for _, t := range usable {
					made, err := hostKey(dir, t)
					if err != nil {
						return err
					}
					if made {
						fmt.Fprintf(a.out(), "Created %s\n", filepath.Join(dir, "ssh_host_"+t+"_key"))
					}
				}
			}
			return a.configureUserKey(types)
		},
	}
	cmd.Flags().StringSliceVarP(&keyTypes, "keytypes", "t", nil, "Key types (ed25519, ecdsa, rsa)")
	cmd.Flags().StringSliceVar(&perNode, "per-node", nil, "Only these nodes' keys (with shared host keys: give these nodes keys of their own)")
	return cmd
}

// hostKey writes ssh_host_<type>_key and .pub in dir unless the private
// key exists; it reports whether it made one.
func hostKey(dir, keyType string) (bool, error) {
	path := filepath.Join(dir, "ssh_host_"+keyType+"_key")
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	// As ssh-keygen on the server would: root@HOST as the comment.
	host, _ := os.Hostname()
	private, public, err := sshca.GenerateKey(keyType, "root@"+host)
	if err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(path+".pub", public, 0o644); err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(path, private, 0o600); err != nil {
		return false, err
	}
	return true, nil
}

// configureUserKey makes the user's key pair and authorized_keys where
// they are missing (sshca.EnsureUserKey), in $HOME/.ssh.
func (a *app) configureUserKey(types []string) error {
	home := a.env.Getenv("HOME")
	if home == "" {
		u, err := user.Current()
		if err != nil {
			return fmt.Errorf("the user's home directory: %w", err)
		}
		home = u.HomeDir
	}
	dir := filepath.Join(home, ".ssh")
	c, err := sshca.EnsureUserKey(dir, types)
	if c.CreatedKey != "" {
		fmt.Fprintf(a.out(), "Created %s\n", c.CreatedKey)
	}
	if c.Authorized {
		fmt.Fprintf(a.out(), "Added %s.pub to %s\n", c.Key, filepath.Join(dir, "authorized_keys"))
	}
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}
