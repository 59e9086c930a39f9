package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/inventory"
)

// TestWarewulfListAndTagFlags runs "node set" with the list, tag and
// boolean flags as scripts written for Warewulf give them, and checks
// what nodes.conf gets: what Warewulf's pflag types (StringSlice,
// StringToString, its bool flag) make of the same words.
func TestWarewulfListAndTagFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantArgs []string
		wantTags map[string]string
		wantNet  map[string]string
		wantIPMI map[string]string
		wantDisc *string
		wantErr  string
	}{
		{name: "kernel arguments, comma separated", args: []string{"--kernelargs", "quiet,crashkernel=no,nosplash"},
			wantArgs: []string{"quiet", "crashkernel=no", "nosplash"}},
		{name: "kernel argument holding a comma, quoted", args: []string{"-A", `"console=ttyS0,115200",quiet`},
			wantArgs: []string{"console=ttyS0,115200", "quiet"}},
		{name: "kernel arguments given twice", args: []string{"-A", "rd.shell,rd.debug", "-A", "log_buf_len=1M"},
			wantArgs: []string{"rd.shell", "rd.debug", "log_buf_len=1M"}},
		{name: "kernel arguments with a space stay one item", args: []string{"-A", "quiet splash"},
			wantArgs: []string{"quiet splash"}},
		{name: "bad quoting", args: []string{"-A", `a"b`}, wantErr: `--kernelargs: "a\"b"`},
		{name: "one tag takes its commas", args: []string{"--tagadd", "gpuMigProfiles=14,14,14,15"},
			wantTags: map[string]string{"gpuMigProfiles": "14,14,14,15"}},
		{name: "several tags", args: []string{"--tagadd", "a=1,b=2", "--tagadd", "c=3"},
			wantTags: map[string]string{"a": "1", "b": "2", "c": "3"}},
		{name: "several tags, one value quoted", args: []string{"--tagadd", `a=1,"b=x,y"`},
			wantTags: map[string]string{"a": "1", "b": "x,y"}},
		{name: "network route tag", args: []string{"--nettagadd", "route1=192.168.2.0/24,192.168.1.254"},
			wantNet: map[string]string{"route1": "192.168.2.0/24,192.168.1.254"}},
		{name: "IPMI tag", args: []string{"--ipmitagadd", "vlan=10,20"}, wantIPMI: map[string]string{"vlan": "10,20"}},
		{name: "tag without a value", args: []string{"--tagadd", "novalue"}, wantErr: `"novalue": want key=value`},
		{name: "boolean t", args: []string{"--discoverable=t"}, wantDisc: new("true")},
		{name: "boolean F", args: []string{"--discoverable=F"}, wantDisc: new("false")},
		{name: "boolean nonsense", args: []string{"--discoverable=maybe"}, wantErr: `"maybe" is not a boolean`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTree(t, "")
			tr.mustRun("node", "add", "n1", "--ipaddr", "10.0.0.1")
			before := tr.nodesConf()
			_, errOut, err := tr.run("", append([]string{"node", "set", "n1", "--yes"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error()+errOut, tt.wantErr) {
					t.Fatalf("error %v (%s), want %q", err, errOut, tt.wantErr)
				}
				if tr.nodesConf() != before {
					t.Error("nodes.conf changed by a refused command")
				}
				return
			}
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			inv, err := inventory.Parse([]byte(tr.nodesConf()), "nodes.conf")
			if err != nil {
				t.Fatal(err)
			}
			n := inv.Nodes["n1"]
			var args []string
			if n.Kernel != nil {
				args = n.Kernel.Args
			}
			var ipmiTags map[string]string
			if n.Ipmi != nil {
				ipmiTags = n.Ipmi.Tags
			}
			var netTags map[string]string
			if d := n.NetDevs["default"]; d != nil {
				netTags = d.Tags
			}
			for _, c := range []struct {
				what      string
				want, got any
			}{
				{"kernel args", tt.wantArgs, args}, {"tags", tt.wantTags, n.Tags},
				{"network tags", tt.wantNet, netTags}, {"IPMI tags", tt.wantIPMI, ipmiTags}, {"discoverable", tt.wantDisc, n.Discoverable},
			} {
				if diff := cmp.Diff(c.want, c.got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", c.what, diff)
				}
			}
		})
	}
}

