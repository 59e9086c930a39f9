package provision

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

const grubNodes = fixtureNodes + `  n6:
    profiles: [default]
    tags: {GrubMenuEntry: twostage}
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:06"}
`

// TestGrubRoute renders the built-in GRUB template per node: the menu
// entry from tag GrubMenuEntry, linux and initrd over HTTP from this
// server, compressed or not, and the GRUB stage in the node's status.
func TestGrubRoute(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		via      string // the X-Wwboot-Via header: "tftp" when the TFTP server passes it on
		tls      bool
		want     []string // in the script
		wantNot  []string
		node     string // whose status must be GRUB, "" for none
		wantSent string
	}{
		{name: "single-stage by default", path: "/grub/aa:bb:cc:dd:ee:01?assetkey=",
			want: []string{"set default=single-stage", `set base="(http,10.0.0.254:9873)"`,
				`set kernel="${base}/kernel/${net_default_mac}?${params}"`, "linux $kernel wwid=${net_default_mac} quiet crashkernel=no",
				`"${base}/image/${net_default_mac}?${params}&compress=gz"`, `"${base}/runtime/${net_default_mac}?${params}&compress=gz"`,
				`"${base}/image/${net_default_mac}?${params}" "${base}/system/${net_default_mac}?${params}"`,
				"--id single-stage-nocompress", "--id twostage", "--id dracut", "Image:          rocky", "Kernel:         6.1.0-1-amd64",
				"if [ $? != 0 ]; then"},
			node: "n1", wantSent: "grub.cfg.ww"},
		{name: "asked by TFTP: everything by TFTP", path: "/grub/aa:bb:cc:dd:ee:01?assetkey=", via: "tftp",
			want:    []string{`set base="(tftp,10.0.0.254)"`, `set kernel="${base}/kernel/${net_default_mac}?${params}"`},
			wantNot: []string{"(http,"}, node: "n1", wantSent: "grub.cfg.ww"},
		{name: "tag GrubMenuEntry", path: "/grub/aa-bb-cc-dd-ee-06",
			want: []string{"set default=twostage", "rdinit=/init wwid=${net_default_mac} wwserver=http://10.0.0.254:9873", "wwroot=initramfs"},
			node: "n6", wantSent: "grub.cfg.ww"},
		{name: "TLS: the runtime overlay is left to wwclient", path: "/grub/aa:bb:cc:dd:ee:01", tls: true,
			want: []string{"HTTPS only"}, wantNot: []string{"/runtime/"}, node: "n1", wantSent: "grub.cfg.ww"},
		{name: "unknown node: told, and restarted", path: "/grub/aa:bb:cc:dd:ee:99",
			want: []string{"echo 'wwboot: no node has hardware address aa:bb:cc:dd:ee:99", "sleep 30", "reboot"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, body := grubScript(t, tc.tls, tc.path, tc.via)
			if miss := contains(body, tc.want...); miss != "" {
				t.Errorf("script lacks %q:\n%s", miss, body)
			}
			for _, no := range tc.wantNot {
				if strings.Contains(body, no) {
					t.Errorf("script has %q:\n%s", no, body)
				}
			}
			if tc.node != "" {
				st := s.Status()[tc.node]
				if diff := cmp.Diff([]string{"GRUB", tc.wantSent}, []string{st.Stage, st.Sent}); diff != "" {
					t.Errorf("status (-want +got):\n%s", diff)
				}
			}
		})
	}
}

// TestGrubAssetKey: the built-in template reads the asset key only when
// the firmware has a chassis asset tag (field 8 of SMBIOS type 3 is the
// number of its string, 0 when there is none, as on AAVMF, where an
// unguarded read printed "error: failed to retrieve the structure
// field." on every arm64 node's console), and GRUB's own checker
// (grub-script-check, when installed) accepts what it renders.
func TestGrubAssetKey(t *testing.T) {
	tests := []struct {
		name, path, via string
	}{
		{name: "by HTTP", path: "/grub/aa:bb:cc:dd:ee:01"},
		{name: "by TFTP", path: "/grub/aa:bb:cc:dd:ee:01", via: "tftp"},
		{name: "two-stage entry", path: "/grub/aa:bb:cc:dd:ee:06"},
	}
	const read = `set assetkey=""
set assettag=0
smbios --type 3 --get-byte 8 --set assettag
if [ "${assettag}" != 0 ]; then
    smbios --type 3 --get-string 8 --set assetkey
fi
`
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, body := grubScript(t, false, tc.path, tc.via)
			if !strings.Contains(body, read) {
				t.Errorf("the script does not read the asset key as\n%s\nit is:\n%s", read, body)
			}
			for _, l := range strings.Split(body, "\n") {
				if strings.HasPrefix(l, "smbios") && strings.Contains(l, "--get-string") {
					t.Errorf("unguarded asset tag string read: %s", l)
				}
			}
			check, err := exec.LookPath("grub-script-check")
			if err != nil {
				t.Log("grub-script-check is not installed: GRUB's syntax not checked")
				return
			}
			cfg := filepath.Join(t.TempDir(), "grub.cfg")
			if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command(check, cfg).CombinedOutput(); err != nil {
				t.Errorf("grub-script-check: %v: %s", err, out)
			}
		})
	}
}

