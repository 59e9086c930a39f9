// Package sshca keeps the cluster's ssh host certificate authority and
// the nodes' own host keys, each with a host certificate the authority
// signed, under one keys directory (<sysconfdir>/warewulf/keys):
//
//	ssh_host_ca_key, ssh_host_ca_key.pub        the authority (ed25519)
//	nodes/<node>/ssh_host_<type>_key            a node's private key (0600)
//	nodes/<node>/ssh_host_<type>_key.pub        its public key
//	nodes/<node>/ssh_host_<type>_key-cert.pub   its certificate
//
// Clients that trust the authority (an @cert-authority line in
// ssh_known_hosts) accept a node's key for the names and addresses its
// certificate lists, and for no other: a user who reads one node's key
// can impersonate that node only.
//
// Every file is written whole (write-temp, fsync, rename), and a node's
// files are changed only under a lock on the node's directory, so
// concurrent builds and "wwctl configure ssh" agree on one key per node.
package sshca

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// CAKeyName is the authority's private key file in the keys directory;
// the public key is CAKeyName + ".pub".
const CAKeyName = "ssh_host_ca_key"

// CAComment begins the comment of the authority's public key line (it
// goes on with "@" and the server's host name), so a known_hosts line
// that trusts it can be recognised and replaced.
const CAComment = "wwboot-ssh-host-ca"

// ErrNoCA is returned (wrapped) when the keys directory holds no
// authority.
var ErrNoCA = errors.New("no ssh host certificate authority")

// Keys is a keys directory.
type Keys struct {
	// Dir is the keys directory, <sysconfdir>/warewulf/keys.
	Dir string
	// Rand gives certificates their nonce and serial; nil is
	// crypto/rand. Tests set it to make certificates reproducible. (Key
	// generation always uses crypto/rand.)
	Rand io.Reader
}

func (k Keys) rand() io.Reader {
	if k.Rand == nil {
		return rand.Reader
	}
	return k.Rand
}

// CAPath is the authority's private key file.
func (k Keys) CAPath() string { return filepath.Join(k.Dir, CAKeyName) }

// NodeDir is the directory of a node's own keys.
func (k Keys) NodeDir(node string) string { return filepath.Join(k.Dir, "nodes", node) }

// KeyName is the file name of a host private key of a type; its public
// key and certificate add ".pub" and "-cert.pub".
func KeyName(keyType string) string { return "ssh_host_" + keyType + "_key" }

// CanGenerate reports whether keys of a type can be made: ed25519, ecdsa
// and rsa. (DSA, which warewulf.conf still accepts, was removed from
// OpenSSH.)
func CanGenerate(keyType string) bool {
	return keyType == "ed25519" || keyType == "ecdsa" || keyType == "rsa"
}

// GenerateKey makes a private key of a type and returns it as an OpenSSH
// PEM file and its public key as an authorized_keys line, with comment.
func GenerateKey(keyType, comment string) (private, public []byte, err error) {
	var key any
	switch keyType {
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	case "ecdsa":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return nil, nil, fmt.Errorf("key type %q is not one of ed25519, ecdsa, rsa", keyType)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", keyType, err)
	}
	block, err := ssh.MarshalPrivateKey(key, comment)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s key: %w", keyType, err)
	}
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encode %s key: %w", keyType, err)
	}
	return pem.EncodeToMemory(block), authorizedLine(signer.PublicKey(), comment), nil
}

func authorizedLine(pub ssh.PublicKey, comment string) []byte {
	line := bytes.TrimSuffix(ssh.MarshalAuthorizedKey(pub), []byte("\n"))
	if comment != "" {
		line = append(append(line, ' '), comment...)
	}
	return append(line, '\n')
}

