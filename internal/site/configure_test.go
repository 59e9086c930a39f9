package site

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/testkit/nettest"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/configure")

// recorder runs the real programs (the DHCP servers' checks) but only
// records systemctl, and says systemd runs when systemd is set.
type recorder struct {
	ExecCommander
	systemd bool
	mu      sync.Mutex
	calls   []string
}

func (r *recorder) Run(ctx context.Context, name string, args ...string) ([]byte, error) {
	if name == "systemctl" {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.calls = append(r.calls, strings.Join(append([]string{name}, args...), " "))
		return nil, nil
	}
	return r.ExecCommander.Run(ctx, name, args...)
}

func (r *recorder) Systemd() bool { return r.systemd }

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// twoNodes is the site of the configure tests: two nodes on the
// server's network, one with a second NIC.
const twoNodes = `nodeprofiles:
  default: {}
nodes:
  n1:
    profiles: [default]
    network devices:
      default:
        device: eth0
        hwaddr: "52:54:00:00:00:01"
        ipaddr: 10.0.0.11
  n2:
    profiles: [default]
    network devices:
      default:
        device: eth0
        hwaddr: "52:54:00:00:00:02"
        ipaddr: 10.0.0.12
      ib:
        device: ib0
        hwaddr: "52:54:00:00:01:02"
        ipaddr: 10.0.0.112
`

func dhcpSite(t *testing.T, unit, template, extra string) (*Site, *sitetest.Install, *recorder) {
	t.Helper()
	in := sitetest.New(t, "ipaddr: 10.0.0.1\nnetmask: 255.255.255.0\nwarewulf:\n  port: 9873\n"+
		"dhcp:\n  mode: external\n  systemd name: "+unit+"\n  template: "+template+
		"\n  range start: 10.0.0.100\n  range end: 10.0.0.199\n"+extra)
	in.WriteNodes(t, twoNodes)
	rec := &recorder{systemd: true}
	s, err := Open(Options{Config: in.Load(t), Commands: rec})
	if err != nil {
		t.Fatal(err)
	}
	return s, in, rec
}

