package overlays

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/overlay"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// epoch is .BuildTime in every golden file.
var epoch = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// newSnapshot reads a warewulf.conf and a nodes.conf and makes a snapshot
// over the built-in overlays whose server is the directory root: Include
// and IncludeFrom read below root/etc and root/var/lib/warewulf/chroots,
// and absolute server paths below root. The configuration keeps its
// default paths, so outputs do not depend on where root is.
func newSnapshot(t *testing.T, root, conf, nodes string) *overlay.Snapshot {
	t.Helper()
	cfg, _, err := config.Parse([]byte(conf), "warewulf.conf")
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse([]byte(nodes), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	e := epoch
	snap, err := overlay.NewSnapshot(cfg, inv, &overlay.Store{Builtin: FS()}, overlay.RenderOptions{
		Sysconfdir: filepath.Join(root, "etc"),
		Chrootdir:  filepath.Join(root, "var/lib/warewulf/chroots"),
		HostRoot:   root,
		Distdir:    "/usr/share/warewulf/overlays",
		BuildHost:  "server",
		Epoch:      &e,
		Location:   time.UTC,
		// Host certificates signed during a test are the same every time.
		Rand: zeros{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// serverRoot makes the server files the overlays read: its time zone
// link, root's authorized keys, users and groups, the image's users and
// groups, and host keys (fake ones: the overlays only copy them).
func serverRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := func(typ, who string) (string, string) {
		return "-----BEGIN OPENSSH PRIVATE KEY-----\nfake " + typ + " host key of " + who + "\n-----END OPENSSH PRIVATE KEY-----\n",
			"ssh-" + typ + " AAAAfake" + typ + who + " root@" + who + "\n"
	}
	files := map[string]string{
		"usr/share/zoneinfo/Europe/Oslo": "TZif2 fake zone\n",
		// The host overlay keeps what is above the marker.
		"etc/hosts":                 "127.0.0.1 localhost\n10.0.0.50 printer.example printer\n# Do not edit after this line\n10.0.9.9 stale-entry\n",
		"root/.ssh/authorized_keys": "ssh-ed25519 AAAAadmin admin@server\nssh-rsa AAAAbackup backup@server\n",
		"etc/passwd":                "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000:Alice:/home/alice:/bin/bash\nchrony:x:990:990::/var/lib/chrony:/sbin/nologin\n",
		"etc/group":                 "root:x:0:\nwheel:x:10:alice\nalice:x:1000:\n",
		"var/lib/warewulf/chroots/rocky-9/rootfs/etc/passwd": "root:x:0:0:root:/root:/bin/bash\nchrony:x:992:992::/var/lib/chrony:/sbin/nologin\nsshd:x:74:74::/usr/share/empty.sshd:/sbin/nologin\n",
		"var/lib/warewulf/chroots/rocky-9/rootfs/etc/group":  "root:x:0:\nwheel:x:10:\nsshd:x:74:\n",
	}
	// Cluster keys of the configured types and of one that is not
	// configured; a node key for "tagged" of one type only.
	for _, typ := range []string{"ed25519", "rsa", "ecdsa"} {
		files["etc/warewulf/keys/ssh_host_"+typ+"_key"], files["etc/warewulf/keys/ssh_host_"+typ+"_key.pub"] = key(typ, "cluster")
	}
	files["etc/warewulf/keys/nodes/tagged/ssh_host_ed25519_key"], files["etc/warewulf/keys/nodes/tagged/ssh_host_ed25519_key.pub"] = key("ed25519", "tagged")
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("../usr/share/zoneinfo/Europe/Oslo", filepath.Join(root, "etc/localtime")); err != nil {
		t.Fatal(err)
	}
	return root
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// nodeKeys gives every golden node keys of its own and the server the
// cluster's ssh host certificate authority: testdata/keys, copied to
// root/etc/warewulf/keys. Their certificates are made by the rendering.
func nodeKeys(t *testing.T, root string) {
	t.Helper()
	src := filepath.Join("testdata", "keys")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		dst := filepath.Join(root, "etc/warewulf/keys", rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// diskOverlays lists the overlay directories of this package.
func diskOverlays(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "testdata" {
			names = append(names, e.Name())
		}
	}
	return names
}

// TestGolden renders every overlay for every fixture node and compares
// each output (content, mode, owner, kind, link target) with
// testdata/golden/<overlay>/<node>/<path> and <node>.manifest.
func TestGolden(t *testing.T) {
	root := serverRoot(t)
	nodeKeys(t, root)
	snap := newSnapshot(t, root, readTestdata(t, "warewulf.conf"), readTestdata(t, "nodes.conf"))
	names := diskOverlays(t)
	r, err := snap.Renderer(names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, ov := range names {
		if ov == "host" { // the server's own files: TestGoldenHost
			continue
		}
		for _, node := range snap.NodeNames() {
			t.Run(ov+"/"+node, func(t *testing.T) {
				out, err := r.Render(snap.Node(node), "", []string{ov})
				if err != nil {
					t.Fatal(err)
				}
				checkGolden(t, filepath.Join("testdata", "golden", ov, node), out.Tree)
			})
		}
	}
}

// TestGoldenHost renders the host overlay for the server itself, as
// "wwctl overlay show --render host" does, under the golden
// warewulf.conf and two variants, and compares the outputs with
// testdata/golden/host/<variant>.
func TestGoldenHost(t *testing.T) {
	root := serverRoot(t)
	base := readTestdata(t, "warewulf.conf")
	for _, tc := range []struct {
		name string
		conf string
	}{
		// IPv6, a DHCP range, NFS exports, two ssh key types.
		{"server", base},
		// Fixed leases for every node, shim and GRUB for EFI, dnsmasq as
		// the TFTP server, no IPv6 range.
		{"server-static", strings.NewReplacer(
			"  range6 start: fd00:10::1000\n  range6 end: fd00:10::1fff\n", "  template: static\n",
			"  secure: true\n", "  secure: true\n  grubboot: true\n",
			"nfs:\n  enabled: true\n", "tftp:\n  enabled: true\n  mode: external\nnfs:\n  enabled: true\n",
		).Replace(base)},
		// No DHCP, NFS, IPv6, range or key types: dhcpd.conf and exports
		// are not written, dnsmasq hands out static leases only.
		{"server-off", "ipaddr: 10.0.0.1\nnetmask: 255.255.0.0\ndhcp:\n  enabled: false\nnfs:\n  enabled: false\nssh:\n  key types: []\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := newSnapshot(t, root, tc.conf, readTestdata(t, "nodes.conf"))
			r, err := snap.Renderer("host")
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Render(nil, "server", []string{"host"})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "golden", "host", tc.name), out.Tree)
		})
	}
}

// TestGoldenSharedHostKeys: with "shared host keys: true" ssh.host_keys
// renders what it rendered before nodes had keys of their own
// (testdata/golden-shared, the earlier golden files): the cluster's keys,
// or a node's own where it has one, and no certificates.
func TestGoldenSharedHostKeys(t *testing.T) {
	root := serverRoot(t)
	conf := strings.Replace(readTestdata(t, "warewulf.conf"), "\nssh:\n", "\nssh:\n  shared host keys: true\n", 1)
	snap := newSnapshot(t, root, conf, readTestdata(t, "nodes.conf"))
	r, err := snap.Renderer("ssh.host_keys")
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range snap.NodeNames() {
		t.Run(node, func(t *testing.T) {
			out, err := r.Render(snap.Node(node), "", []string{"ssh.host_keys"})
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata", "golden-shared", "ssh.host_keys", node), out.Tree)
		})
	}
	if _, err := os.Stat(filepath.Join(root, "etc/warewulf/keys/nodes/plain")); !os.IsNotExist(err) {
		t.Errorf("keys were made for a node with shared host keys: %v", err)
	}
}

// manifest lists a tree's entries, one per line: mode, kind, owner,
// path and, for a link, its target.
func manifest(tree overlay.Tree) string {
	var b strings.Builder
	for _, e := range tree.Sorted() {
		kind := map[overlay.Kind]string{overlay.KindDir: "dir", overlay.KindFile: "file", overlay.KindSymlink: "link"}[e.Kind]
		fmt.Fprintf(&b, "%04o %-4s %d:%d %s", e.Mode.Perm(), kind, e.UID, e.GID, e.Path)
		if e.Kind == overlay.KindSymlink {
			fmt.Fprintf(&b, " -> %s", e.Target)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func checkGolden(t *testing.T, dir string, tree overlay.Tree) {
	t.Helper()
	if *update {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		for _, e := range tree.Sorted() {
			if e.Kind != overlay.KindFile {
				continue
			}
			p := filepath.Join(dir, filepath.FromSlash(e.Path))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, e.Data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+".manifest", []byte(manifest(tree)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(dir + ".manifest")
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), manifest(tree)); diff != "" {
		t.Errorf("%s.manifest (-want +got):\n%s", dir, diff)
	}
	files := map[string]bool{}
	for _, e := range tree.Sorted() {
		if e.Kind != overlay.KindFile {
			continue
		}
		files[e.Path] = true
		want, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(e.Path)))
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if diff := cmp.Diff(string(want), string(e.Data)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", e.Path, diff)
		}
	}
	// A golden file the rendering no longer makes is stale.
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		if !files[filepath.ToSlash(rel)] {
			t.Errorf("golden file %s is not rendered any more", p)
		}
		return nil
	})
}

// TestBareNode renders every overlay for a node with nothing set, on a
// server with no keys, users, time zone or authorized keys: nothing may
// fail, and overlays whose inputs are all missing write nothing.
func TestBareNode(t *testing.T) {
	root := t.TempDir()
	snap := newSnapshot(t, root, "", "nodes:\n  bare: {}\n")
	names := diskOverlays(t)
	r, err := snap.Renderer(names...)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"NetworkManager": {"etc/NetworkManager/conf.d/warewulf-unmanaged.conf", "etc/NetworkManager/conf.d/ww4-discard-configuration.conf", "warewulf/init.d/20-NetworkManager"},
		"chrony":         {"etc/chrony.conf", "etc/chrony/chrony.conf"},
		"debug":          {"tstruct.md"},
		"fstab":          {"etc/fstab"},
		"hostname":       {"etc/hostname"},
		"host": {"etc/dhcp/dhcpd.conf", "etc/dhcpd.conf", "etc/dnsmasq.d/ww4-hosts.conf", "etc/dnsmasq.d/ww4-listen.conf", "etc/exports", "etc/hosts", "etc/kea/kea-dhcp4.conf",
			"etc/profile.d/ssh_setup.csh", "etc/profile.d/ssh_setup.sh", "var/lib/tftpboot/warewulf/grub.cfg"},
		"hosts": {"etc/hosts"},
		// Its units and scripts are there for every node; what depends on
		// disks is not.
		"ignition": {"etc/systemd/system/local-fs.target.wants/ww-ignition-disks.target",
			"etc/systemd/system/local-fs.target.wants/ww-ignition.service", "etc/systemd/system/ww-ignition-disks.target",
			"etc/systemd/system/ww-ignition.service", "warewulf/wwinit.d/10-ignition.sh"},
		"ifcfg":     {"etc/sysconfig/network"},
		"ifupdown":  {"etc/network/interfaces"},
		"issue":     {"etc/issue"},
		"localtime": nil,
		"mig": {"etc/systemd/system/multi-user.target.wants/ww-nvidia-mig.service", "etc/systemd/system/ww-nvidia-mig.service",
			"usr/local/sbin/mig2gres"},
		"mkfs":                {"warewulf/wwinit.d/20-mkfs.sh"},
		"mkswap":              {"warewulf/wwinit.d/20-mkswap.sh"},
		"netplan":             {"etc/netplan/warewulf.yaml"},
		"resolv":              {"etc/resolv.conf"},
		"ssh.authorized_keys": nil,
		"ssh.host_keys":       nil,
		"sfdisk":              {"warewulf/wwinit.d/10-sfdisk.sh"},
		"syncuser":            nil,
		"systemd.netname":     nil,
		"systemd.mount":       nil,
		"systemd.networkd":    nil,
		"systemd.swap":        nil,
		"udev.netname":        {"etc/udev/rules.d/70-persistent-net.rules"},
		"wicked":              nil,
		"wwclient": {"etc/systemd/system/multi-user.target.wants/wwclient.service", "etc/systemd/system/wwclient.service",
			"warewulf/init.d/80-wwclient", "warewulf/wwclient", "warewulf/wwclient.conf"},
		"wwinit": {"init", "warewulf/config", "warewulf/init.d/10-modules", "warewulf/init.d/20-loopback",
			"warewulf/init.d/30-network", "warewulf/init.d/50-ipmi", "warewulf/init.d/75-image-fixes",
			"warewulf/init.d/90-selinux", "warewulf/netdevs", "warewulf/run-init", "warewulf/run-wwinit.d", "warewulf/wwinit",
			"warewulf/wwprescripts"},
	}
	for _, ov := range names {
		t.Run(ov, func(t *testing.T) {
			out, err := r.Render(snap.Node("bare"), "", []string{ov})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range out.Tree.Sorted() {
				if e.Kind != overlay.KindDir {
					got = append(got, e.Path)
				}
			}
			w, ok := want[ov]
			if !ok {
				t.Fatalf("no expectation for overlay %s; got %q", ov, got)
			}
			if diff := cmp.Diff(w, got); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEmbedded checks that every overlay directory here is in FS() with
// all its files, that its attrs name only files it has, that the store
// reads it and that its templates parse (and run, for a bare node).
func TestEmbedded(t *testing.T) {
	store := &overlay.Store{Builtin: FS()}
	snap := newSnapshot(t, t.TempDir(), "", "nodes:\n  bare: {}\n")
	listed, err := store.Names()
	if err != nil {
		t.Fatal(err)
	}
	names := diskOverlays(t)
	if diff := cmp.Diff(names, listed); diff != "" {
		t.Errorf("built-in overlays (-on disk +embedded):\n%s", diff)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			onDisk := walk(t, os.DirFS(name), "rootfs")
			embedded := walk(t, FS(), name+"/rootfs")
			if len(onDisk) == 0 {
				t.Fatal("no files under rootfs")
			}
			if diff := cmp.Diff(onDisk, embedded); diff != "" {
				t.Errorf("files (-on disk +embedded):\n%s", diff)
			}
			if attrs, err := os.ReadFile(filepath.Join(name, "attrs")); err == nil {
				if _, err := fs.Stat(FS(), name+"/attrs"); err != nil {
					t.Errorf("attrs is not embedded: %v", err)
				}
				sc := bufio.NewScanner(bytes.NewReader(attrs))
				for sc.Scan() {
					f := strings.Fields(sc.Text())
					if len(f) == 0 || strings.HasPrefix(f[0], "#") {
						continue
					}
					if !slices.Contains(onDisk, f[0]) {
						t.Errorf("attrs names %s, which is not in rootfs", f[0])
					}
				}
			}
			o, err := store.Get(name)
			if err != nil {
				t.Fatal(err)
			}
			if o.Origin != overlay.OriginBuiltin || len(o.Files) == 0 {
				t.Errorf("Get(%q) = origin %s, %d files", name, o.Origin, len(o.Files))
			}
			r, err := snap.Renderer(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Render(snap.Node("bare"), "", []string{name}); err != nil {
				t.Error(err)
			}
		})
	}
}

// walk lists the paths below dir in fsys, relative to it.
func walk(t *testing.T, fsys fs.FS, dir string) []string {
	t.Helper()
	var out []string
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel := strings.TrimPrefix(p, dir+"/")
			out = append(out, path.Clean(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestServerFiles covers server states the golden fixture does not: a
// plain /etc/localtime, a configured key type without key files, and
// nodes with keys of their own but no certificate authority.
func TestServerFiles(t *testing.T) {
	const keyTypes = "ssh:\n  key types: [ed25519, rsa]\n"
	for _, tc := range []struct {
		name    string
		conf    string // warewulf.conf; "" is keyTypes
		files   map[string]string
		overlay string
		want    map[string]string // path -> content, or "-> target"
		wantErr string
	}{
		{
			name:    "a plain /etc/localtime is copied",
			files:   map[string]string{"etc/localtime": "TZif2 zone data\nUTC0\n"},
			overlay: "localtime",
			want:    map[string]string{"etc/localtime": "TZif2 zone data\nUTC0\n"},
		},
		{
			name: "a key type without key files is skipped",
			conf: keyTypes + "  shared host keys: true\n",
			files: map[string]string{
				"etc/warewulf/keys/ssh_host_rsa_key":     "RSA\n",
				"etc/warewulf/keys/ssh_host_rsa_key.pub": "ssh-rsa AAAA\n",
			},
			overlay: "ssh.host_keys",
			want:    map[string]string{"etc/ssh/ssh_host_rsa_key": "RSA\n", "etc/ssh/ssh_host_rsa_key.pub": "ssh-rsa AAAA\n"},
		},
		{
			// A site whose keys an older "configure ssh" (or Warewulf) made
			// keeps them until it creates the authority: no host key
			// changes unasked, and no certificate, sshd setting or
			// known_hosts line without an authority.
			name: "keys of their own without an authority: the shared keys stay",
			files: map[string]string{
				"etc/warewulf/keys/ssh_host_rsa_key":     "RSA\n",
				"etc/warewulf/keys/ssh_host_rsa_key.pub": "ssh-rsa AAAA\n",
			},
			overlay: "ssh.host_keys",
			want:    map[string]string{"etc/ssh/ssh_host_rsa_key": "RSA\n", "etc/ssh/ssh_host_rsa_key.pub": "ssh-rsa AAAA\n"},
		},
		{
			name:    "keys of their own without an authority or shared keys: nothing",
			overlay: "ssh.host_keys",
			want:    map[string]string{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for p, content := range tc.files {
				full := filepath.Join(root, p)
				if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			conf := tc.conf
			if conf == "" {
				conf = keyTypes
			}
			snap := newSnapshot(t, root, conf, "nodes:\n  n1: {}\n")
			r, err := snap.Renderer(tc.overlay)
			if err != nil {
				t.Fatal(err)
			}
			out, err := r.Render(snap.Node("n1"), "", []string{tc.overlay})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range out.Tree.Sorted() {
				switch e.Kind {
				case overlay.KindFile:
					got[e.Path] = string(e.Data)
				case overlay.KindSymlink:
					got[e.Path] = "-> " + e.Target
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
		})
	}
}
