package cli

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/site"
	"github.com/wwboot/wwboot/internal/sshca"
)

// usableKeyTypes returns the types keys can be made of. A type named on
// the command line must be one; one from warewulf.conf (DSA, which OpenSSH
// dropped, or a type nothing knows) is skipped with a line saying so, as
// the overlay skips it.
func (a *app) usableKeyTypes(types []string, fromFlag bool) ([]string, error) {
	var usable []string
	for _, t := range types {
		switch {
		case sshca.CanGenerate(t):
			usable = append(usable, t)
		case fromFlag:
			return nil, fmt.Errorf("--keytypes: %q is not one of ed25519, ecdsa, rsa", t)
		default:
			fmt.Fprintf(a.out(), "Skipped key type %s (ssh: key types): keys are made of ed25519, ecdsa and rsa only\n", t)
		}
	}
	return usable, nil
}

// configureNodeKeys creates the cluster's ssh host certificate authority,
// makes every node (or those patterns name) its own host keys with
// certificates, and makes the server trust the authority.
func (a *app) configureNodeKeys(ctx context.Context, usable, patterns []string) error {
	keys := sshca.Keys{Dir: a.site.KeysDir()}
	made, err := keys.CreateCA(ctx)
	if err != nil {
		return err
	}
	if made {
		fmt.Fprintf(a.out(), "Created %s (the cluster's ssh host certificate authority)\n", keys.CAPath())
	}

	snap, err := a.site.Snapshot()
	if err != nil {
		return err
	}
	names := snap.NodeNames()
	if len(patterns) > 0 {
		inv, err := a.store().Load()
		if err != nil {
			return err
		}
		if names, err = site.NodeKind.Select(inv, patterns, false); err != nil {
			return err
		}
	}
	// Key generation (RSA above all) is the slow part: one node per CPU.
	changes := make([]sshca.Change, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, name := range names {
		g.Go(func() error {
			var err error
			_, changes[i], err = keys.EnsureNode(gctx, name, usable, overlay.HostPrincipals(snap.Node(name)))
			return err
		})
	}
	err = g.Wait()
	for i, name := range names {
		c := changes[i]
		dir := keys.NodeDir(name)
		if len(c.Created) > 0 {
			fmt.Fprintf(a.out(), "Created %s host keys of %s in %s\n", strings.Join(c.Created, ", "), name, dir)
		}
		if len(c.Signed) > 0 {
			fmt.Fprintf(a.out(), "Signed %s host certificates of %s for %s\n", strings.Join(c.Signed, ", "), name,
				strings.Join(overlay.HostPrincipals(snap.Node(name)), " "))
		}
	}
	if err != nil {
		return err
	}

	_, caPub, err := keys.CAPublic()
	if err != nil {
		return err
	}
	knownHosts := a.site.KnownHosts()
	changed, err := sshca.TrustInKnownHosts(knownHosts, caPub)
	if err != nil {
		return err
	}
	if changed {
		fmt.Fprintf(a.out(), "Added to %s: %s", knownHosts, sshca.KnownHostsLine(caPub))
	}
	return nil
}
