package daemon

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sync/errgroup"

	"github.com/wwboot/wwboot/internal/config"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
	"github.com/wwboot/wwboot/internal/testkit/nettest"
)

// noNodes is an empty inventory.
type noNodes struct{}

func (noNodes) NodeByMAC(string) (*inventory.NodeView, bool) { return nil, false }
func (noNodes) Nodes() map[string]*inventory.NodeView        { return nil }
func (noNodes) RecordStage(_, _, _, _ string, _ int64)       {}

// metricsNodes is noNodes that takes metrics like the provisioning
// server.
type metricsNodes struct {
	noNodes
	writes []func(io.Writer)
}

func (m *metricsNodes) AddMetrics(write func(io.Writer)) { m.writes = append(m.writes, write) }

func netbootApp(cfg *config.Config, stderr *bytes.Buffer) *netboot {
	log := slog.New(slog.DiscardHandler)
	st, err := site.Open(site.Options{Config: cfg, Log: log})
	if err != nil {
		panic(err) // only a nil configuration fails
	}
	return &netboot{cfg: cfg, site: st, log: log, stderr: stderr}
}

func netbootConfig(t *testing.T, mutate func(c *config.Config)) *config.Config {
	c := config.Default()
	c.Paths.Localstatedir = t.TempDir()
	c.Tftp.TftpRoot = filepath.Join(c.Paths.Localstatedir, "tftpboot")
	mutate(c)
	return c
}

func TestNetbootConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   string
	}{
		{"interface does not exist", func(c *config.Config) { c.Dhcp.Interface = "nosuch0" },
			`dhcp.interface "nosuch0": route ip+net: no such network interface`},
		{"no interface and no ipaddr", func(c *config.Config) {},
			"dhcp: set dhcp.interface or ipaddr in warewulf.conf to choose the interface to serve, or dhcp.mode: external to serve no DHCP"},
		{"no interface holds ipaddr", func(c *config.Config) { c.Ipaddr = "192.0.2.254" },
			"dhcp: no interface holds ipaddr 192.0.2.254; set dhcp.interface"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			a := netbootApp(netbootConfig(t, tc.mutate), &stderr)
			g, ctx := errgroup.WithContext(t.Context())
			err := a.start(ctx, g, noNodes{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
			if stderr.Len() != 0 {
				t.Errorf("reported %q, want nothing started", stderr.String())
			}
		})
	}
}

func TestNetbootDisabled(t *testing.T) {
	var stderr bytes.Buffer
	a := netbootApp(netbootConfig(t, func(c *config.Config) {
		c.Dhcp.Mode, c.Tftp.Mode = config.ModeExternal, config.ModeExternal
		c.Dhcp.Interface = "nosuch0" // not looked at
	}), &stderr)
	g, ctx := errgroup.WithContext(t.Context())
	if err := a.start(ctx, g, noNodes{}); err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(); err != nil || stderr.Len() != 0 {
		t.Errorf("external modes: err %v, reported %q; want nothing", err, stderr.String())
	}
}

