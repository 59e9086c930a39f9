package main

import (
	"bufio"
	"bytes"
	"testing"
	"time"

	"github.com/wwboot/wwboot/test/bench/harness"

	"github.com/wwboot/wwboot/internal/inventory"
)

// The generated nodes.conf must be one wwctl accepts and writes back: in
// particular every hardware and IP address unique, or "node set" refuses.
func TestWriteNodesConfValid(t *testing.T) {
	const n = 600 // crosses a byte boundary in the addresses
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	writeNodesConf(w, n)
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Parse(buf.Bytes(), "nodes.conf")
	if err != nil {
		t.Fatal(err)
	}
	if got := len(inv.Nodes); got != n {
		t.Errorf("parsed %d nodes, want %d", got, n)
	}
	if _, ok := inv.Profiles["default"]; !ok {
		t.Error("no default profile")
	}
	for _, p := range inv.Validate() {
		t.Errorf("problem: %s", p)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []time.Duration
		want time.Duration
	}{
		{[]time.Duration{5}, 5},
		{[]time.Duration{9, 1, 5}, 5},
		{[]time.Duration{4, 1, 2, 8}, 3},
	} {
		if got := harness.Median(tc.in); got != tc.want {
			t.Errorf("harness.Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
