package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiscover(t *testing.T) {
	const hw = "02:00:00:00:00:01"
	yes := "true"
	mac := func(s string) *string { return &s }
	tests := []struct {
		name string
		inv  *Inventory
		want string
		// dev is where hw must land on the chosen node.
		dev string
	}{
		{name: "nothing discoverable", inv: &Inventory{Nodes: map[string]*Node{"n1": {}}}},
		{name: "the address is already a node's", want: "n2",
			inv: &Inventory{Nodes: map[string]*Node{
				"n1": {Discoverable: &yes},
				"n2": {Profile: Profile{NetDevs: map[string]*NetDev{"eth0": {Hwaddr: mac("02:00:00:00:00:01")}}}},
			}}, dev: "eth0"},
		{name: "cluster first, then names with numbers by value", want: "b2", dev: "default",
			inv: &Inventory{Nodes: map[string]*Node{
				"b10": {Discoverable: &yes, Profile: Profile{ClusterName: mac("a")}},
				"b2":  {Discoverable: &yes, Profile: Profile{ClusterName: mac("a")}},
				"a1":  {Discoverable: &yes, Profile: Profile{ClusterName: mac("b")}},
			}}},
		{name: "primary network device", want: "n1", dev: "ib",
			inv: &Inventory{Nodes: map[string]*Node{
				"n1": {Discoverable: &yes, Profile: Profile{PrimaryNetDev: mac("ib"),
					NetDevs: map[string]*NetDev{"eth": {}, "ib": {}}}},
			}}},
		{name: "a primary naming no device of the node is not used", want: "n1", dev: "eth",
			inv: &Inventory{Nodes: map[string]*Node{
				"n1": {Discoverable: &yes, Profile: Profile{PrimaryNetDev: mac("net3"),
					NetDevs: map[string]*NetDev{"lan": {}, "eth": {}}}},
			}}},
		{name: "a node without devices gets its primary's", want: "n1", dev: "net3",
			inv: &Inventory{Nodes: map[string]*Node{
				"n1": {Discoverable: &yes, Profile: Profile{PrimaryNetDev: mac("net3")}},
			}}},
		{name: "first network device by name without a primary", want: "n1", dev: "eth",
			inv: &Inventory{Nodes: map[string]*Node{
				"n1": {Discoverable: &yes, Profile: Profile{NetDevs: map[string]*NetDev{"lan": {}, "eth": {}}}},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.inv.Profiles == nil {
				tc.inv.Profiles = map[string]*Profile{}
			}
			got := tc.inv.Discover(hw)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("chosen (-want +got):\n%s", diff)
			}
			if got == "" {
				return
			}
			n := tc.inv.Nodes[got]
			if d := n.NetDevs[tc.dev]; d == nil || d.Hwaddr == nil || *d.Hwaddr != hw {
				t.Errorf("hwaddr not on network device %q: %+v", tc.dev, n.NetDevs)
			}
			if tc.want != "n2" && n.Discoverable != nil {
				t.Errorf("node still says discoverable %q", *n.Discoverable)
			}
		})
	}
}
