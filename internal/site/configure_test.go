package site

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

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
		name, unit, extra, want string
	}{
		{"unknown server", "isc-kea", "", `dhcp.systemd name "isc-kea" is no DHCP server wwctl configures: use one of dhcpd, isc-dhcp-server, dnsmasq, kea-dhcp4-server, kea-dhcp4, kea`},
		{"range outside", "dhcpd", "  range start: 10.0.1.100\n  range end: 10.0.1.200\n", "dhcp.range start 10.0.1.100 is outside the network 10.0.0.0/24 (ipaddr 10.0.0.1, netmask 255.255.255.0)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := sitetest.New(t, "ipaddr: 10.0.0.1\nnetmask: 255.255.255.0\ndhcp:\n  mode: external\n  systemd name: "+tc.unit+"\n"+tc.extra)
			rec := &recorder{systemd: true}
			s, err := Open(Options{Config: in.Load(t), Commands: rec})
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
