package inventory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// genNodesConf makes an n-node nodes.conf in the shape of a real site:
// the shipped default profile, an IPMI address and two network devices
// per node, every address unique.
func genNodesConf(n int) []byte {
	var b strings.Builder
	b.Write(DefaultNodesConf()[:strings.Index(string(DefaultNodesConf()), "nodes: {}")])
	b.WriteString("nodes:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  n%05d:\n    profiles:\n      - default\n    ipmi:\n      ipaddr: 10.2.%d.%d\n"+
			"    network devices:\n      default:\n        device: eth0\n        hwaddr: 02:00:00:00:%02x:%02x\n        ipaddr: 10.0.%d.%d\n        netmask: 255.255.0.0\n"+
			"      ib:\n        device: ib0\n        hwaddr: 02:00:01:00:%02x:%02x\n        ipaddr: 10.1.%d.%d\n        netmask: 255.255.0.0\n",
			i, i/256, i%256, i/256, i%256, i/256, i%256, i/256, i%256, i/256, i%256)
	}
	return []byte(b.String())
}

func BenchmarkParse10k(b *testing.B) {
	data := genNodesConf(10000)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, "nodes.conf"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMergeAll10k(b *testing.B) {
	inv, err := Parse(genNodesConf(10000), "nodes.conf")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		inv.MergeAll()
	}
}

func BenchmarkValidate10k(b *testing.B) {
	inv, err := Parse(genNodesConf(10000), "nodes.conf")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if ps := inv.Validate(); len(ps) != 0 {
			b.Fatal(ps[0])
		}
	}
}

func BenchmarkMarshal10k(b *testing.B) {
	inv, err := Parse(genNodesConf(10000), "nodes.conf")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := inv.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdate10k is one "node set": lock, read, parse, change,
// validate, write.
func BenchmarkUpdate10k(b *testing.B) {
	path := filepath.Join(b.TempDir(), "nodes.conf")
	if err := os.WriteFile(path, genNodesConf(10000), 0o600); err != nil {
		b.Fatal(err)
	}
	s := NewStore(path)
	i := 0
	for b.Loop() {
		i++
		c := fmt.Sprint(i)
		if _, err := s.Update(context.Background(), func(inv *Inventory) error {
			inv.Nodes["n05000"].Comment = &c
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
