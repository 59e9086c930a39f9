package sshca

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/crypto/ssh"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// UserChange is what EnsureUserKey did: the key pair it made ("" when
// one was there) and whether it added the public key to authorized_keys.
type UserChange struct {
	CreatedKey string
	Authorized bool
	// Key is the private key file whose public key authorized_keys holds.
	Key string
}

// EnsureUserKey gives a user of the server (root) the key pair it logs
// into nodes with and the authorized_keys the ssh.authorized_keys
// overlay carries to them, in sshDir (~/.ssh), as Warewulf's configure
// ssh does: the key is the first of id_<type> that exists for types in
// order, else a new one of the first type that can be made (no
// passphrase, private 0600, public 0644); authorized_keys gets its public
// key unless it holds it already. Nothing else is changed.
func EnsureUserKey(sshDir string, types []string) (UserChange, error) {
	var c UserChange
	var usable []string
	for _, t := range types {
		if CanGenerate(t) {
			usable = append(usable, t)
		}
	}
	if len(usable) == 0 {
		return c, errors.New("no key type that can be made (ed25519, ecdsa, rsa)")
	}
	var pub ssh.PublicKey
	for _, t := range usable {
		path := filepath.Join(sshDir, "id_"+t)
		p, err := userPublic(path)
		if err != nil {
			return c, err
		}
		if p != nil {
			pub, c.Key = p, path
			break
		}
	}
	if pub == nil {
		if err := os.MkdirAll(sshDir, 0o700); err != nil {
			return c, err
		}
		c.Key = filepath.Join(sshDir, "id_"+usable[0])
		// No comment, as Warewulf's ssh-keygen -C "".
		private, public, err := GenerateKey(usable[0], "")
		if err != nil {
			return c, err
		}
		if err := atomicfile.WriteFile(c.Key+".pub", public, 0o644); err != nil {
			return c, err
		}
		if err := atomicfile.WriteFile(c.Key, private, 0o600); err != nil {
			return c, err
		}
		c.CreatedKey = c.Key
		if pub, _, _, _, err = ssh.ParseAuthorizedKey(public); err != nil {
			return c, fmt.Errorf("%s.pub: %w", c.Key, err)
		}
	}
	added, err := authorize(filepath.Join(sshDir, "authorized_keys"), pub)
	c.Authorized = added
	return c, err
}

// userPublic is the public key of the private key at path: nil when
// there is none; read from path.pub, else from the key itself.
func userPublic(path string) (ssh.PublicKey, error) {
	data, err := os.ReadFile(path + ".pub")
	if err == nil {
		pub, _, _, _, err := ssh.ParseAuthorizedKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s.pub: %w", path, err)
		}
		return pub, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s has no %s.pub and cannot be read without it: %w", path, filepath.Base(path), err)
	}
	return signer.PublicKey(), nil
}

// authorize adds pub to the authorized_keys file at path (made 0600)
// unless a line holds it; it reports whether it added it.
func authorize(path string, pub ssh.PublicKey) (bool, error) {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	mode := fs.FileMode(0o600)
	if st, err := os.Stat(path); err == nil {
		mode = st.Mode().Perm()
	}
	want := pub.Marshal()
	for rest := data; len(rest) > 0; {
		k, _, _, next, err := ssh.ParseAuthorizedKey(rest)
		if err != nil {
			break // no more keys (comments and blank lines are skipped)
		}
		if bytes.Equal(k.Marshal(), want) {
			return false, nil
		}
		rest = next
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		data = append(data, '\n')
	}
	data = append(data, ssh.MarshalAuthorizedKey(pub)...)
	if err := atomicfile.WriteFile(path, data, mode); err != nil {
		return false, err
	}
	return true, nil
}
