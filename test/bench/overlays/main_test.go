package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wwboot/wwboot/internal/inventory"
)

// The generated nodes.conf must be one wwctl accepts: every hardware and
// IP address unique, the overlays and network devices where they belong.
func TestWriteNodesConfValid(t *testing.T) {
	const n = 600 // crosses a byte boundary in the addresses
	system, rtime := defaultOverlays()
	inv, err := inventory.Parse(nodesConf(n, system, rtime), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(inv.Nodes); got != n {
		t.Errorf("parsed %d nodes, want %d", got, n)
	}
	if p, ok := inv.Profiles["default"]; !ok {
		t.Error("no default profile")
	} else if !slices.Equal(p.SystemOverlay, system) || !slices.Equal(p.RuntimeOverlay, rtime) {
		t.Errorf("default profile overlays %v / %v, want %v / %v", p.SystemOverlay, p.RuntimeOverlay, system, rtime)
	}
	for _, p := range inv.Validate() {
		t.Errorf("problem: %s", p)
	}
	// An empty list must still parse.
	if _, err := inventory.Parse(nodesConf(1, system, nil), "nodes.conf"); err != nil {
		t.Errorf("empty runtime overlay list: %v", err)
	}
}

func TestEndsIn7(t *testing.T) {
	for _, n := range []int{1, 6, 7, 8, 16, 17, 100, 1000, 1007, 10000} {
		want := 0
		for i := 1; i <= n; i++ {
			if strings.HasSuffix(fmt.Sprintf("n%05d", i), "7") {
				want++
			}
		}
		if got := endsIn7(n); got != want {
			t.Errorf("endsIn7(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestParseSummary(t *testing.T) {
	out := "some log line\nOverlay images: 12 built, 34 unchanged, 0 failed (1.5s)\n\n"
	s, err := parseSummary(out)
	if err != nil || s != (summary{12, 34, 0}) {
		t.Errorf("parseSummary = %+v, %v; want {12 34 0}", s, err)
	}
	for _, bad := range []string{"", "Overlay images: 12 built\n", "Overlay images: 1 built, 2 unchanged, 0 failed\nmore\n"} {
		if _, err := parseSummary(bad); err == nil {
			t.Errorf("parseSummary(%q): no error", bad)
		}
	}
}

func TestListedNames(t *testing.T) {
	out := "OVERLAY NAME  FILES/DIRS  SITE\n------------  ----------  ----\nNetworkManager  10  false\nissue  2  true\n"
	if got, want := listedNames(out), []string{"NetworkManager", "issue"}; !slices.Equal(got, want) {
		t.Errorf("listedNames = %v, want %v", got, want)
	}
}

func TestExisting(t *testing.T) {
	system, rtime := defaultOverlays()
	all := append(slices.Clone(system), rtime...)
	if s, r, m := existing(all); !slices.Equal(s, system) || !slices.Equal(r, rtime) || len(m) != 0 {
		t.Errorf("existing(all) = %v, %v, %v", s, r, m)
	}
	have := slices.DeleteFunc(slices.Clone(all), func(n string) bool { return n == "debug" || n == "hosts" })
	s, r, m := existing(have)
	if slices.Contains(s, "debug") || slices.Contains(r, "hosts") || !slices.Equal(m, []string{"debug", "hosts"}) ||
		len(s) != len(system)-1 || len(r) != len(rtime)-1 {
		t.Errorf("existing without debug, hosts = %v, %v, missing %v", s, r, m)
	}
}