// CreateCA makes the authority, an ed25519 key (private 0600, public
// 0644), unless its private key exists; it reports whether it made one.
// An existing authority is kept: replacing it would make every node
// certificate untrusted.
func (k Keys) CreateCA(ctx context.Context) (bool, error) {
	if err := os.MkdirAll(k.Dir, 0o700); err != nil {
		return false, fmt.Errorf("ssh host certificate authority: %w", err)
	}
	unlock, err := atomicfile.Lock(ctx, filepath.Join(k.Dir, "."+CAKeyName+".lock"))
	if err != nil {
		return false, err
	}
	defer unlock()
	if _, err := os.Stat(k.CAPath()); err == nil {
		// A lost public half is made again from the private key.
		if _, err := os.Stat(k.CAPath() + ".pub"); errors.Is(err, fs.ErrNotExist) {
			ca, err := k.caSigner()
			if err != nil {
				return false, err
			}
			host, _ := os.Hostname()
			return false, atomicfile.WriteFile(k.CAPath()+".pub", authorizedLine(ca.PublicKey(), CAComment+"@"+host), 0o644)
		}
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("ssh host certificate authority: %w", err)
	}
	host, _ := os.Hostname()
	private, public, err := GenerateKey("ed25519", CAComment+"@"+host)
	if err != nil {
		return false, err
	}
	// The public half first: a private key without it is repaired above,
	// a public key without its private key would be trusted for nothing.
	if err := atomicfile.WriteFile(k.CAPath()+".pub", public, 0o644); err != nil {
		return false, err
	}
	if err := atomicfile.WriteFile(k.CAPath(), private, 0o600); err != nil {
		return false, err
	}
	return true, nil
}

// CAPublic returns the authority's public key line (as in its .pub
// file), or an error wrapping ErrNoCA when there is none.
func (k Keys) CAPublic() (ssh.PublicKey, []byte, error) {
	data, err := os.ReadFile(k.CAPath() + ".pub")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w in %s", ErrNoCA, k.Dir)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("ssh host certificate authority: %w", err)
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil, nil, fmt.Errorf("ssh host certificate authority %s.pub: %w", k.CAPath(), err)
	}
	return pub, data, nil
}

func (k Keys) caSigner() (ssh.Signer, error) {
	data, err := os.ReadFile(k.CAPath())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoCA, k.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("ssh host certificate authority: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("ssh host certificate authority %s: %w", k.CAPath(), err)
	}
	return signer, nil
}

// KnownHostsLine is the ssh_known_hosts line that trusts the authority
// for every host name. The certificates, not this pattern, limit what a
// key is trusted for: each lists its own node's names and addresses, and
// only the authority's key, which never leaves the server, can sign one.
// A fixed pattern stays right as nodes come and go.
func KnownHostsLine(caPublic []byte) string {
	return "@cert-authority * " + strings.TrimSpace(string(caPublic)) + "\n"
}

// HostKey is one of a node's host keys: file paths and contents.
type HostKey struct {
	Type string
	// Path is the private key file; the public key and the
	// certificate are Path+".pub" and Path+"-cert.pub".
	Path                  string
	Private, Public, Cert []byte
}

// Change says what EnsureNode wrote.
type Change struct {
	Created []string // key types it generated
	Signed  []string // key types whose certificate it (re)signed
}

