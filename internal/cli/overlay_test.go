package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOverlayWorkflow(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n[1-2]", "-I", "10.0.0.1", "-M", "255.255.255.0", "-N", "eth0")
	tr.mustRun("overlay", "create", "site")
	// A new template written through $EDITOR, as an administrator would.
	tr.env["EDITOR"] = writeEditor(t, tr.root, `printf '# motd for {{.Id}}\nWelcome to {{.Id}} ({{.NetDevs.default.Ipaddr}})\n' > "$1"`)
	tr.mustRun("overlay", "edit", "--parents", "site", "etc/motd.ww")
	// As Warewulf's: three lines before the content unless --quiet; the
	// name of the file made finds its template.
	for _, args := range [][]string{{"site", "etc/motd.ww"}, {"site", "etc/motd"}} {
		got := tr.mustRun(append([]string{"overlay", "show", "--render", "n2"}, args...)...)
		if want := "backupFile: true\nwriteFile: true\nFilename: etc/motd\n# motd for n2\nWelcome to n2 (10.0.0.2)\n"; got != want {
			t.Errorf("rendered %s %q, want %q", args[1], got, want)
		}
	}
	if !strings.Contains(tr.mustRun("overlay", "list"), "site                 2           true") {
		t.Errorf("list does not show the site overlay:\n%s", tr.mustRun("overlay", "list"))
	}
	tr.mustRun("overlay", "create", "srv")
	// A name that is not a node renders for the server itself, named by
	// its host name, as Warewulf's overlay show does.
	tr.env["EDITOR"] = writeEditor(t, tr.root, `printf '{{.Id}} {{.ClusterName}}\n' > "$1"`)
	tr.mustRun("overlay", "edit", "--parents", "srv", "etc/who.ww")
	host, _ := os.Hostname()
	if got, want := tr.mustRun("overlay", "show", "-q", "--render", "host", "srv", "etc/who.ww"), host+" "+host+"\n"; got != want {
		t.Errorf("rendered for the server %q, want %q", got, want)
	}
	tr.mustRun("node", "set", "n[1-2]", "--runtime-overlays", "hosts,site", "-y")
	if out := tr.mustRun("overlay", "build"); !strings.Contains(out, "4 built, 0 unchanged, 0 failed") {
		t.Errorf("first build: %s", out)
	}
	if out := tr.mustRun("overlay", "build"); !strings.Contains(out, "0 built, 4 unchanged, 0 failed") {
		t.Errorf("second build: %s", out)
	}
	tr.env["EDITOR"] = writeEditor(t, tr.root, `sed -i 's/Welcome/Hello/' "$1"`)
	tr.mustRun("overlay", "edit", "site", "etc/motd.ww")
	if out := tr.mustRun("overlay", "build", "n1"); !strings.Contains(out, "1 built, 1 unchanged, 0 failed") {
		t.Errorf("build after an edit: %s", out)
	}
	if _, err := os.Stat(filepath.Join(tr.root, "var/warewulf/provision/overlays/n1.pack")); err != nil {
		t.Error(err)
	}
	info := tr.mustRun("overlay", "info", "site", "etc/motd.ww")
	for _, want := range []string{"VARIABLE                 OPTION    TYPE    HELP", ".NetDevs.default.Ipaddr  --ipaddr  IP      IPv4 address"} {
		if !strings.Contains(info, want) {
			t.Errorf("info lacks %q:\n%s", want, info)
		}
	}
}

func TestOverlayEditShippedCopiesToSite(t *testing.T) {
	tr := newTree(t, "")
	tr.env["EDITOR"] = writeEditor(t, tr.root, `echo '# site addition' >> "$1"`)
	tr.mustRun("overlay", "edit", "hostname", "etc/hostname.ww")
	site := filepath.Join(tr.root, "var/warewulf/overlays/hostname/rootfs/etc/hostname.ww")
	data, err := os.ReadFile(site)
	if err != nil {
		t.Fatalf("shipped overlay not copied to the site directory: %v", err)
	}
	if !strings.HasSuffix(string(data), "# site addition\n") {
		t.Errorf("site copy: %q", data)
	}
	if !strings.Contains(tr.mustRun("overlay", "list", "hostname"), "true") {
		t.Error("hostname is not listed as a site overlay")
	}
}

func TestOverlayRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stdin string
		setup func(tr *tree)
		args  []string
		want  string
	}{
		{name: "delete a shipped overlay", args: []string{"overlay", "delete", "hosts"}, want: `overlay "hosts" is a built-in overlay and cannot be deleted`},
		{name: "bad name", args: []string{"overlay", "create", "a/b"}, want: `overlay name "a/b" is not valid`},
		{name: "existing", args: []string{"overlay", "create", "hosts"}, want: `overlay "hosts" already exists`},
		{name: "path leaves the overlay", setup: func(tr *tree) { tr.mustRun("overlay", "create", "x") }, args: []string{"overlay", "mkdir", "x", "../../etc"}, want: "leaves the overlay"},
		{name: "bad mode", setup: func(tr *tree) { tr.mustRun("overlay", "create", "x") }, args: []string{"overlay", "mkdir", "x", "d", "-m", "999"}, want: `mode "999" is not an octal permission mode`},
		{name: "unknown node", args: []string{"overlay", "build", "nosuch"}, want: "no such node: nosuch"},
		{name: "invalid template is not saved", stdin: "n\n", setup: func(tr *tree) {
			tr.mustRun("overlay", "create", "x")
			tr.env["EDITOR"] = writeEditor(t, tr.root, `echo '{{.Id' > "$1"`)
		}, args: []string{"overlay", "edit", "x", "bad.ww"}, want: "edit abandoned, nothing changed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTree(t, "")
			if tc.setup != nil {
				tc.setup(tr)
			}
			_, _, err := tr.run(tc.stdin, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want %q", err, tc.want)
			}
		})
	}
	tr := newTree(t, "")
	tr.mustRun("overlay", "create", "x")
	tr.env["EDITOR"] = writeEditor(t, tr.root, `echo '{{.Id' > "$1"`)
	tr.run("n\n", "overlay", "edit", "x", "bad.ww")
	if _, err := os.Stat(filepath.Join(tr.root, "var/warewulf/overlays/x/rootfs/bad.ww")); !os.IsNotExist(err) {
		t.Errorf("invalid template was written: %v", err)
	}
}

// TestConfigureSSHShared: with shared host keys, configure ssh does what
// it always did: one set of keys for every node, and no authority.
func TestConfigureSSHShared(t *testing.T) {
	tr := newTree(t, "")
	tr.appendConf("ssh:\n  shared host keys: true\n")
	out := tr.mustRun("configure", "ssh", "--keytypes", "ed25519")
	home := filepath.Join(tr.root, "home/.ssh")
	want := "Created " + filepath.Join(tr.root, "etc/warewulf/keys/ssh_host_ed25519_key") + "\n" +
		"Created " + home + "/id_ed25519\nAdded " + home + "/id_ed25519.pub to " + home + "/authorized_keys\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Error(diff)
	}
	key, err := os.ReadFile(filepath.Join(tr.root, "etc/warewulf/keys/ssh_host_ed25519_key"))
	if err != nil || !strings.HasPrefix(string(key), "-----BEGIN OPENSSH PRIVATE KEY-----") {
		t.Fatalf("private key: %v %q", err, key)
	}
	if out := tr.mustRun("configure", "ssh", "--keytypes", "ed25519"); out != "" {
		t.Errorf("existing keys were replaced: %s", out)
	}
	for _, p := range []string{"etc/warewulf/keys/ssh_host_ca_key", "etc/ssh/ssh_known_hosts"} {
		if _, err := os.Stat(filepath.Join(tr.root, p)); !os.IsNotExist(err) {
			t.Errorf("%s with shared host keys: %v", p, err)
		}
	}
}

