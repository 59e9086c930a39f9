package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/compress"
	"github.com/wwboot/wwboot/internal/cpio"
)

const (
	shadowBody = "root:$6$salt$0123456789abcdefSECRETHASH:19000:0:99999:7:::\n"
	hostKey    = "-----BEGIN OPENSSH PRIVATE KEY----- image host key\n"
)

// secretTree is an image with an /etc/shadow (0640) and a private ssh
// host key (0600) among public files.
func secretTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "rootfs")
	for _, f := range []struct {
		name string
		perm fs.FileMode
		body string
	}{
		{"etc/hostname", 0o644, "node1\n"},
		{"etc/shadow", 0o640, shadowBody},
		{"etc/ssh/sshd_config", 0o644, "PermitRootLogin no\n"},
		{"etc/ssh/ssh_host_ed25519_key", 0o600, hostKey},
		{"usr/bin/tool", 0o755, "#!/bin/sh\n"},
	} {
		p := filepath.Join(root, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, f.perm); err != nil {
			t.Fatal(err)
		}
	}
	setMtimes(t, root, fixtureMtime)
	return root
}

// unpackArchive reads the compressed archive at p with the project's
// cpio reader: the regular files' bodies by name, and the whole
// decompressed stream.
func unpackArchive(t *testing.T, p string, f compress.Format) (map[string]string, []byte) {
	t.Helper()
	file, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	zr, err := compress.NewReader(file, f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	stream, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	files := map[string]string{}
	r := cpio.NewReader(bytes.NewReader(stream))
	for {
		h, err := r.Next()
		if errors.Is(err, io.EOF) {
			return files, stream
		}
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		if h.Mode.IsRegular() {
			files[h.Name] = string(body)
		}
	}
}

// TestBuildKeepsSecretsApart: files others may not read go into the
// secret archive only, no archive is world-readable, and a rebuild gives
// the same bytes.
func TestBuildKeepsSecretsApart(t *testing.T) {
	root := secretTree(t)
	out := filepath.Join(t.TempDir(), "images", "rocky")
	build := func(force bool) *BuildResult {
		t.Helper()
		res, err := Build(context.Background(), root, out, BuildOptions{Formats: allFormats, Force: force})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	first := build(false)
	wantSecret := map[string]string{"etc/shadow": shadowBody, "etc/ssh/ssh_host_ed25519_key": hostKey}
	for _, o := range first.Outputs {
		t.Run(filepath.Base(o.Path), func(t *testing.T) {
			pub, stream := unpackArchive(t, o.Path, o.Format)
			for _, secret := range []string{shadowBody, hostKey} {
				if bytes.Contains(stream, []byte(secret)) {
					t.Errorf("the public archive %s holds %q", o.Path, secret)
				}
			}
			if pub["etc/hostname"] != "node1\n" || pub["etc/ssh/sshd_config"] == "" {
				t.Errorf("the public archive lacks public files: %v", pub)
			}
			sec, _ := unpackArchive(t, SecretArchive(out, o.Format), o.Format)
			if diff := cmp.Diff(wantSecret, sec); diff != "" {
				t.Errorf("secret archive files (-want +got):\n%s", diff)
			}
			for _, p := range []string{o.Path, SecretArchive(out, o.Format), SecretArchive(out, o.Format) + ".sha256"} {
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if st.Mode().Perm()&0o004 != 0 {
					t.Errorf("%s has mode %v: readable by any user", p, st.Mode().Perm())
				}
			}
			if st, _ := os.Stat(SecretArchive(out, o.Format)); st.Mode().Perm() != 0o600 {
				t.Errorf("secret archive mode %v, want 0600", st.Mode().Perm())
			}
		})
	}

	// A forced rebuild gives the same bytes, and so the same sums.
	again := build(true)
	if again.Skipped {
		t.Fatal("forced rebuild skipped")
	}
	if diff := cmp.Diff(first.Outputs, again.Outputs); diff != "" {
		t.Errorf("rebuild (-first +second):\n%s", diff)
	}
	// A lost secret archive is rebuilt, not served without secrets.
	if err := os.Remove(SecretArchive(out, compress.Gzip)); err != nil {
		t.Fatal(err)
	}
	if res := build(false); res.Skipped {
		t.Error("the build with a secret archive missing was skipped")
	}
	if _, err := os.Stat(SecretArchive(out, compress.Gzip)); err != nil {
		t.Errorf("secret archive not rebuilt: %v", err)
	}

	// Secrets made readable: no secret archive is left.
	for _, p := range []string{"etc/shadow", "etc/ssh/ssh_host_ed25519_key"} {
		if err := os.Chmod(filepath.Join(root, p), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	res := build(false)
	for _, o := range res.Outputs {
		if o.SecretPath != "" {
			t.Errorf("%s: secret archive %s reported for a tree without secrets", o.Path, o.SecretPath)
		}
		for _, p := range []string{SecretArchive(out, o.Format), SecretArchive(out, o.Format) + ".sha256"} {
			if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s left behind (%v)", p, err)
			}
		}
		if pub, _ := unpackArchive(t, o.Path, o.Format); pub["etc/shadow"] != shadowBody {
			t.Errorf("%s: a readable etc/shadow is not in the public archive", o.Path)
		}
	}
}
