package overlay

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/config"
)

// TestServerIPv6 is Warewulf's rule for templates' .Ipv6: on only with
// an address and a prefix length (prefixlen6, or ipaddr6 in CIDR form).
func TestServerIPv6(t *testing.T) {
	type six struct {
		Ipv6                                   bool
		Ipaddr6, PrefixLen6, IpCIDR6, Network6 string
	}
	tests := []struct {
		name   string
		addr   string
		prefix int
		want   six
	}{
		{name: "none", want: six{}},
		{name: "address without a prefix length", addr: "fd00:10::1", want: six{Ipaddr6: "fd00:10::1"}},
		{name: "address and prefixlen6", addr: "fd00:10::1", prefix: 64,
			want: six{Ipv6: true, Ipaddr6: "fd00:10::1", PrefixLen6: "64", IpCIDR6: "fd00:10::1/64", Network6: "fd00:10::"}},
		{name: "CIDR", addr: "fd00:10::1/48",
			want: six{Ipv6: true, Ipaddr6: "fd00:10::1/48", PrefixLen6: "48", IpCIDR6: "fd00:10::1/48", Network6: "fd00:10::"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := configView(&config.Config{Ipaddr6: tt.addr, Prefixlen6: tt.prefix})
			got := six{Ipv6: d.Ipv6, Ipaddr6: d.Ipaddr6, PrefixLen6: d.PrefixLen6, IpCIDR6: d.IpCIDR6, Network6: d.Network6}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