// TestConfigureDHCPExternal: for each external server and template,
// configure dhcp writes the golden configuration, which the server's own
// program accepts, enables and restarts the service; a second run
// changes nothing, and --show writes nothing.
func TestConfigureDHCPExternal(t *testing.T) {
	for _, tc := range []struct {
		unit, template, program string
		files                   []string
	}{
		{"dhcpd", "default", "dhcpd", []string{"dhcp/dhcpd.conf"}},
		{"isc-dhcp-server", "static", "dhcpd", []string{"dhcp/dhcpd.conf"}},
		{"dnsmasq", "default", "dnsmasq", []string{"dnsmasq.d/ww4-hosts.conf", "dnsmasq.d/ww4-listen.conf"}},
		{"dnsmasq", "static", "dnsmasq", []string{"dnsmasq.d/ww4-hosts.conf", "dnsmasq.d/ww4-listen.conf"}},
		{"kea-dhcp4-server", "default", "kea-dhcp4", []string{"kea/kea-dhcp4.conf"}},
		{"kea", "static", "kea-dhcp4", []string{"kea/kea-dhcp4.conf"}},
	} {
		t.Run(tc.unit+"-"+tc.template, func(t *testing.T) {
			s, in, rec := dhcpSite(t, tc.unit, tc.template, "")
			etc := filepath.Join(in.Root, "etc")
			ctx := t.Context()

			// --show: what would be written, nothing written, nothing run.
			plan, err := s.ConfigureDHCP(ctx, ConfigureOptions{Show: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range plan.Files {
				if f.Change != Created || !strings.HasPrefix(f.Diff, "--- /dev/null\n") {
					t.Errorf("show %s: %s, diff %q", f.Path, f.Change, f.Diff)
				}
				if _, err := os.Lstat(f.Path); err == nil {
					t.Errorf("show wrote %s", f.Path)
				}
			}
			if calls := rec.take(); len(calls) != 0 {
				t.Errorf("show ran %q", calls)
			}

			plan, err = s.ConfigureDHCP(ctx, ConfigureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			checked := tc.program + " accepts the configuration"
			if findProgram(tc.program) == "" {
				t.Logf("%s is not installed: the rendered configuration is not checked by it (scripts/deps.sh installs it)", tc.program)
				checked = tc.program + " is not installed here: the configuration is not checked"
			}
			if !contains(plan.Notes, checked) {
				t.Errorf("notes %q lack %q", plan.Notes, checked)
			}
			for _, f := range tc.files {
				data, err := os.ReadFile(filepath.Join(etc, f))
				if err != nil {
					t.Fatal(err)
				}
				got := strings.ReplaceAll(string(data), in.Root, "ROOT")
				golden(t, filepath.Join("testdata", "configure", tc.unit+"-"+tc.template, filepath.Base(f)), got)
			}
			want := []string{"systemctl enable " + tc.unit, "systemctl restart " + tc.unit}
			if diff := cmp.Diff(want, rec.take()); diff != "" {
				t.Errorf("systemctl (-want +got):\n%s", diff)
			}

			// Again: nothing changes, the service is only enabled and started.
			plan, err = s.ConfigureDHCP(ctx, ConfigureOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if plan.Changed() {
				t.Errorf("second run changed %+v", plan.Files)
			}
			if diff := cmp.Diff([]string{"systemctl enable --now " + tc.unit}, rec.take()); diff != "" {
				t.Errorf("second run's systemctl (-want +got):\n%s", diff)
			}
			if m, _ := filepath.Glob(filepath.Join(etc, "*", "*.wwbackup")); len(m) != 0 {
				t.Errorf("backups of files that were not there: %q", m)
			}
		})
	}
}

// dhcpNetworks is a dhcp.networks of two networks: one on a VLAN
// interface of the server with a range, one behind a relay without.
const dhcpNetworks = `  interface: eth0
  networks:
    - network: 10.0.2.0
      netmask: 255.255.255.0
      range start: 10.0.2.100
      range end: 10.0.2.199
      gateway: 10.0.2.254
      interface: eth0.1000
    - network: 10.0.3.0
      netmask: 255.255.255.0
      gateway: 10.0.3.1
`

// TestConfigureDHCPNetworks: the external servers' configurations hold
// each of dhcp.networks (a subnet with its range and router; the
// interfaces listened on) besides the server's own network, and the
// servers' programs accept them. Kea's is TestConfigureKeaNetworks.
func TestConfigureDHCPNetworks(t *testing.T) {
	for _, tc := range []struct {
		unit, program string
		files         []string
		want          []string // lines the configuration must hold
	}{
		{"dhcpd", "dhcpd", []string{"dhcp/dhcpd.conf"}, []string{
			"subnet 10.0.0.0 netmask 255.255.255.0 {", "subnet 10.0.2.0 netmask 255.255.255.0 {", "    range 10.0.2.100 10.0.2.199;",
			"    option routers 10.0.2.254;", "subnet 10.0.3.0 netmask 255.255.255.0 {", "    option routers 10.0.3.1;"}},
		{"dnsmasq", "dnsmasq", []string{"dnsmasq.d/ww4-hosts.conf", "dnsmasq.d/ww4-listen.conf"}, []string{
			"dhcp-range=10.0.0.100,10.0.0.199,255.255.255.0,6h", "dhcp-range=set:wwnet0,10.0.2.100,10.0.2.199,255.255.255.0,6h",
			"dhcp-option=tag:wwnet0,option:router,10.0.2.254", "dhcp-range=set:wwnet1,10.0.3.0,static,255.255.255.0,6h",
			"dhcp-option=tag:wwnet1,option:router,10.0.3.1", "interface=eth0", "interface=eth0.1000"}},
	} {
		t.Run(tc.unit, func(t *testing.T) { checkDHCPNetworks(t, tc.unit, tc.program, tc.files, tc.want) })
	}
}

// TestConfigureKeaNetworks is TestConfigureDHCPNetworks for Kea, whose
// check (kea-dhcp4 -t) wants the interfaces it is to listen on: it runs
// in a network namespace of its own, with eth0 and eth0.1000 (a veth
// pair: this kernel may lack 802.1Q).
func TestConfigureKeaNetworks(t *testing.T) {
	if !nettest.Isolate(t) {
		return
	}
	if out, err := exec.Command("ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0.1000").CombinedOutput(); err != nil {
		t.Fatalf("ip link add: %v\n%s", err, out)
	}
	checkDHCPNetworks(t, "kea-dhcp4-server", "kea-dhcp4", []string{"kea/kea-dhcp4.conf"}, []string{
		`        "interfaces": [ "eth0", "eth0.1000" ]`, `            "subnet": "10.0.2.0/24",`, `            "interface": "eth0.1000",`,
		`            "pools": [ { "pool": "10.0.2.100 - 10.0.2.199" } ],`,
		`            "option-data": [ { "name": "routers", "data": "10.0.2.254" } ],`, `            "subnet": "10.0.3.0/24",`,
		`            "option-data": [ { "name": "routers", "data": "10.0.3.1" } ],`})
}

// checkDHCPNetworks configures the external server unit with
// dhcpNetworks and checks that program accepted what it wrote (when
// installed), that files hold the lines want, and their golden copies.
func checkDHCPNetworks(t *testing.T, unit, program string, files, want []string) {
	t.Helper()
	s, in, _ := dhcpSite(t, unit, "static", dhcpNetworks)
	plan, err := s.ConfigureDHCP(t.Context(), ConfigureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if findProgram(program) != "" && !contains(plan.Notes, program+" accepts the configuration") {
		t.Errorf("notes %q: not checked by %s", plan.Notes, program)
	}
	var all []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(in.Root, "etc", f))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, strings.Split(string(data), "\n")...)
		golden(t, filepath.Join("testdata", "configure", unit+"-networks", filepath.Base(f)), strings.ReplaceAll(string(data), in.Root, "ROOT"))
	}
	for _, w := range want {
		if !slices.Contains(all, w) {
			t.Errorf("no line %q in %s", w, strings.Join(files, ", "))
		}
	}
}

// TestConfigureDHCPBackup: the file a run replaces is kept once as
// .wwbackup (Warewulf's backup: the first original, never overwritten);
// dnsmasq's snippets, whose templates call nobackup, get none.
func TestConfigureDHCPBackup(t *testing.T) {
	for _, tc := range []struct {
		unit, file string
		backup     bool
	}{
		{"dhcpd", "dhcp/dhcpd.conf", true},
		{"dnsmasq", "dnsmasq.d/ww4-hosts.conf", false},
	} {
		t.Run(tc.unit, func(t *testing.T) {
			s, in, _ := dhcpSite(t, tc.unit, "default", "")
			p := filepath.Join(in.Root, "etc", tc.file)
			sitetest.Write(t, p, "# the site's own\n")
			plan, err := s.ConfigureDHCP(t.Context(), ConfigureOptions{Show: true})
			if err != nil {
				t.Fatal(err)
			}
			if d := plan.Files[0].Diff; !strings.Contains(d, "-# the site's own\n") || !strings.Contains(d, "+# Generated by wwboot") {
				t.Errorf("show's diff:\n%s", d)
			}
			if _, err := s.ConfigureDHCP(t.Context(), ConfigureOptions{}); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(p + ".wwbackup")
			if tc.backup && string(data) != "# the site's own\n" {
				t.Errorf("backup %q, %v", data, err)
			}
			if !tc.backup && err == nil {
				t.Errorf("a backup of a nobackup template's file: %q", data)
			}
			// Changed again: the first backup stays.
			sitetest.Write(t, p, "# edited\n")
			if _, err := s.ConfigureDHCP(t.Context(), ConfigureOptions{}); err != nil {
				t.Fatal(err)
			}
			if data, _ := os.ReadFile(p + ".wwbackup"); tc.backup && string(data) != "# the site's own\n" {
				t.Errorf("backup replaced: %q", data)
			}
		})
	}
}

// TestConfigureDHCPRejected: a configuration the server's program
// rejects (a site's broken host template) is refused with the program's
// message; the installed file is untouched, no backup, no systemctl.
func TestConfigureDHCPRejected(t *testing.T) {
	for _, tc := range []struct {
		unit, program, template, file, want string
	}{
		{"dhcpd", "dhcpd", "etc/dhcp/dhcpd.conf.ww", "dhcp/dhcpd.conf", "hardware ethernet"},
		{"dnsmasq", "dnsmasq", "etc/dnsmasq.d/ww4-hosts.conf.ww", "dnsmasq.d/ww4-hosts.conf", "bad option at line 1"},
		{"kea-dhcp4-server", "kea-dhcp4", "etc/kea/kea-dhcp4.conf.ww", "kea/kea-dhcp4.conf", "invalid host identifier value 'zz:zz'"},
	} {
		t.Run(tc.unit, func(t *testing.T) {
			if findProgram(tc.program) == "" {
				t.Skipf("%s is not installed (scripts/deps.sh installs it)", tc.program)
			}
			s, in, rec := dhcpSite(t, tc.unit, "static", "")
			broken := map[string]string{
				"dhcpd":            "host n1 { hardware ethernet zz:zz; }\n",
				"dnsmasq":          "dhcp-hoost=n1\n",
				"kea-dhcp4-server": `{"Dhcp4": {"reservations": [{"hw-address": "zz:zz", "ip-address": "10.0.0.11"}]}}`,
			}[tc.unit]
			in.SiteOverlay(t, "host", tc.template, broken)
			p := filepath.Join(in.Root, "etc", tc.file)
			sitetest.Write(t, p, "# in service\n")
			_, err := s.ConfigureDHCP(t.Context(), ConfigureOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.program+" "+p+" rejects") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %s's rejection naming %s and %q", err, tc.program, p, tc.want)
			}
			if strings.Contains(err.Error(), os.TempDir()+"/wwctl-configure-") {
				t.Errorf("the message names the temporary file: %v", err)
			}
			if data, _ := os.ReadFile(p); string(data) != "# in service\n" {
				t.Errorf("installed file changed: %q", data)
			}
			if _, err := os.Lstat(p + ".wwbackup"); err == nil {
				t.Error("a backup was made")
			}
			if calls := rec.take(); len(calls) != 0 {
				t.Errorf("ran %q", calls)
			}
		})
	}
}

// TestConfigureDHCPBadInput: unknown servers and ranges outside the
// network are refused, naming them; nothing is written.
func TestConfigureDHCPBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, unit string
		change     func(*config.Config)
		want       string
	}{
		{"unknown server", "isc-kea", func(*config.Config) {}, `dhcp.systemd name "isc-kea" is no DHCP server wwctl configures: use one of dhcpd, isc-dhcp-server, dnsmasq, kea-dhcp4-server, kea-dhcp4, kea`},
		// Reading the file only warns of it, as in Warewulf.
		{"range outside", "dhcpd", func(c *config.Config) { c.Dhcp.RangeStart, c.Dhcp.RangeEnd = "10.0.1.100", "10.0.1.200" },
			"dhcp.range start 10.0.1.100 is outside the network 10.0.0.0/24 (ipaddr 10.0.0.1, netmask 255.255.255.0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sitetest.New(t, "ipaddr: 10.0.0.1\nnetmask: 255.255.255.0\ndhcp:\n  mode: external\n  systemd name: "+tc.unit+"\n")
			rec := &recorder{systemd: true}
			tc.change(in.Config)
			s, err := Open(Options{Config: in.Config, Commands: rec})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.ConfigureDHCP(t.Context(), ConfigureOptions{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			for _, d := range []string{"dhcp", "dnsmasq.d", "kea"} {
				if _, err := os.Stat(filepath.Join(in.Root, "etc", d)); err == nil {
					t.Errorf("etc/%s was written", d)
				}
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// golden compares got with the file at p, or writes it with -update.
func golden(t *testing.T, p, got string) {
	t.Helper()
	if *update {
		sitetest.Write(t, p, got)
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

// TestConfigureTFTP: with tftp.mode external the iPXE binaries of
// tftp.ipxe are copied to <tftproot>/warewulf/<base name> and the TFTP
// service started; a second run copies nothing; embedded mode copies
// nothing and says the daemon serves TFTP.
func TestConfigureTFTP(t *testing.T) {
	in := sitetest.New(t, "ipaddr: 10.0.0.1\nnetmask: 255.255.255.0\ntftp:\n  mode: external\n  systemd name: tftpd-hpa\n")
	// The binaries are the test's own: the default paths.ipxesource is
	// the system's /usr/lib/ipxe, which a test must never write.
	src := filepath.Join(t.TempDir(), "ipxe")
	conf, err := os.ReadFile(in.ConfPath)
	if err != nil {
		t.Fatal(err)
	}
	sitetest.Write(t, in.ConfPath, string(conf)+"  ipxesource: "+src+"\n")
	bins := map[string]string{"undionly.kpxe": "bios", "ipxe-snponly-x86_64.efi": "efi", "arm64-efi/snponly.efi": "arm"}
	for p, content := range bins {
		sitetest.Write(t, filepath.Join(src, p), content)
	}
	rec := &recorder{systemd: true}
	s, err := Open(Options{Config: in.Load(t), Commands: rec})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.ConfigureTFTP(t.Context(), ConfigureOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(in.Config.Tftp.TftpRoot, "warewulf")
	got := map[string]Change{}
	for _, f := range r.Files {
		got[f.Path] = f.Change
	}
	want := map[string]Change{filepath.Join(dir, "undionly.kpxe"): Created, filepath.Join(dir, "ipxe-snponly-x86_64.efi"): Created, filepath.Join(dir, "snponly.efi"): Created}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "snponly.efi")); string(data) != "arm" {
		t.Errorf("snponly.efi holds %q", data)
	}
	if diff := cmp.Diff([]string{"systemctl enable tftpd-hpa", "systemctl restart tftpd-hpa"}, rec.take()); diff != "" {
		t.Errorf("systemctl (-want +got):\n%s", diff)
	}
	r, err = s.ConfigureTFTP(t.Context(), ConfigureOptions{})
	if err != nil || r.Changed() {
		t.Errorf("second run: %+v, %v", r, err)
	}
	if diff := cmp.Diff([]string{"systemctl enable --now tftpd-hpa"}, rec.take()); diff != "" {
		t.Errorf("second run's systemctl (-want +got):\n%s", diff)
	}

	in2 := sitetest.New(t, "")
	s2, err := Open(Options{Config: in2.Load(t), Commands: rec})
	if err != nil {
		t.Fatal(err)
	}
	r, err = s2.ConfigureTFTP(t.Context(), ConfigureOptions{})
	if err != nil || len(r.Files) != 0 || len(r.Notes) != 1 || !strings.HasPrefix(r.Notes[0], "TFTP is served by wwctl server (tftp.mode embedded)") {
		t.Errorf("embedded: %+v, %v", r, err)
	}
	if _, err := os.Stat(in2.Config.Tftp.TftpRoot); err == nil {
		t.Error("embedded mode made the TFTP root")
	}
}

// TestConfigureHostfile: the server's hosts file keeps what is above the
// marker, lists the nodes, keeps the replaced file as hosts.wwbackup, and
// a second run changes nothing; --show only shows.
func TestConfigureHostfile(t *testing.T) {
	in := sitetest.New(t, "")
	in.WriteNodes(t, twoNodes)
	hosts := filepath.Join(in.Root, "etc", "hosts")
	const old = "127.0.0.1 localhost\n# Do not edit after this line\n10.9.9.9 stale\n"
	sitetest.Write(t, hosts, old)
	rec := &recorder{}
	s, err := Open(Options{Config: in.Load(t), Commands: rec})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.ConfigureHostfile(t.Context(), ConfigureOptions{Show: true})
	if err != nil || len(r.Files) != 1 || !strings.Contains(r.Files[0].Diff, "-10.9.9.9 stale\n") || !strings.Contains(r.Files[0].Diff, "+10.0.0.12 n2 n2-default n2-eth0\n") {
		t.Fatalf("show: %+v, %v", r, err)
	}
	if data, _ := os.ReadFile(hosts); string(data) != old {
		t.Fatalf("show wrote %q", data)
	}
	r, err = s.ConfigureHostfile(t.Context(), ConfigureOptions{})
	if err != nil || r.Files[0].Change != Updated || r.Files[0].Backup != hosts+".wwbackup" {
		t.Fatalf("%+v, %v", r, err)
	}
	data, _ := os.ReadFile(hosts)
	if !strings.HasPrefix(string(data), "127.0.0.1 localhost\n# Do not edit after this line\n") || strings.Contains(string(data), "stale") ||
		!strings.Contains(string(data), "10.0.0.112 n2-ib n2-ib0\n") {
		t.Errorf("hosts:\n%s", data)
	}
	if b, _ := os.ReadFile(hosts + ".wwbackup"); string(b) != old {
		t.Errorf("backup %q", b)
	}
	r, err = s.ConfigureHostfile(t.Context(), ConfigureOptions{})
	if err != nil || r.Changed() {
		t.Errorf("second run: %+v, %v", r, err)
	}
}

// TestConfigureWarewulfd: systemctl enable --now of the daemon's unit,
// or, without systemd, the command to run.
func TestConfigureWarewulfd(t *testing.T) {
	in := sitetest.New(t, "")
	for _, systemd := range []bool{true, false} {
		rec := &recorder{systemd: systemd}
		s, err := Open(Options{Config: in.Load(t), Commands: rec})
		if err != nil {
			t.Fatal(err)
		}
		r, err := s.ConfigureWarewulfd(t.Context(), ConfigureOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want, notes := []string{"systemctl enable --now warewulfd"}, []string{"Ran systemctl enable --now warewulfd"}
		if !systemd {
			want, notes = nil, []string{"systemd is not running here: run systemctl enable --now warewulfd where it runs"}
		}
		if diff := cmp.Diff(want, rec.take()); diff != "" {
			t.Errorf("systemd %v: systemctl (-want +got):\n%s", systemd, diff)
		}
		if diff := cmp.Diff(notes, r.Notes); diff != "" {
			t.Errorf("systemd %v: notes (-want +got):\n%s", systemd, diff)
		}
	}
}

// TestConfigureTFTPGrub: with warewulf.grubboot the shim and GRUB are
// copied where the DHCP configurations name them, with the grub.cfg GRUB
// reads first; a loader missing for this server's architecture is an
// error naming it.
func TestConfigureTFTPGrub(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the loaders of this test are x86-64's")
	}
	loaders := t.TempDir()
	sitetest.Write(t, filepath.Join(loaders, "shimx64.efi.signed"), "shim")
	sitetest.Write(t, filepath.Join(loaders, "grubnetx64.efi.signed"), "grub")
	tests := []struct {
		name    string
		grub    string // tftp.grub's 00:07
		want    map[string]string
		wantErr string
	}{
		{name: "found", grub: filepath.Join(loaders, "grubnetx64.efi.signed"),
			want: map[string]string{"warewulf/shim.efi": "shim", "warewulf/grubx64.efi": "grub",
				"warewulf/grub.cfg": `configfile "(http,10.0.0.1:9873)/grub/${net_default_mac}?assetkey=${assetkey}"`,
				"grub/grub.cfg":     `configfile "(http,10.0.0.1:9873)/grub/${net_default_mac}?assetkey=${assetkey}"`}},
		{name: "missing", grub: filepath.Join(loaders, "nothing.efi"),
			wantErr: "warewulf.grubboot: no signed loader for tftp.grub.00:07 (" + filepath.Join(loaders, "nothing.efi") + ")"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := sitetest.New(t, "ipaddr: 10.0.0.1\nnetmask: 255.255.255.0\nwarewulf:\n  port: 9873\n  grubboot: true\n"+
				"tftp:\n  mode: external\n  ipxe:\n    \"00:00\": /nonexistent/undionly.kpxe\n"+
				"  shim:\n    \"00:07\": "+filepath.Join(loaders, "shimx64.efi.signed")+"\n    \"00:0B\": shimaa64.efi\n"+
				"  grub:\n    \"00:07\": "+tc.grub+"\n")
			s, err := Open(Options{Config: in.Load(t), Commands: &recorder{systemd: true}})
			if err != nil {
				t.Fatal(err)
			}
			r, err := s.ConfigureTFTP(t.Context(), ConfigureOptions{})
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %s...", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(r.Notes, func(n string) bool { return strings.Contains(n, "tftp.shim.00:0B (shimaa64.efi) is not installed") }) {
				t.Errorf("no note about arm64's shim: %q", r.Notes)
			}
			for name, want := range tc.want {
				data, err := os.ReadFile(filepath.Join(in.Config.Tftp.TftpRoot, name))
				if err != nil || !strings.Contains(string(data), want) {
					t.Errorf("%s: %v, want %q in %q", name, err, want, data)
				}
			}
		})
	}
}