// TestConfigureKeysIsTLS: Warewulf 4.7 names "configure tls" also keys,
// key, cert and crt.
func TestConfigureKeysIsTLS(t *testing.T) {
	tr := newTree(t, "")
	for _, alias := range []string{"keys", "key", "cert", "crt", "tls"} {
		out := tr.mustRun("configure", alias, "--help")
		if !strings.Contains(out, "wwctl configure tls") {
			t.Errorf("configure %s is not configure tls:\n%s", alias, out)
		}
	}
}

// TestOverlayBuildOutput is Warewulf 4.6's "overlay build -o DIR -O
// NAMES NODE": the named overlays of one node rendered into DIR, no
// image built; and its errors.
func TestOverlayBuildOutput(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n1", "--ipaddr", "10.0.0.1")
	tr.mustRun("node", "add", "n2", "--ipaddr", "10.0.0.2")
	dir := filepath.Join(t.TempDir(), "out")
	out := tr.mustRun("overlay", "build", "-O", "hostname,issue", "-o", dir, "n1")
	if !strings.Contains(out, "Rendered overlays hostname,issue of node n1 into "+dir) {
		t.Errorf("output: %s", out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "hostname")); err != nil || string(b) != "n1\n" {
		t.Errorf("etc/hostname: %q, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "etc", "issue")); err != nil || !strings.Contains(string(b), "n1") {
		t.Errorf("etc/issue: %q, %v", b, err)
	}
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"-o", dir, "n1"}, "name the overlays to render with --overlay"},
		{[]string{"-O", "hostname", "-o", dir, "n1", "n2"}, "name the one node"},
		{[]string{"-O", "nosuchoverlay", "-o", dir, "n1"}, "nosuchoverlay"},
		{[]string{"-O", "nosuchoverlay"}, "nosuchoverlay"},
	} {
		if _, errOut, err := tr.run("", append([]string{"overlay", "build"}, tc.args...)...); err == nil ||
			!strings.Contains(err.Error()+errOut, tc.wantErr) {
			t.Errorf("overlay build %q: %v (%s), want %q", tc.args, err, errOut, tc.wantErr)
		}
	}
	_, errOut, err := tr.run("", "overlay", "build", "-O", "hostname", "n1")
	if err != nil || !strings.Contains(errOut, "a node's overlays are built together") {
		t.Errorf("overlay build -O hostname n1: %v, stderr %q", err, errOut)
	}
}

// TestImportKeepsMaskedPassword: nodes listed as YAML (password masked)
// and imported back keep their BMC password; a new one is taken.
func TestImportKeepsMaskedPassword(t *testing.T) {
	tr := newTree(t, "")
	tr.mustRun("node", "add", "n1", "--ipaddr", "10.0.0.1", "--ipmipass", "calvin-0xBMC")
	listed := tr.mustRun("node", "list", "-y", "n1")
	if !strings.Contains(listed, "********") || strings.Contains(listed, "calvin-0xBMC") {
		t.Fatalf("node list -y does not mask the password:\n%s", listed)
	}
	file := filepath.Join(t.TempDir(), "n1.yaml")
	if err := os.WriteFile(file, []byte(listed), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.mustRun("node", "import", file, "--yes")
	if conf := tr.nodesConf(); !strings.Contains(conf, "calvin-0xBMC") || strings.Contains(conf, "********") {
		t.Errorf("nodes.conf after importing the listing:\n%s", conf)
	}
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(listed, "********", "new-pw")), 0o644); err != nil {
		t.Fatal(err)
	}
	tr.mustRun("node", "import", file, "--yes")
	if conf := tr.nodesConf(); !strings.Contains(conf, "new-pw") {
		t.Errorf("a new password was not taken:\n%s", conf)
	}
}
