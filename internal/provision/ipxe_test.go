package provision

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wwboot/wwboot/internal/testkit/sitetest"

	"github.com/google/go-cmp/cmp"
)

// TestIpxeTemplatesAsWarewulf renders site iPXE templates written the way
// Warewulf 4.6 and 4.7 install theirs: Sprig functions (default, upper),
// Ipaddr6, and network devices whose unset fields are "" (false in if),
// as in Warewulf's own iPXE test.
func TestIpxeTemplatesAsWarewulf(t *testing.T) {
	nodes := fixtureNodes + `  n9:
    profiles: [default]
    ipxe template: site
    network devices:
      default: {hwaddr: "aa:bb:cc:dd:ee:09", device: eth0}
      ib: {hwaddr: "aa:bb:cc:dd:ee:19"}
`
	tests := []struct {
		name, template, ipaddr6, want string
	}{
		{name: "Sprig's default, as Warewulf's default.ipxe uses it",
			template: `root=wwinit:{{default "tmpfs" .Root}} {{upper .Id}}`,
			want:     "root=wwinit:tmpfs N9"},
		{name: "devices with a hardware address and a name, unset fields empty",
			template: `{{range $n, $d := .NetDevs}}{{if and $d.Hwaddr $d.Device}} ifname={{$d.Device}}:{{$d.Hwaddr}}{{end}}{{end}}`,
			want:     " ifname=eth0:aa:bb:cc:dd:ee:09"},
		{name: "Ipaddr6 without its prefix", ipaddr6: "fd00:10::1/64",
			template: `{{.Ipaddr}} {{.Ipaddr6}} {{.Authority}}`,
			want:     "10.0.0.254 fd00:10::1 10.0.0.254:9873"},
		{name: "Warewulf's always-empty fields", template: `[{{.Message}}][{{.WaitTime}}]`, want: "[][]"},
		{name: "Warewulf's own functions", template: `{{inc 1}} {{basename "/a/b"}}`, want: "2 b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nodes, false)
			f.cfg.Ipaddr6 = tc.ipaddr6
			dir := filepath.Join(f.root, "etc/warewulf/ipxe")
			sitetest.Write(t, filepath.Join(dir, "site.ipxe"), tc.template)
			f.opts.Templates = os.DirFS(dir)
			w := get(f.server(t).Handler(), "/ipxe/aa:bb:cc:dd:ee:09", priv, nil)
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			if diff := cmp.Diff(tc.want, w.Body.String()); diff != "" {
				t.Errorf("rendered (-want +got):\n%s", diff)
			}
		})
	}
}
