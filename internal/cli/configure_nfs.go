package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wwboot/wwboot/internal/site"
)

// configureNFS is "wwctl configure nfs"; the work is site.ConfigureNFS.
func (a *app) configureNFS(show *bool) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "nfs",
		Short: "Write the server's NFS exports and start the NFS server",
		Long: `Export the directories of "nfs: export paths" in warewulf.conf to the cluster
network, as Warewulf does: the host overlay's exports template renders
/etc/exports with one line per path and its "export
options" (default rw,sync,no_subtree_check), to the network of ipaddr and
netmask (and of ipaddr6). The file is replaced atomically when it changes; the
file it replaces is kept once as exports.wwbackup (an existing backup, the
administrator's own file, is never overwritten). Then "exportfs -ra" loads it
(when exportfs is missing or refuses it, the previous file is put back and
exportfs's message shown) and, when systemd runs, "systemctl enable --now"
starts the NFS server ("nfs: systemd name", default nfs-server); without
systemd it says what to run. exportfs and the service are left alone when
paths.hostroot is not /: they read /etc/exports. Running it again changes
nothing. With "nfs: enabled: false" or no export paths it does nothing; with "warewulf: host
overlay: false" it leaves the exports file to you. Bad input (a relative
export path, options with white space, no cluster network) is refused before
anything is written.

Nodes mount the exports through the fstab overlay: give their profile a
"resources: fstab:" list in nodes.conf, for example
  resources:
    fstab:
      - spec: 10.0.0.1:/home
        file: /home
        vfstype: nfs      # the default
        mntops: defaults  # the default
"wwctl upgrade nodes --with-warewulfconf" turns the "mount: true" exports of
an older warewulf.conf into such entries.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, err := a.site.ConfigureNFS(cmd.Context(), site.NFSOptions{Show: *show})
			if err != nil {
				return err
			}
			w := a.out()
			switch {
			case !plan.Enabled:
				fmt.Fprintln(w, "NFS is not enabled in warewulf.conf (nfs.enabled): nothing to configure")
				return nil
			case plan.NoExports:
				fmt.Fprintln(w, "No nfs.export paths in warewulf.conf: nothing to export, the NFS server is left alone")
				return nil
			case *show:
				if !plan.HostOverlay {
					fmt.Fprintf(w, "The host overlay is off (warewulf.host overlay): %s is left as it is\n", plan.Exports)
					return nil
				}
				state := "is up to date"
				if plan.Changed {
					state = "would change"
				}
				fmt.Fprintf(w, "# %s %s:\n%s", plan.Exports, state, plan.Content)
				return nil
			case !plan.HostOverlay:
				fmt.Fprintf(w, "The host overlay is off (warewulf.host overlay): %s is left as it is\n", plan.Exports)
			case plan.Changed && plan.Backup != "":
				fmt.Fprintf(w, "Wrote %s (the previous file is kept as %s)\n", plan.Exports, plan.Backup)
			case plan.Changed:
				fmt.Fprintf(w, "Wrote %s\n", plan.Exports)
			default:
				fmt.Fprintf(w, "%s is up to date: nothing changed\n", plan.Exports)
			}
			if plan.Loaded {
				fmt.Fprintln(w, "Ran exportfs -ra")
			}
			if plan.Started {
				fmt.Fprintf(w, "Enabled and started %s\n", plan.Service)
			} else {
				fmt.Fprintln(w, plan.Hint)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(show, "show", "s", false, "Print the exports file it would write, and change nothing")
	return cmd
}
