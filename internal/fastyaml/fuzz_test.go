package fastyaml

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"gopkg.in/yaml.v3"
)

// fuzzSeeds are small inputs that steer the fuzzer towards the subset the
// fast path accepts and its edges.
var fuzzSeeds = []string{
	"a: 1\nb:\n  - x\n  - y\nc:\n- z\nd: {e: f, g: [h, i]}\n",
	"# top\n\n# head a\na: 1 # line a\n# head b\nb:\n  # head c\n  c: 2 # line c\n  # foot c\n# head d\nd: x\n# foot d\n",
	"a:\n  b: 1\n  # after b\n\n# before c\nc: 2\n\n# end\n",
	"- a\n- b: c\n  d: e\n-\n- - x\n  - y\n",
	"---\nk: 'v''w'\nq: \"a\\tb\\u00e9\"\n",
	"network devices:\n  eth0:\n    hwaddr: 00:11:22:33:44:55\n    ipaddr: 10.0.0.1\n",
	"a: 0x1F\nb: 1e3\nc: .inf\nd: 0o17\ne: yes\nf: ~\ng: 2001-12-14\nh: -0b1\n",
	"x:\n  - a\n# f\n\ny: 1\n",
	"k: v\r\nl: [1, 2]\r\n",
	"a: b # c\n  d\n",
	"ключ: значение\nв: [x, y]\n",
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	inputs, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	for _, in := range inputs {
		if data, err := os.ReadFile(in); err == nil && len(data) < 20000 {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkParse(t, data)
	})
}

// checkParse holds Parse and Encode to their contracts for one input.
func checkParse(t *testing.T, data []byte) {
	t.Helper()
	want, wantErr := parseSlow(data)
	got, err := Parse(data)
	if wantErr != nil {
		if err == nil {
			t.Fatalf("yaml.v3 rejects %q (%v), Parse accepts:\n%s", data, wantErr, dumpTree(got))
		}
		return
	}
	if err != nil {
		t.Fatalf("yaml.v3 accepts %q, Parse fails: %v", data, err)
	}
	if d := diffTrees(got, want, structural); d != "" {
		t.Fatalf("Parse(%q) differs from yaml.v3: %s\ngot:\n%swant:\n%s", data, d, dumpTree(got), dumpTree(want))
	}
	if fast := parseFast(data); fast != nil {
		if d := diffTrees(fast, want, exact); d != "" {
			t.Fatalf("fast path on %q differs from yaml.v3: %s\ngot:\n%swant:\n%s", data, d, dumpTree(fast), dumpTree(want))
		}
	}
	if got.Kind == 0 {
		return
	}
	checkEncode(t, data, got)
}

// checkEncode checks that Encode(tree) reads back as the same content, and
// that the fast emitter's output is a fixed point keeping every comment.
func checkEncode(t *testing.T, data []byte, tree *yaml.Node) {
	t.Helper()
	out, err := Encode(tree)
	if err != nil {
		// yaml.v3 cannot write every tree it reads; only the fast emitter
		// is held to writing everything.
		if _, ok := encodeFast(tree); ok {
			t.Fatalf("Encode(Parse(%q)) fails: %v", data, err)
		}
		return
	}
	_, fast := encodeFast(tree)
	if !fast && (hasYAMLOnlyFeatures(tree) || isCommentOnly(tree)) {
		// yaml.v3's encoder mishandles some of these (an anchored null
		// key, or a null value next to a collection key, comes back as
		// ''); those trees are yaml.v3's business.
		return
	}
	back, err := parseSlow(out)
	if err != nil {
		t.Fatalf("Encode(Parse(%q)) wrote unreadable YAML: %v\n%s", data, err, out)
	}
	if d := diffTrees(back, tree, content); d != "" {
		t.Fatalf("Encode(Parse(%q)) reads back differently: %s\nencoded:\n%s\ngot:\n%swant:\n%s", data, d, out, dumpTree(back), dumpTree(tree))
	}
	if !fast {
		return
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("Parse(Encode(Parse(%q))): %v", data, err)
	}
	if d := diffTrees(lineSlots(again), lineSlots(tree), treeOpts{comments: true}); d != "" {
		t.Fatalf("comments of %q moved through Encode: %s\nencoded:\n%s\ngot:\n%swant:\n%s", data, d, out, dumpTree(again), dumpTree(tree))
	}
	out2, err := Encode(again)
	if err != nil {
		t.Fatalf("Encode(Parse(Encode(Parse(%q)))): %v", data, err)
	}
	if !bytes.Equal(out, out2) {
		t.Fatalf("Encode is not a fixed point for %q:\nfirst:\n%s\nsecond:\n%s", data, out, out2)
	}
}

// hasYAMLOnlyFeatures reports whether the tree has what only yaml.v3's
// encoder writes and it does not always write correctly: anchors, aliases,
// explicit tags, collections or empty nulls as keys, empty nulls inside
// flow collections (which come back as empty strings), and block scalars
// (a leading blank line is lost).
func hasYAMLOnlyFeatures(n *yaml.Node) bool {
	if n.Anchor != "" || n.Alias != nil || n.Style&(yaml.TaggedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return true
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 && (c.Kind != yaml.ScalarNode || isEmptyNull(c)) {
			return true
		}
		if n.Style&yaml.FlowStyle != 0 && isEmptyNull(c) {
			return true
		}
		if hasYAMLOnlyFeatures(c) {
			return true
		}
	}
	return false
}

// isCommentOnly reports whether the document holds nothing but an empty
// null and comments, which yaml.v3 writes as comments alone.
func isCommentOnly(doc *yaml.Node) bool {
	return doc.Kind == yaml.DocumentNode && (doc.HeadComment != "" || doc.FootComment != "") &&
		len(doc.Content) == 1 && isEmptyNull(doc.Content[0])
}
