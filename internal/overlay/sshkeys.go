package overlay

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/wwboot/wwboot/internal/sshca"
)

// SshHostKey is one of a node's own ssh host keys as templates see it:
// the contents of its files, without their last newline (as Include
// gives them).
type SshHostKey struct {
	Type        string // ed25519, ecdsa or rsa
	Private     string // ssh_host_<type>_key
	Public      string // ssh_host_<type>_key.pub
	Certificate string // ssh_host_<type>_key-cert.pub, signed by the cluster's authority
}

// hostKeyLockWait bounds how long a rendering waits for another build
// making the same node's keys (an RSA key takes a moment).
const hostKeyLockWait = 2 * time.Minute

func (e env) sshKeys() sshca.Keys {
	return sshca.Keys{Dir: filepath.Join(e.sysconfdir, "warewulf", "keys"), Rand: e.rand}
}

// sshHostKeys is the template function SshHostKeys: the current node's
// own host keys of the given types, each with a certificate the cluster's
// authority signed for the node's names and addresses (HostPrincipals).
// Missing keys are made and wrong certificates signed again, so a node
// added to nodes.conf gets its keys at its first build. Without an
// authority it gives the shared keys of <sysconfdir>/warewulf/keys when
// they exist (a site that ran an older "wwctl configure ssh"), without
// certificates, so nodes keep the host identity users know; else
// nothing, and the image's keys apply.
func (e env) sshHostKeys(st *execState, types []string) ([]SshHostKey, error) {
	if st.node == nil || st.node.server {
		return nil, nil
	}
	keys := e.sshKeys()
	caPub := keys.CAPath() + ".pub"
	ctx, cancel := context.WithTimeout(context.Background(), hostKeyLockWait)
	defer cancel()
	found, _, err := keys.EnsureNode(ctx, st.node.Id(), types, HostPrincipals(st.node))
	if errors.Is(err, sshca.ErrNoCA) {
		// When an authority appears, the node is built again.
		st.note(caPub, nil)
		// A site whose keys an older "wwctl configure ssh" (or Warewulf)
		// made keeps giving every node those shared keys, without
		// certificates, until it creates the authority: its nodes'
		// host identity never changes unasked.
		var shared []SshHostKey
		for _, t := range types {
			p := filepath.Join(keys.Dir, sshca.KeyName(t))
			priv, err := st.read(p)
			if err != nil || len(priv) == 0 {
				continue
			}
			pub, _ := st.read(p + ".pub")
			shared = append(shared, SshHostKey{Type: t, Private: trimNL(priv), Public: trimNL(pub)})
		}
		return shared, nil
	}
	if err != nil {
		return nil, err
	}
	if data, err := os.ReadFile(caPub); err == nil {
		st.note(caPub, data)
	}
	out := make([]SshHostKey, 0, len(found))
	for _, k := range found {
		st.note(k.Path, k.Private)
		st.note(k.Path+".pub", k.Public)
		st.note(k.Path+"-cert.pub", k.Cert)
		out = append(out, SshHostKey{Type: k.Type, Private: trimNL(k.Private), Public: trimNL(k.Public), Certificate: trimNL(k.Cert)})
	}
	return out, nil
}

// sshHostCA is the template function SshHostCA: the public key line of
// the cluster's ssh host certificate authority, "" when there is none.
func (e env) sshHostCA(st *execState) string {
	data, _ := st.read(e.sshKeys().CAPath() + ".pub")
	return trimNL(data)
}

func trimNL(b []byte) string { return strings.TrimSuffix(string(b), "\n") }

// HostPrincipals are the names and addresses a node's host certificate
// is valid for, the ones an administrator or a user would ssh to: the
// node's name, and for each network device the names the hosts overlay
// gives it (<node>-<netdev>, <node>-<device>) and its IPv4 and IPv6
// addresses. Sorted, each once.
func HostPrincipals(n *Node) []string {
	out := []string{n.Id()}
	for _, name := range sortedKeys(n.NetDevs) {
		nd := n.NetDevs[name]
		if nd == nil {
			continue
		}
		out = append(out, n.Id()+"-"+name)
		if nd.Device != "" {
			out = append(out, n.Id()+"-"+nd.Device)
		}
		for _, ip := range []net.IP{nd.Ipaddr, nd.Ipaddr6} {
			if ip != nil && !ip.IsUnspecified() {
				out = append(out, ip.String())
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
