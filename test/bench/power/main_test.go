package main

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/inventory"
	"github.com/wwboot/wwboot/internal/site"
)

// The fake BMCs must be ones wwctl's IPMI driver talks to over real
// sockets: chassis on with the right password, a refusal (not a
// timeout) with a wrong one; and they stop when their input ends.
func TestFakeBMCsAnswerTheDriver(t *testing.T) {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	served := make(chan error, 1)
	go func() { served <- serveBMCs(t.Context(), 2, inR, outW) }()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	f := strings.Fields(line)
	if len(f) != 3 || f[0] != "ports" {
		t.Fatalf("first line %q, want ports and two numbers", line)
	}
	tests := []struct {
		name, port, password string
		want                 bmc.PowerState
		wantErr              error
	}{
		{"first BMC", f[1], bmcPassword, bmc.PowerOn, nil},
		{"second BMC", f[2], bmcPassword, bmc.PowerOn, nil},
		{"wrong password", f[2], "wrong", "", bmc.ErrAuth},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := bmc.New(bmc.Target{Node: "n1", Ipaddr: "127.0.0.1", Port: tc.port, UserName: bmcUser, Password: tc.password}, bmc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := d.PowerStatus(t.Context())
			if got != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("PowerStatus = %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
	inW.Close()
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("serveBMCs: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serveBMCs still running 10 s after its input ended")
	}
}

// nodesConf is a nodes.conf wwctl accepts, each node's BMC the port of
// its rank, the profile's user and password, but the bad node's
// password.
func TestNodesConf(t *testing.T) {
	ports := []int{7001, 7002, 7003}
	inv, err := inventory.Parse(nodesConf(ports, 2), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range inv.Validate() {
		t.Errorf("problem: %s", p)
	}
	ms, err := inv.MergeNodes(inv.NodeNames(), false)
	if err != nil {
		t.Fatal(err)
	}
	var got []bmc.Target
	for _, m := range ms {
		got = append(got, site.BMCTarget(m))
	}
	var want []bmc.Target
	for i, p := range ports {
		pw := bmcPassword
		if i == 1 {
			pw = "wrong"
		}
		want = append(want, bmc.Target{Node: nodeName(i + 1), Ipaddr: "127.0.0.1", Port: strconv.Itoa(p),
			UserName: bmcUser, Password: pw, Interface: "lanplus"})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
}

func TestRefSample(t *testing.T) {
	tests := []struct {
		name        string
		nodes, refs int
		want        []int
	}{
		{"all", 4, 4, []int{1, 2, 3, 4}},
		{"a quarter", 8, 2, []int{1, 5}},
		{"uneven", 10, 3, []int{1, 4, 7}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &bench{o: options{nodes: tc.nodes, refNodes: tc.refs}}
			if diff := cmp.Diff(tc.want, b.refSample()); diff != "" {
				t.Errorf("sample (-want +got):\n%s", diff)
			}
		})
	}
}