// EnsureNode makes sure the node's directory holds a key of each of
// types that can be generated, each with a certificate the authority
// signed for exactly principals, valid forever; a certificate for other
// principals or from another authority is signed again, the key kept.
// It returns the keys in the order of types. Without an authority it
// returns an error wrapping ErrNoCA and writes nothing.
//
// The node's files are read without a lock, and only when something must
// change is the node's lock taken and everything checked again, so
// renders of up-to-date nodes never wait for each other.
func (k Keys) EnsureNode(ctx context.Context, node string, types, principals []string) ([]HostKey, Change, error) {
	if node == "" || node == "." || node == ".." || strings.ContainsAny(node, "/\x00") {
		return nil, Change{}, fmt.Errorf("ssh host keys: %q is not a node name", node)
	}
	caPub, _, err := k.CAPublic()
	if err != nil {
		return nil, Change{}, err
	}
	principals = normalize(principals)
	if len(principals) == 0 {
		return nil, Change{}, fmt.Errorf("ssh host keys of %s: no name or address to certify", node)
	}
	types = slices.DeleteFunc(slices.Clone(types), func(t string) bool { return !CanGenerate(t) })
	types = uniq(types)
	keys, ok := k.current(node, types, principals, caPub)
	if ok {
		return keys, Change{}, nil
	}
	dir := k.NodeDir(node)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, Change{}, fmt.Errorf("ssh host keys of %s: %w", node, err)
	}
	unlock, err := atomicfile.Lock(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, Change{}, fmt.Errorf("ssh host keys of %s: %w", node, err)
	}
	defer unlock()
	ca, err := k.caSigner()
	if err != nil {
		return nil, Change{}, err
	}
	if !bytes.Equal(ca.PublicKey().Marshal(), caPub.Marshal()) {
		return nil, Change{}, fmt.Errorf("ssh host certificate authority: %s.pub is not the public key of %s", k.CAPath(), k.CAPath())
	}
	var change Change
	keys = keys[:0]
	for _, t := range types {
		hk, created, signed, err := k.ensureKey(node, t, principals, ca)
		if err != nil {
			return nil, Change{}, err
		}
		if created {
			change.Created = append(change.Created, t)
		}
		if signed {
			change.Signed = append(change.Signed, t)
		}
		keys = append(keys, hk)
	}
	return keys, change, nil
}

// current reads the node's keys and reports whether all are present and
// their certificates right.
func (k Keys) current(node string, types, principals []string, caPub ssh.PublicKey) ([]HostKey, bool) {
	var keys []HostKey
	for _, t := range types {
		hk := HostKey{Type: t, Path: filepath.Join(k.NodeDir(node), KeyName(t))}
		var err error
		if hk.Private, err = os.ReadFile(hk.Path); err != nil {
			return nil, false
		}
		if hk.Public, err = os.ReadFile(hk.Path + ".pub"); err != nil {
			return nil, false
		}
		if hk.Cert, err = os.ReadFile(hk.Path + "-cert.pub"); err != nil {
			return nil, false
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey(hk.Public)
		if err != nil || !certRight(hk.Cert, pub, principals, caPub) {
			return nil, false
		}
		keys = append(keys, hk)
	}
	return keys, true
}

// ensureKey makes one key and its certificate right; the caller holds
// the node's lock. The private key is what a node is: a missing public
// key or certificate is made from it, never the other way round.
func (k Keys) ensureKey(node, keyType string, principals []string, ca ssh.Signer) (hk HostKey, created, signed bool, err error) {
	hk = HostKey{Type: keyType, Path: filepath.Join(k.NodeDir(node), KeyName(keyType))}
	comment := "root@" + node
	hk.Private, err = os.ReadFile(hk.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if hk.Private, _, err = GenerateKey(keyType, comment); err != nil {
			return hk, false, false, err
		}
		// Whatever a crashed run left beside the key it never wrote
		// belongs to no key now.
		for _, p := range []string{hk.Path + ".pub", hk.Path + "-cert.pub"} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return hk, false, false, fmt.Errorf("ssh host keys of %s: %w", node, err)
			}
		}
		if err := atomicfile.WriteFile(hk.Path, hk.Private, 0o600); err != nil {
			return hk, false, false, err
		}
		created = true
	case err != nil:
		return hk, false, false, fmt.Errorf("ssh host keys of %s: %w", node, err)
	}
	signer, err := ssh.ParsePrivateKey(hk.Private)
	if err != nil {
		return hk, false, false, fmt.Errorf("ssh host key %s: %w", hk.Path, err)
	}
	pub := signer.PublicKey()
	hk.Public, _ = os.ReadFile(hk.Path + ".pub")
	if have, _, _, _, err := ssh.ParseAuthorizedKey(hk.Public); err != nil || !bytes.Equal(have.Marshal(), pub.Marshal()) {
		hk.Public = authorizedLine(pub, comment)
		if err := atomicfile.WriteFile(hk.Path+".pub", hk.Public, 0o644); err != nil {
			return hk, false, false, err
		}
	}
	hk.Cert, _ = os.ReadFile(hk.Path + "-cert.pub")
	if certRight(hk.Cert, pub, principals, ca.PublicKey()) {
		return hk, created, false, nil
	}
	if hk.Cert, err = k.sign(node, pub, principals, ca); err != nil {
		return hk, false, false, err
	}
	if err := atomicfile.WriteFile(hk.Path+"-cert.pub", hk.Cert, 0o644); err != nil {
		return hk, false, false, err
	}
	return hk, created, true, nil
}

