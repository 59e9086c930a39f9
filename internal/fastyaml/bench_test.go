package fastyaml

import (
	"bytes"
	"fmt"
	"testing"

	"gopkg.in/yaml.v3"
)

// benchNodes is the size of the generated inventory: the largest sites
// Warewulf is asked to manage.
const benchNodes = 10000

// genNodesConf writes a nodes.conf with n nodes in the shape wwctl and
// admins produce: a profile, then per node a profile list, a BMC address
// and two network devices, with a comment above every rack.
func genNodesConf(n int) []byte {
	var b bytes.Buffer
	b.WriteString("# Warewulf node inventory\n# generated for benchmarks\n\nWW_INTERNAL: 45\n")
	b.WriteString("nodeprofiles:\n  default:\n    comment: default profile\n    image name: rockylinux-9\n")
	b.WriteString("    kernel:\n      args: quiet crashkernel=no\n    runtime overlay:\n    - hosts\n    - ssh.authorized_keys\n")
	b.WriteString("nodes:\n")
	for i := 0; i < n; i++ {
		if i%40 == 0 {
			fmt.Fprintf(&b, "  # rack %d\n", i/40+1)
		}
		fmt.Fprintf(&b, "  n%05d:\n    profiles:\n    - default\n", i)
		fmt.Fprintf(&b, "    ipmi:\n      ipaddr: 10.10.%d.%d\n", i/250, i%250+1)
		b.WriteString("    network devices:\n")
		for d, dev := range []string{"eth0", "ib0"} {
			fmt.Fprintf(&b, "      %s:\n        device: %s\n", dev, dev)
			fmt.Fprintf(&b, "        hwaddr: 00:1a:2b:%02x:%02x:%02x\n", d, i>>8&0xff, i&0xff)
			fmt.Fprintf(&b, "        ipaddr: 10.%d.%d.%d\n", d, i/250, i%250+1)
			b.WriteString("        netmask: 255.255.0.0\n")
		}
	}
	return b.Bytes()
}

func BenchmarkParse(b *testing.B) {
	data := genNodesConf(benchNodes)
	if parseFast(data) == nil {
		b.Fatal("benchmark input left the fast path")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseYAMLv3(b *testing.B) {
	data := genNodesConf(benchNodes)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	data := genNodesConf(benchNodes)
	doc, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := encodeFast(doc); !ok {
		b.Fatal("benchmark tree left the fast emitter")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeYAMLv3(b *testing.B) {
	data := genNodesConf(benchNodes)
	doc, err := Parse(data)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeSlow(doc); err != nil {
			b.Fatal(err)
		}
	}
}
