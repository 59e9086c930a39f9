package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestOverlayBuildAsWarewulf checks what Warewulf 4.7's own test of
// overlay build (a benchmark) expects: building a range of nodes with its
// stock system and runtime overlays succeeds although the nodes' image
// does not exist and they have no network device, no BMC address and no
// keys made for them. --workers 0 or less is one worker per CPU, as in
// Warewulf.
func TestOverlayBuildAsWarewulf(t *testing.T) {
	const n = 120
	var conf strings.Builder
	conf.WriteString(`nodeprofiles:
  compute:
    image name: not-imported
    ipxe template: default
    runtime overlay: [hosts, ssh.authorized_keys, syncuser]
    system overlay: [wwinit, wwclient, fstab, hostname, ssh.host_keys, issue, resolv,
      udev.netname, systemd.netname, ifcfg, ifupdown, NetworkManager, wicked, ignition]
    kernel:
      args: [quiet]
    ipmi:
      template: ipmitool.tmpl
    init: /sbin/init
    root: initramfs
nodes:
`)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&conf, "  c%d:\n    profiles: [compute]\n", i)
	}
	nodesConf := filepath.Join(t.TempDir(), "nodes.conf")
	if err := os.WriteFile(nodesConf, []byte(conf.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, nodesConf)
	summary := regexp.MustCompile(`^Overlay images: (\d+) built, (\d+) unchanged, 0 failed \(\S+\)\n$`)
	for _, tc := range []struct {
		name             string
		args             []string
		built, unchanged string
	}{
		{name: "every node of a range", args: []string{"--workers", "1", fmt.Sprintf("c[1-%d]", n)}, built: fmt.Sprint(2 * n), unchanged: "0"},
		{name: "workers 0: one per CPU", args: []string{"--workers", "0", "c1"}, built: "0", unchanged: "2"},
		{name: "negative workers: one per CPU", args: []string{"--workers", "-1", "c[1-2]"}, built: "0", unchanged: "4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := tr.mustRun(append([]string{"overlay", "build"}, tc.args...)...)
			m := summary.FindStringSubmatch(out)
			if m == nil || m[1] != tc.built || m[2] != tc.unchanged {
				t.Errorf("output %q, want %s built and %s unchanged", out, tc.built, tc.unchanged)
			}
		})
	}
	if _, _, err := tr.run("", "overlay", "build", fmt.Sprintf("c[1-%d]", n+1)); err == nil {
		t.Error("a range naming a node that does not exist built")
	}
	help := tr.mustRun("overlay", "build", "--help")
	if !regexp.MustCompile(`--workers int +Images built at once \(0 or less: one per CPU\)\n`).MatchString(help) {
		t.Errorf("--workers is not shown with Warewulf's default (0, one per CPU):\n%s", help)
	}
}