func (k Keys) sign(node string, pub ssh.PublicKey, principals []string, ca ssh.Signer) ([]byte, error) {
	var serial [8]byte
	if _, err := io.ReadFull(k.rand(), serial[:]); err != nil {
		return nil, fmt.Errorf("sign host certificate of %s: %w", node, err)
	}
	cert := &ssh.Certificate{
		Key:             pub,
		Serial:          binary.BigEndian.Uint64(serial[:]),
		CertType:        ssh.HostCert,
		KeyId:           node,
		ValidPrincipals: principals,
		// Forever: a node's key changes only when its files are removed,
		// and a certificate that expires would lock users out of a
		// running node. Distrust goes with the authority (or a KRL).
		ValidAfter:  0,
		ValidBefore: ssh.CertTimeInfinity,
	}
	if err := cert.SignCert(k.rand(), ca); err != nil {
		return nil, fmt.Errorf("sign host certificate of %s: %w", node, err)
	}
	return authorizedLine(cert, "root@"+node), nil
}

// certRight reports whether data is a host certificate of pub signed by
// ca for exactly principals and valid forever.
func certRight(data []byte, pub ssh.PublicKey, principals []string, ca ssh.PublicKey) bool {
	parsed, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return false
	}
	cert, ok := parsed.(*ssh.Certificate)
	if !ok || cert.CertType != ssh.HostCert || cert.ValidAfter != 0 || cert.ValidBefore != ssh.CertTimeInfinity ||
		!bytes.Equal(cert.Key.Marshal(), pub.Marshal()) || !bytes.Equal(cert.SignatureKey.Marshal(), ca.Marshal()) ||
		!slices.Equal(normalize(cert.ValidPrincipals), principals) {
		return false
	}
	// The signature itself: a file someone edited is not trusted.
	return len(principals) > 0 && (&ssh.CertChecker{}).CheckCert(principals[0], cert) == nil
}

// normalize sorts principals and drops empty and repeated ones.
func normalize(p []string) []string {
	out := slices.DeleteFunc(slices.Clone(p), func(s string) bool { return s == "" })
	slices.Sort(out)
	return slices.Compact(out)
}

func uniq(s []string) []string {
	var out []string
	for _, v := range s {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// TrustInKnownHosts makes the ssh_known_hosts file at path trust the
// authority whose public key line is caPublic: it adds KnownHostsLine, or
// replaces a line that trusted an earlier authority of ours (recognised
// by CAComment), and keeps every other line. It reports whether it
// changed the file; a file that already trusts the authority is left
// untouched.
func TrustInKnownHosts(path string, caPublic []byte) (bool, error) {
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("known hosts: %w", err)
	}
	want := strings.TrimSuffix(KnownHostsLine(caPublic), "\n")
	var lines []string
	placed := false
	for _, line := range strings.SplitAfter(string(old), "\n") {
		if line == "" {
			continue
		}
		if ours(line) {
			if !placed {
				lines = append(lines, want+"\n")
				placed = true
			}
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		lines = append(lines, line)
	}
	if !placed {
		lines = append(lines, want+"\n")
	}
	updated := strings.Join(lines, "")
	if updated == string(old) {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, fmt.Errorf("known hosts: %w", err)
	}
	if err := atomicfile.WriteFile(path, []byte(updated), 0o644); err != nil {
		return false, err
	}
	return true, nil
}

// ours reports whether a known_hosts line is an @cert-authority line for
// an authority of ours.
func ours(line string) bool {
	f := strings.Fields(line)
	return len(f) >= 5 && f[0] == "@cert-authority" && strings.HasPrefix(f[4], CAComment)
}
