package inventory

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"gopkg.in/yaml.v3"
)

// A nodes.conf of many nodes decodes the same on all CPUs as on one:
// nodes, errors (a node defined twice among them) and warnings past
// their limits, older forms.
func TestNodesDecodeTheSameInParallel(t *testing.T) {
	var b strings.Builder
	b.WriteString("nodeprofiles:\n  default:\n    comment: d\nnodes:\n")
	for i := range 600 {
		fmt.Fprintf(&b, "  n%04d:\n    profiles: [default]\n", i)
		switch {
		case i%13 == 0:
			b.WriteString("    comment: [not, one]\n") // an error
		case i%10 == 0:
			fmt.Fprintf(&b, "    colour%d: blue\n", i) // unknown: a warning, kept
		case i%7 == 0:
			b.WriteString("    ipmi ipaddr: 10.1.0.1\n    kernel args: quiet\n    disabled: false\n") // older forms
		}
		fmt.Fprintf(&b, "    network devices:\n      default:\n        ipaddr: 10.0.%d.%d\n", i/250, i%250+1)
	}
	b.WriteString("  n0003:\n    comment: again\n") // defined twice
	data := []byte(b.String())
	decode := func(parallelFrom int) (*Inventory, error) {
		t.Helper()
		doc, err := parseYAML(data)
		if err != nil {
			t.Fatal(err)
		}
		return decodeDocumentFrom(doc, "nodes.conf", parallelFrom)
	}
	_, oneErr := decode(1 << 30)
	_, allErr := decode(2)
	if oneErr == nil || allErr == nil {
		t.Fatal("the file's errors were not found")
	}
	if diff := cmp.Diff(oneErr.Error(), allErr.Error()); diff != "" {
		t.Errorf("errors (-one CPU +all):\n%s", diff)
	}
	// Without the errors, the inventory and its warnings.
	clean := strings.ReplaceAll(string(data), "comment: [not, one]", "comment: one")
	data = []byte(strings.TrimSuffix(clean, "  n0003:\n    comment: again\n"))
	one, oneErr := decode(1 << 30)
	all, allErr := decode(2)
	if oneErr != nil || allErr != nil {
		t.Fatalf("decode: %v; %v", oneErr, allErr)
	}
	if len(one.warnings) <= maxDecodeErrors || len(one.converted) == 0 || len(one.oldKeys) == 0 {
		t.Fatalf("the file has %d warnings, %d converted forms, %d old keys: not what the test is about",
			len(one.warnings), len(one.converted), len(one.oldKeys))
	}
	opts := cmp.Options{cmpopts.IgnoreUnexported(Warning{}), cmpopts.IgnoreTypes(&yaml.Node{}, []*yaml.Node{})}
	for _, c := range []struct {
		what     string
		one, all any
	}{
		{"nodes", one.Nodes, all.Nodes},
		{"warnings", one.warnings, all.warnings},
		{"converted", one.converted, all.converted},
		{"old keys", one.oldKeys, all.oldKeys},
	} {
		if diff := cmp.Diff(c.one, c.all, opts); diff != "" {
			t.Errorf("%s (-one CPU +all):\n%s", c.what, diff)
		}
	}
}
