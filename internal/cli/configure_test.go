package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigureDHCP(t *testing.T) {
	t.Run("embedded without an address", func(t *testing.T) {
		tr := newTree(t, "")
		_, _, err := tr.run("", "configure", "dhcp")
		if err == nil || !strings.Contains(err.Error(), "set ipaddr") {
			t.Errorf("configure dhcp: %v", err)
		}
	})
	t.Run("embedded", func(t *testing.T) {
		tr := newTree(t, "")
		tr.appendConf("ipaddr: 192.0.2.1\nnetmask: 255.255.255.0\ndhcp:\n  range start: 192.0.2.100\n  range end: 192.0.2.150\n")
		out := tr.mustRun("configure", "dhcp")
		if !strings.Contains(out, "served by wwctl server (dhcp.mode embedded) on the interface holding 192.0.2.1; dynamic range 192.0.2.100-192.0.2.150") {
			t.Errorf("configure dhcp: %q", out)
		}
	})
	t.Run("external writes dhcpd.conf", func(t *testing.T) {
		tr := newTree(t, "")
		tr.appendConf("ipaddr: 192.0.2.1\nnetmask: 255.255.255.0\ndhcp:\n  mode: external\n  range start: 192.0.2.100\n  range end: 192.0.2.150\n")
		tr.mustRun("node", "add", "n1", "--ipaddr", "192.0.2.11", "--hwaddr", "52:54:00:00:00:01")
		out := tr.mustRun("configure", "dhcp")
		conf := filepath.Join(tr.root, "etc/dhcp/dhcpd.conf")
		if !strings.Contains(out, "Wrote "+conf) || !strings.Contains(out, "systemctl restart dhcpd") {
			t.Errorf("configure dhcp: %q", out)
		}
		data, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), "range 192.0.2.100 192.0.2.150") {
			t.Errorf("dhcpd.conf lacks the range:\n%s", data)
		}
	})
	t.Run("all", func(t *testing.T) {
		tr := newTree(t, "")
		tr.appendConf("ipaddr: 192.0.2.1\nnetmask: 255.255.255.0\nwarewulf:\n  tls: true\n")
		out := tr.mustRun("configure", "--all")
		if !strings.Contains(out, "served by wwctl server") {
			t.Errorf("configure --all: %q", out)
		}
		for _, p := range []string{"etc/warewulf/tls/warewulf.crt", "etc/warewulf/keys/ssh_host_ca_key"} {
			if _, err := os.Stat(filepath.Join(tr.root, p)); err != nil {
				t.Errorf("configure --all: %v", err)
			}
		}
	})
}

// TestConfigureAllTwice: configure --all runs every step in Warewulf's
// order; run again, it writes nothing and says so.
func TestConfigureAllTwice(t *testing.T) {
	tr := newTree(t, "")
	tr.appendConf("ipaddr: 192.0.2.1\nnetmask: 255.255.255.0\ndhcp:\n  mode: external\n  systemd name: dnsmasq\n  range start: 192.0.2.100\n  range end: 192.0.2.150\n")
	tr.mustRun("node", "add", "n1", "--ipaddr", "192.0.2.11", "--hwaddr", "52:54:00:00:00:01")
	first := tr.mustRun("configure", "--all")
	for _, want := range []string{
		"run systemctl enable --now warewulfd where it runs",
		"TFTP is served by wwctl server (tftp.mode embedded)",
		"DHCP is served by dnsmasq (dhcp.systemd name dnsmasq)",
		"Wrote " + filepath.Join(tr.root, "etc/dnsmasq.d/ww4-hosts.conf"),
		"Wrote " + filepath.Join(tr.root, "etc/hosts"),
	} {
		if !strings.Contains(first, want) {
			t.Errorf("first run lacks %q:\n%s", want, first)
		}
	}
	second := tr.mustRun("configure", "--all")
	if strings.Contains(second, "Wrote") || strings.Contains(second, "Created") || strings.Count(second, "Nothing to change") != 2 {
		t.Errorf("second run:\n%s", second)
	}
	show := tr.mustRun("configure", "--all", "--show")
	if !strings.Contains(show, "configure tls: skipped with --show") || strings.Contains(show, "Would write") {
		t.Errorf("--show after two runs:\n%s", show)
	}
}
