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
	var all bool
	ssh, tls, dhcp := a.configureSSH(), a.configureTLS(), a.configureDHCP()
	cmd := &cobra.Command{
		Use:   "configure COMMAND",
		Short: "Set up services and keys on the server",
		Long: `Set up what the server needs from warewulf.conf. --all does, in turn, what
"configure tls" (a certificate when there is none), "configure dhcp" and
"configure ssh" do; the TFTP server is wwctl server itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !all {
				return cmd.Help()
			}
			for _, sub := range []*cobra.Command{tls, dhcp, ssh} {
				sub.SetContext(cmd.Context())
				if err := sub.RunE(sub, nil); err != nil {
					return fmt.Errorf("configure %s: %w", sub.Name(), err)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "Configure everything: tls, dhcp and ssh")
	cmd.AddCommand(ssh, a.configureAPIUser(), tls, dhcp)
	cmd.AddCommand(a.configureNFS())
	return cmd
}

func (a *app) configureDHCP() *cobra.Command {
	return &cobra.Command{
		Use:   "dhcp",
		Short: "Check the DHCP configuration, or write the external DHCP server's",
		Long: `Warewulf's "configure dhcp" writes dhcpd's configuration and restarts it. Here
wwctl server answers DHCP itself by default: with dhcp.mode embedded or proxy
this checks the dhcp section of warewulf.conf and says what the server will
serve. With dhcp.mode external it writes the external server's configuration
from the host overlay: ISC dhcpd's (<sysconfdir>/dhcp/dhcpd.conf) or, when
dhcp.systemd name is dnsmasq, dnsmasq's (<sysconfdir>/dnsmasq.d/ww4-*.conf),
and says which service to restart (it restarts none itself).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := a.site.ConfigureDHCP()
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
				for _, p := range plan.Written {
					fmt.Fprintf(a.out(), "Wrote %s\n", p)
				}
				fmt.Fprintf(a.out(), "Restart the DHCP service to apply it: systemctl restart %s\n", plan.Service)
			}
			return nil
		},
	}
}

func (a *app) configureSSH() *cobra.Command {
	var keyTypes []string
	var perNode []string
	cmd := &cobra.Command{
		Use:     "ssh",
		Aliases: []string{"keys"},
		Short:   "Create the SSH host certificate authority, the nodes' host keys and root's key",
		Long: `Give nodes the SSH host keys the ssh.host_keys overlay carries, one per type
of "ssh: key types" in warewulf.conf (or --keytypes). Existing keys are kept.

By default every node has keys of its own. This creates the cluster's SSH host
certificate authority (<sysconfdir>/warewulf/keys/ssh_host_ca_key, ed25519,
once), a key of each type for every node that lacks one
(keys/nodes/<node>/ssh_host_<type>_key) with a host certificate the authority
signs for the node's names and addresses (ssh_host_<type>_key-cert.pub; signed
again when they change), and makes the server trust the authority with an
@cert-authority line in <sysconfdir>/ssh/ssh_known_hosts. Nodes trust it
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
			if !a.cfg.SSH.SharedHostKeys {
				if err := a.configureNodeKeys(cmd.Context(), types, perNode, len(keyTypes) > 0); err != nil {
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
				for _, t := range types {
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