// TestConfigureSSHSharedSkipsTypes: Warewulf's key types list (with dsa,
// which OpenSSH dropped, or a type nothing knows) does not stop configure
// ssh with shared host keys: those types are skipped, saying so, as
// without shared keys.
func TestConfigureSSHSharedSkipsTypes(t *testing.T) {
	tr := newTree(t, "")
	tr.appendConf("ssh:\n  shared host keys: true\n  key types: [dsa, ed25519, ed448]\n")
	out, stderr, err := tr.run("", "configure", "ssh")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stderr, `ssh.key types[2]: \"ed448\" is not one of ed25519, ecdsa, rsa, dsa; wwctl configure ssh skips it`) {
		t.Errorf("stderr %q does not warn of ed448", stderr)
	}
	home := filepath.Join(tr.root, "home/.ssh")
	want := "Skipped key type dsa (ssh: key types): keys are made of ed25519, ecdsa and rsa only\n" +
		"Skipped key type ed448 (ssh: key types): keys are made of ed25519, ecdsa and rsa only\n" +
		"Created " + filepath.Join(tr.root, "etc/warewulf/keys/ssh_host_ed25519_key") + "\n" +
		"Created " + home + "/id_ed25519\nAdded " + home + "/id_ed25519.pub to " + home + "/authorized_keys\n"
	if diff := cmp.Diff(want, out); diff != "" {
		t.Error(diff)
	}
}

func TestOverlayBuildGroupsFailures(t *testing.T) {
	tr := newTree(t, "")
	// The overlay goes after the nodes name it.
	tr.mustRun("overlay", "create", "gone")
	tr.mustRun("node", "add", "n[1-3]", "--system-overlays", "gone")
	tr.mustRun("overlay", "delete", "gone")
	_, stderr, err := tr.run("", "overlay", "build")
	if err == nil || !strings.Contains(err.Error(), "3 overlay image(s) failed to build") {
		t.Fatalf("error = %v", err)
	}
	if want := "n[1-3]: system overlay: overlay \"gone\" does not exist\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

// TestUnknownOverlayRefused: naming an overlay that does not exist is an
// error naming it, and nodes.conf is left as it was.
func TestUnknownOverlayRefused(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("overlay", "create", "site")
	tr.mustRun("node", "add", "n1")
	before, err := os.ReadFile(tr.nodes)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the error; "" for success
	}{
		{"node set, typo", []string{"node", "set", "n1", "--system-overlays", "wwinit,siet", "--yes"}, `--system-overlays: overlay "siet" does not exist`},
		{"node set, runtime", []string{"node", "set", "n1", "--runtime-overlays", "nosuch", "--yes"}, `--runtime-overlays: overlay "nosuch" does not exist`},
		{"node set, old flag name", []string{"node", "set", "n1", "--wwinit", "nosuch", "--yes"}, `--system-overlays: overlay "nosuch" does not exist`},
		{"node set, dropped inherited overlay", []string{"node", "set", "n1", "--runtime-overlays", "~nosuch", "--yes"}, `overlay "nosuch" does not exist`},
		{"node add", []string{"node", "add", "n2", "--system-overlays", "nosuch"}, `overlay "nosuch" does not exist`},
		{"profile add", []string{"profile", "add", "p", "--runtime-overlays", "nosuch"}, `overlay "nosuch" does not exist`},
		{"profile set", []string{"profile", "set", "default", "--runtime-overlays", "nosuch", "--yes"}, `overlay "nosuch" does not exist`},
		{"invalid name", []string{"node", "set", "n1", "--runtime-overlays", "a/b", "--yes"}, `"a/b" is not a valid overlay name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tr.run("", tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
			after, _ := os.ReadFile(tr.nodes)
			if diff := cmp.Diff(string(before), string(after)); diff != "" {
				t.Errorf("nodes.conf changed (-before +after):\n%s", diff)
			}
		})
	}
	for _, args := range [][]string{
		{"node", "set", "n1", "--system-overlays", "wwinit,site", "--runtime-overlays", "site,~hosts", "--yes"},
		{"node", "set", "n1", "--runtime-overlays", "UNSET", "--yes"},
		{"profile", "set", "default", "--runtime-overlays", "", "--yes"},
	} {
		if _, _, err := tr.run("", args...); err != nil {
			t.Errorf("%v: %v", args, err)
		}
	}
}
