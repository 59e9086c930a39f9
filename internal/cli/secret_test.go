package cli

import (
	"strings"
	"testing"
)

// TestBMCPasswordMasked: set's change summary and every list view show a
// BMC password as the mask; nodes.conf and export keep it.
func TestBMCPasswordMasked(t *testing.T) {
	const (
		old    = "calvin-old"
		secret = "calvin-0xBMC"
		inher  = "from-profile-pw"
	)
	tr := newTree(t, "")
	tr.mustRun("profile", "add", "bmc")
	tr.mustRun("profile", "set", "bmc", "--ipmipass", inher, "--yes")
	tr.mustRun("node", "add", "n1", "n2")
	tr.mustRun("node", "set", "n2", "--profile", "bmc", "--yes")
	tr.mustRun("node", "set", "n1", "--ipmipass", old, "--yes")

	for _, tc := range []struct {
		name string
		args []string
		want string // a line the output must hold, spaces aside
	}{
		{name: "set over a password", args: []string{"node", "set", "n1", "--ipmipass", secret, "--yes"},
			want: "Ipmi.Password: ******** -> ********"},
		{name: "profile set", args: []string{"profile", "set", "bmc", "--ipmipass", "other-" + inher, "--ipmiuser", "x", "--yes"},
			want: "Ipmi.Password: ******** -> ********"},
		{name: "set a first password", args: []string{"node", "set", "n2", "--ipmipass", "n2-" + secret, "--yes"},
			want: "Ipmi.Password: (unset) -> ********"},
		{name: "node list -a", args: []string{"node", "list", "-a"}, want: "n1 Ipmi.Password -- ********"},
		{name: "node list --all-fields", args: []string{"node", "list", "--all-fields", "n1"}},
		{name: "node list -a -j", args: []string{"node", "list", "-a", "-j"}, want: `"password": "********",`},
		{name: "node list --all-fields -y", args: []string{"node", "list", "--all-fields", "-y"}, want: `value: '********'`},
		{name: "node list -j", args: []string{"node", "list", "-j"}},
		{name: "node list -y", args: []string{"node", "list", "-y"}},
		{name: "profile list -a", args: []string{"profile", "list", "-a"}},
		{name: "profile list -y", args: []string{"profile", "list", "-y"}},
		{name: "profile list --all-fields", args: []string{"profile", "list", "--all-fields"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, err := tr.run("", tc.args...)
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			all := out + errOut
			for _, pw := range []string{old, secret, inher} {
				if strings.Contains(all, pw) {
					t.Errorf("shows %q:\n%s", pw, all)
				}
			}
			if !strings.Contains(all, "********") {
				t.Errorf("no mask:\n%s", all)
			}
			if tc.want != "" && !hasLine(all, tc.want) {
				t.Errorf("no line %q in:\n%s", tc.want, all)
			}
		})
	}
	for _, args := range [][]string{{"node", "export"}, {"node", "export", "--merged", "n2"}} {
		if out := tr.mustRun(args...); !strings.Contains(out, "n2-"+secret) || strings.Contains(out, "********") {
			t.Errorf("%v does not keep the password:\n%s", args, out)
		}
	}
	if conf := tr.nodesConf(); !strings.Contains(conf, secret) {
		t.Errorf("nodes.conf lost the password:\n%s", conf)
	}
}

// hasLine reports whether text has a line of want's words.
func hasLine(text, want string) bool {
	for line := range strings.Lines(text) {
		if strings.Join(strings.Fields(line), " ") == want {
			return true
		}
	}
	return false
}