// TestGrubSiteTemplate: the site's grub.cfg.ww replaces the built-in one,
// and one that does not parse or render tells the node why and restarts
// it, with the error in the log.
func TestGrubSiteTemplate(t *testing.T) {
	tests := []struct {
		name, template string
		want           []string
		wantSent       string
	}{
		{name: "the iPXE templates' data and functions", template: `{{.Id}} {{upper .ImageName}} {{.Tags.GrubMenuEntry}} {{default "tmpfs" .Root}} {{.Authority}} {{.Hwaddr}}`,
			want: []string{"n6 ROCKY twostage tmpfs 10.0.0.254:9873 aa:bb:cc:dd:ee:06"}, wantSent: "grub.cfg.ww"},
		{name: "does not parse", template: "{{if .Id}}",
			want: []string{"echo 'wwboot: the GRUB template does not load: site grub.cfg.ww:", "sleep 30", "reboot"}, wantSent: "BAD_REQUEST"},
		{name: "does not render", template: `{{fail "no such method"}}`,
			want: []string{"echo 'wwboot: the GRUB template does not render for node n6:", "no such method", "reboot"}, wantSent: "BAD_REQUEST"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, grubNodes, false)
			f.cfg.Ipaddr = "10.0.0.254"
			dir := filepath.Join(f.root, "etc/warewulf/grub")
			sitetest.Write(t, filepath.Join(dir, GrubTemplate), tc.template)
			f.opts.GrubTemplates = os.DirFS(dir)
			s := f.server(t)
			w := get(s.Handler(), "/grub/aa:bb:cc:dd:ee:06", priv, nil)
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if miss := contains(w.Body.String(), tc.want...); miss != "" {
				t.Errorf("script lacks %q:\n%s", miss, w.Body)
			}
			if got := s.Status()["n6"]; got.Stage != "GRUB" || got.Sent != tc.wantSent {
				t.Errorf("status %s %s, want GRUB %s", got.Stage, got.Sent, tc.wantSent)
			}
		})
	}
}

// TestEFIBootGrub: UEFI HTTP boot gets shim and GRUB, the image's when
// it has both, else this server's, and grub.cfg rendered for this
// server, which loads the node's /grub/ configuration.
func TestEFIBootGrub(t *testing.T) {
	f := newFixture(t, grubNodes, false)
	f.cfg.Ipaddr = "10.0.0.254"
	host := filepath.Join(f.root, "host")
	sitetest.Write(t, filepath.Join(host, "shim"), "host shim")
	sitetest.Write(t, filepath.Join(host, "grub"), "host grub")
	f.opts.EFIBoot = map[string]string{"shim.efi": filepath.Join(host, "shim"), "grubx64.efi": filepath.Join(host, "grub")}
	rocky := f.opts.Images.RootFS("rocky")
	sitetest.Write(t, filepath.Join(rocky, "usr/lib/shim/shimx64.efi.signed"), "rocky shim")
	sitetest.Write(t, filepath.Join(rocky, "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"), "rocky grub")
	sitetest.Write(t, filepath.Join(f.opts.Images.RootFS("gzonly"), "usr/lib/shim/shimx64.efi.signed"), "gzonly shim without grub")
	s := f.server(t)
	tests := []struct {
		name, path string
		code       int
		want       string
	}{
		{"host shim for an unknown client", "/efiboot/shim.efi", 200, "host shim"},
		{"host grub for an unknown client", "/efiboot/grubx64.efi", 200, "host grub"},
		{"the image's shim", "/efiboot/shim.efi?wwid=aa:bb:cc:dd:ee:01", 200, "rocky shim"},
		{"the image's grub", "/efiboot/grubx64.efi?wwid=aa:bb:cc:dd:ee:01", 200, "rocky grub"},
		{"an image with shim only: the host's pair", "/efiboot/shim.efi?wwid=aa:bb:cc:dd:ee:03", 200, "host shim"},
		{"no such loader", "/efiboot/grubaa64.efi", 404, "no boot loader \"grubaa64.efi\" here\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := get(s.Handler(), tc.path, priv, nil)
			if diff := cmp.Diff([]any{tc.code, tc.want}, []any{w.Code, w.Body.String()}); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for _, p := range []string{"/efiboot/grub.cfg?wwid=aa:bb:cc:dd:ee:01", "/grub/grub.cfg"} {
		w := get(s.Handler(), p, priv, nil)
		want := `configfile "(http,10.0.0.254:9873)/grub/${net_default_mac}?assetkey=${assetkey}"`
		if w.Code != 200 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("%s: %d, want %s in:\n%s", p, w.Code, want, w.Body)
		}
	}
	if st := s.Status()["n1"]; st.Stage != "EFI" || st.Sent != "grub.cfg" {
		t.Errorf("n1 status %s %s, want EFI grub.cfg", st.Stage, st.Sent)
	}
}

// grubScript is what the daemon of a grubNodes fixture (ipaddr
// 10.0.0.254, TLS as tls) answers a privileged GET of path with, via
// naming the transport in X-Wwboot-Via ("" for none), and the daemon;
// not 200 fails.
func grubScript(t *testing.T, tls bool, path, via string) (*Server, string) {
	t.Helper()
	f := newFixture(t, grubNodes, false)
	f.cfg.Ipaddr = "10.0.0.254"
	f.cfg.Warewulf.TLS = tls
	var h http.Header
	if via != "" {
		h = http.Header{"X-Wwboot-Via": {via}}
	}
	s := f.server(t)
	w := get(s.Handler(), path, priv, h)
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	return s, w.Body.String()
}