// TestNetbootListeners starts both servers in a namespace, then checks
// that a second start finds the ports taken.
func TestNetbootListeners(t *testing.T) {
	nettest.Run(t, func(t *testing.T, p nettest.Pair) {
		cfg := netbootConfig(t, func(c *config.Config) {
			c.Ipaddr = p.ServerIP.Addr().String()
			c.Dhcp.RangeStart, c.Dhcp.RangeEnd = "10.213.0.100", "10.213.0.110"
		})
		var stderr bytes.Buffer
		ctx, cancel := context.WithCancel(t.Context())
		g, gctx := errgroup.WithContext(ctx)
		nodes := &metricsNodes{}
		if err := netbootApp(cfg, &stderr).start(gctx, g, nodes); err != nil {
			t.Fatal(err)
		}
		var metrics strings.Builder
		for _, write := range nodes.writes {
			write(&metrics)
		}
		for _, line := range []string{"wwboot_dhcp_pool_exhausted_total 0", "wwboot_dhcp_requests_refused_total 0",
			"wwboot_tftp_requests_refused_total 0", "wwboot_tftp_transfers_evicted_total 0"} {
			if !strings.Contains(metrics.String(), line+"\n") {
				t.Errorf("metrics lack %q:\n%s", line, metrics.String())
			}
		}
		want := "wwctl server: DHCP (embedded) listening on udp 10.213.0.1:67 on srv0 (network 10.213.0.0/24)\n" +
			"wwctl server: TFTP listening on udp 10.213.0.1:69 (root " + cfg.Tftp.TftpRoot + ")\n"
		if stderr.String() != want {
			t.Errorf("reported\n%s\nwant\n%s", stderr.String(), want)
		}

		tests := []struct {
			name   string
			mutate func(c *config.Config)
			want   string
		}{
			{"DHCP port taken", func(c *config.Config) { c.Tftp.Mode = config.ModeExternal },
				"dhcp: udp port 67 on srv0 is already in use (another DHCP server? set dhcp.mode to proxy or external): address already in use"},
			{"TFTP port taken", func(c *config.Config) { c.Dhcp.Mode = config.ModeExternal },
				"tftp: udp 10.213.0.1:69 is already in use (another TFTP server? set tftp.mode to external): listen udp4 10.213.0.1:69: bind: address already in use"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				second := *cfg
				tc.mutate(&second)
				var stderr2 bytes.Buffer
				g2, ctx2 := errgroup.WithContext(t.Context())
				err := netbootApp(&second, &stderr2).start(ctx2, g2, noNodes{})
				if err == nil || err.Error() != tc.want {
					t.Errorf("error %v, want %q", err, tc.want)
				}
			})
		}
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("servers: %v", err)
		}
		// The ports are free again once the servers stopped.
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: p.ServerIP.Addr().AsSlice(), Port: 69})
		if err != nil {
			t.Errorf("TFTP port after stop: %v", err)
		} else {
			c.Close()
		}
		if !strings.Contains(stderr.String(), "DHCP") {
			t.Error("DHCP was not reported")
		}
	})
}

// A Debian amd64 server has no arm64 iPXE build: that is information,
// not a warning; a missing build for its own architecture is a warning.
// Each says where it looked, each directory once.
func TestReportMissingIpxe(t *testing.T) {
	own, other := "undionly.kpxe", "arm64-efi/snponly.efi"
	if runtime.GOARCH == "arm64" {
		own, other = other, own
	}
	tests := []struct {
		name    string
		missing []string
		want    []string
	}{
		{"all found", nil, nil},
		{"another architecture only", []string{other},
			[]string{`level=INFO msg="no iPXE binaries for other architectures: nodes that need them cannot boot from TFTP (set paths.ipxesource or tftp.ipxe to provide them)" missing=` + other + ` searched=/usr/lib/ipxe,/usr/share/ipxe`}},
		{"this architecture", []string{own, "custom.efi"},
			[]string{`level=WARN msg="iPXE binaries not found; install the ipxe package or set paths.ipxesource" missing=` + own + `,custom.efi searched=/usr/lib/ipxe,/usr/share/ipxe`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := &netboot{log: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{
				ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}}))}
			a.reportMissingIpxe(tc.missing, "/usr/lib/ipxe")
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if l != "" {
					got = append(got, l)
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("logged (-want +got):\n%s", diff)
			}
		})
	}
}

func TestListenHost(t *testing.T) {
	for _, tc := range []struct{ name, addr, want string }{
		{"every address", ":9873", ""},
		{"unspecified IPv4", "0.0.0.0:9873", ""},
		{"unspecified IPv6", "[::]:9873", ""},
		{"one address", "203.0.113.1:9873", "203.0.113.1"},
		{"IPv4-mapped", "[::ffff:203.0.113.1]:9873", "203.0.113.1"},
		{"a host name is every address to DHCP", "localhost:9873", ""},
		{"no port", "203.0.113.1", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			if a := listenHost(tc.addr); a.IsValid() {
				got = a.String()
			}
			if got != tc.want {
				t.Errorf("listenHost(%q) = %q, want %q", tc.addr, got, tc.want)
			}
		})
	}
}
