package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A tftp.ipxe map in the file replaces the default map whole, and an
// empty one leaves the defaults, as Warewulf 4.7 reads it.
func TestIpxeMapReplacesDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		file []byte
		want map[string]string
	}{
		{"one key", text("tftp:", "  ipxe:", `    "00:00": my.kpxe`), map[string]string{"00:00": "my.kpxe"}},
		{"empty map", text("tftp:", "  ipxe: {}"), defaultIpxe()},
		{"no key", text("tftp:", "  enabled: true"), defaultIpxe()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := mustParse(t, tc.file)
			if diff := cmp.Diff(tc.want, c.Tftp.IpxeBinaries); diff != "" {
				t.Errorf("tftp.ipxe (-want +got):\n%s", diff)
			}
		})
	}
}
