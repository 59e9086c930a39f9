package overlay

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/sshca"
)

// TestIncrementalBuildHostKeys: a build notices what SshHostKeys read.
// Nodes built before the authority existed are built again when it
// appears, and get keys then; a node whose keys are removed is built
// again with new ones; nothing else is rebuilt.
func TestIncrementalBuildHostKeys(t *testing.T) {
	f := newBuildFixture(t)
	f.cfg.SSH.KeyTypes = []string{"ed25519"}
	f.write(t, "r/rootfs/etc/ssh/cert.ww", "{{range SshHostKeys .Ssh.KeyTypes}}{{.Certificate}}{{end}}\n")
	keys := sshca.Keys{Dir: filepath.Join(f.root, "etc/warewulf/keys")}
	runtimes := []string{"n1/runtime", "n2/runtime", "n3/runtime"}
	for _, step := range []struct {
		name   string
		change func()
		built  []string
		keys   []string // nodes that must have a certificate after the build
	}{
		{name: "without an authority: no keys", change: func() {},
			built: []string{"n1/system", "n1/runtime", "n2/system", "n2/runtime", "n3/system", "n3/runtime"}},
		{name: "nothing changed", change: func() {}},
		{name: "the authority appears", change: func() {
			if _, err := keys.CreateCA(context.Background()); err != nil {
				t.Fatal(err)
			}
		}, built: runtimes, keys: []string{"n1", "n2", "n3"}},
		{name: "nothing changed, keys kept", change: func() {}, keys: []string{"n1", "n2", "n3"}},
		{name: "n2's keys removed", change: func() {
			if err := os.RemoveAll(keys.NodeDir("n2")); err != nil {
				t.Fatal(err)
			}
		}, built: []string{"n2/runtime"}, keys: []string{"n1", "n2", "n3"}},
	} {
		step.change()
		if diff := cmp.Diff(statuses(step.built...), f.build(t)); diff != "" {
			t.Fatalf("%s (-want +got):\n%s", step.name, diff)
		}
		for _, n := range []string{"n1", "n2", "n3"} {
			_, err := os.Stat(filepath.Join(keys.NodeDir(n), "ssh_host_ed25519_key-cert.pub"))
			if want := contains(step.keys, n); (err == nil) != want {
				t.Errorf("%s: %s has a certificate: %v, want %v", step.name, n, err == nil, want)
			}
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func TestHostPrincipals(t *testing.T) {
	f := newBuildFixture(t)
	f.nodes = `nodes:
  n1:
    network devices:
      default: {device: eth0, ipaddr: 10.0.0.1, ipaddr6: "fd00::1"}
      ib: {device: ib0, ipaddr: 10.1.0.1}
      bmc: {}
  bare: {}
`
	s := f.snapshot(t)
	for _, tc := range []struct {
		node string
		want []string
	}{
		{"n1", []string{"10.0.0.1", "10.1.0.1", "fd00::1", "n1", "n1-bmc", "n1-default", "n1-eth0", "n1-ib", "n1-ib0"}},
		{"bare", []string{"bare"}},
	} {
		if diff := cmp.Diff(tc.want, HostPrincipals(s.Node(tc.node))); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.node, diff)
		}
	}
}
