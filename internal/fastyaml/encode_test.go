package fastyaml

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func str(v string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: strTag, Value: v}
}

func mapOf(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: mapTag, Content: kv}
}

func seqOf(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: seqTag, Content: items}
}

func docOf(n *yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{n}}
}

// TestEncodeQuoting checks when a plain-style string gets quotes, and that
// yaml.v3 reads every answer back as the same string.
func TestEncodeQuoting(t *testing.T) {
	tests := []struct {
		name, value, want string
	}{
		{"word", "default", "default"},
		{"spaces inside", "network devices", "network devices"},
		{"path", "/usr/lib64/libfoo.so.1", "/usr/lib64/libfoo.so.1"},
		{"mac address", "00:1a:2b:3c:4d:5e", "00:1a:2b:3c:4d:5e"},
		{"ip address", "10.0.0.1", "10.0.0.1"},
		{"url", "http://example.com:8080/x?y=1", "http://example.com:8080/x?y=1"},
		{"hash inside word", "a#b", "a#b"},
		{"comma in block context", "a, b", "a, b"},
		{"dash word", "-foo", "-foo"},
		{"apostrophe", "it's", "it's"},
		{"unicode", "héllo", "héllo"},
		{"yes stays plain: yaml.v3 reads a string", "yes", "yes"},
		{"off stays plain", "off", "off"},
		{"empty", "", `""`},
		{"int-like", "9000", `"9000"`},
		{"float-like", "1e3", `"1e3"`},
		{"hex-like", "0x1F", `"0x1F"`},
		{"leading-zero", "0042", `"0042"`},
		{"bool-like", "true", `"true"`},
		{"null-like", "null", `"null"`},
		{"tilde", "~", `"~"`},
		{"date-like", "2024-01-31", `"2024-01-31"`},
		{"infinity", ".inf", `".inf"`},
		{"merge key", "<<", `"<<"`},
		{"colon space", "a: b", `"a: b"`},
		{"trailing colon", "a:", `"a:"`},
		{"space hash", "a #b", `"a #b"`},
		{"leading space", " a", `" a"`},
		{"trailing space", "a ", `"a "`},
		{"dash space", "- a", `"- a"`},
		{"lone dash", "-", `"-"`},
		{"question mark", "?a", `"?a"`},
		{"flow start", "[a]", `"[a]"`},
		{"map start", "{a}", `"{a}"`},
		{"anchor char", "&a", `"&a"`},
		{"alias char", "*a", `"*a"`},
		{"tag char", "!a", `"!a"`},
		{"at sign", "@home", `"@home"`},
		{"backtick", "`cmd`", "\"`cmd`\""},
		{"percent", "%x", `"%x"`},
		{"pipe", "|", `"|"`},
		{"quote start", `"a`, `"\"a"`},
		{"single quote start", "'a", `"'a"`},
		{"document end", "...x", `"...x"`},
		{"newline", "a\nb", `"a\nb"`},
		{"tab", "a\tb", `"a\tb"`},
		{"backslash", `a\b`, `a\b`},
		{"control", "a\x01", `"a\x01"`},
		{"delete", "a\x7f", `"a\x7F"`},
		{"next line", "a\u0085", `"a\N"`},
		{"line separator", "a\u2028", `"a\L"`},
		{"byte order mark", "\ufeffa", `"\uFEFFa"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Encode(docOf(mapOf(str("k"), str(tt.value))))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff("k: "+tt.want+"\n", string(out)); diff != "" {
				t.Errorf("Encode mismatch (-want +got):\n%s", diff)
			}
			var back map[string]string
			if err := yaml.Unmarshal(out, &back); err != nil {
				t.Fatalf("yaml.v3 cannot read %q: %v", out, err)
			}
			if back["k"] != tt.value {
				t.Errorf("yaml.v3 reads %q back as %q", tt.value, back["k"])
			}
			if tag := v3Tag(t, tt.want); tag != strTag {
				t.Errorf("yaml.v3 reads %s as %s", tt.want, tag)
			}
		})
	}
}

// TestEncodeTrees covers trees built in code, the way wwctl edits them.
func TestEncodeTrees(t *testing.T) {
	intNode := &yaml.Node{Kind: yaml.ScalarNode, Tag: intTag, Value: "9000"}
	tests := []struct {
		name string
		tree *yaml.Node
		want string
	}{{
		name: "nested block",
		tree: docOf(mapOf(str("nodes"), mapOf(str("n1"), mapOf(
			str("profiles"), seqOf(str("default")),
			str("network devices"), mapOf(str("eth0"), mapOf(str("mtu"), intNode)),
		)))),
		want: "nodes:\n  n1:\n    profiles:\n      - default\n    network devices:\n      eth0:\n        mtu: 9000\n",
	}, {
		name: "bare mapping without document",
		tree: mapOf(str("a"), str("b")),
		want: "a: b\n",
	}, {
		name: "null and empty collections",
		tree: docOf(mapOf(
			str("none"), &yaml.Node{Kind: yaml.ScalarNode, Tag: nullTag},
			str("tilde"), &yaml.Node{Kind: yaml.ScalarNode, Tag: nullTag, Value: "~"},
			str("list"), seqOf(),
			str("map"), mapOf(),
		)),
		want: "none:\ntilde: ~\nlist: []\nmap: {}\n",
	}, {
		name: "flow style kept",
		tree: docOf(mapOf(str("tags"), &yaml.Node{Kind: yaml.MappingNode, Tag: mapTag, Style: yaml.FlowStyle,
			Content: []*yaml.Node{str("gres"), str("gpu:a100:4"), str("n"), intNode}})),
		want: "tags: {gres: \"gpu:a100:4\", n: 9000}\n",
	}, {
		name: "quoted styles kept",
		tree: docOf(mapOf(
			str("single"), &yaml.Node{Kind: yaml.ScalarNode, Tag: strTag, Value: "it's", Style: yaml.SingleQuotedStyle},
			str("double"), &yaml.Node{Kind: yaml.ScalarNode, Tag: strTag, Value: "x", Style: yaml.DoubleQuotedStyle},
		)),
		want: "single: 'it''s'\ndouble: \"x\"\n",
	}, {
		name: "untagged scalars written as given",
		tree: docOf(mapOf(
			&yaml.Node{Kind: yaml.ScalarNode, Value: "port"},
			&yaml.Node{Kind: yaml.ScalarNode, Value: "623"},
		)),
		want: "port: 623\n",
	}, {
		name: "comments",
		tree: func() *yaml.Node {
			k := str("a")
			k.HeadComment = "# head"
			k.FootComment = "# foot"
			v := str("d")
			v.LineComment = "# line"
			d := docOf(mapOf(k, str("b"), str("c"), v))
			d.HeadComment = "# top"
			d.FootComment = "# end"
			return d
		}(),
		want: "# top\n\n# head\na: b\n# foot\n\nc: d # line\n\n# end\n",
	}, {
		name: "key comment kept on the key's line when the value becomes inline",
		tree: func() *yaml.Node {
			k := str("eth0")
			k.LineComment = "# spare"
			return docOf(mapOf(k, mapOf()))
		}(),
		want: "eth0: {} # spare\n",
	}, {
		name: "foot comments of nested entries",
		tree: func() *yaml.Node {
			a, b, x := str("a"), str("b"), str("x")
			a.FootComment, b.FootComment, x.FootComment = "# fa", "# fb", "# fx"
			return docOf(mapOf(a, mapOf(b, seqOf(x)), str("c"), str("d")))
		}(),
		want: "a:\n  b:\n    - x\n    # fx\n  # fb\n# fa\n\nc: d\n",
	}, {
		name: "sequence of mappings",
		tree: docOf(seqOf(mapOf(str("a"), str("1"), str("b"), seqOf(str("x"))), seqOf(str("y"), str("z")))),
		want: "- a: \"1\"\n  b:\n    - x\n- - y\n  - z\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Encode(tt.tree)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(out)); diff != "" {
				t.Errorf("Encode mismatch (-want +got):\n%s", diff)
			}
			if _, ok := encodeFast(tt.tree); !ok {
				t.Error("fast emitter not used")
			}
			for name, parse := range map[string]func([]byte) (*yaml.Node, error){"yaml.v3": parseSlow, "Parse": Parse} {
				back, err := parse(out)
				if err != nil {
					t.Fatalf("%s cannot read the output: %v", name, err)
				}
				if tt.tree.Kind != yaml.DocumentNode || untagged(tt.tree) {
					continue // reads back with a document or tags added
				}
				if d := diffTrees(lineSlots(back), lineSlots(tt.tree), treeOpts{comments: true}); d != "" {
					t.Errorf("%s reads the output back differently: %s", name, d)
				}
			}
		})
	}
}

// TestEncodeFallback checks that trees the fast emitter cannot write come
// out exactly as yaml.v3 writes them, and that broken trees are errors.
func TestEncodeFallback(t *testing.T) {
	anchored := str("v")
	anchored.Anchor = "x"
	tagged := &yaml.Node{Kind: yaml.ScalarNode, Tag: intTag, Value: "abc"}
	complexKey := mapOf(seqOf(str("a")), str("b"))
	tests := []struct {
		name string
		tree *yaml.Node
	}{
		{"anchor", docOf(mapOf(str("k"), anchored, str("l"), &yaml.Node{Kind: yaml.AliasNode, Alias: anchored, Value: "x"}))},
		{"explicit tag needed", docOf(mapOf(str("k"), tagged))},
		{"collection key", docOf(complexKey)},
		{"foot run skipping a level", func() *yaml.Node {
			a, b := str("a"), str("b")
			a.FootComment, b.FootComment = "# fa", "# fb"
			return docOf(mapOf(a, mapOf(b, seqOf(str("x"))), str("c"), str("d")))
		}()},
		{"head comment on a seq item mapping's first key", docOf(seqOf(mapOf(&yaml.Node{Kind: yaml.ScalarNode, Tag: strTag, Value: "a", HeadComment: "# h"}, str("b"))))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := encodeFast(tt.tree); ok {
				t.Fatal("fast emitter accepted the tree")
			}
			got, err := Encode(tt.tree)
			if err != nil {
				t.Fatal(err)
			}
			want, err := encodeSlow(tt.tree)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("fallback output differs from yaml.v3 (-want +got):\n%s", diff)
			}
		})
	}
	if out, err := Encode(nil); err == nil {
		t.Errorf("Encode(nil) = %q, want an error", out)
	}
	cyclic := seqOf(str("a"))
	cyclic.Content = append(cyclic.Content, cyclic)
	if out, err := Encode(docOf(cyclic)); err == nil {
		t.Errorf("Encode(cyclic tree) = %q, want an error", out)
	}
}

// FuzzEncodeString puts an arbitrary string in every scalar position and
// checks that both yaml.v3 and Parse read the output back unchanged.
func FuzzEncodeString(f *testing.F) {
	for _, s := range []string{"a", "", "a: b", "- x", "9000", "yes", "\x00\n\t", "a #b", "[x]", "\u2028", "'\"", "...", "---"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flowSeq := seqOf(str(s), str(s))
		flowSeq.Style = yaml.FlowStyle
		flowMap := mapOf(str(s), str(s))
		flowMap.Style = yaml.FlowStyle
		single := &yaml.Node{Kind: yaml.ScalarNode, Tag: strTag, Value: s, Style: yaml.SingleQuotedStyle}
		tree := docOf(mapOf(
			str(s), str(s),
			str("seq"), seqOf(str(s), single),
			str("flow"), flowSeq,
			str("flowmap"), flowMap,
		))
		out, err := Encode(tree)
		if err != nil {
			if _, ok := encodeFast(tree); ok {
				t.Fatalf("Encode: %v", err)
			}
			return // yaml.v3 refuses, e.g. invalid UTF-8 as a string
		}
		if _, ok := encodeFast(tree); !ok && strings.ToValidUTF8(s, "") == s && len(s) < maxKeyLen {
			t.Fatalf("fast emitter refused valid string %q", s)
		}
		for name, parse := range map[string]func([]byte) (*yaml.Node, error){"yaml.v3": parseSlow, "Parse": Parse} {
			back, err := parse(out)
			if err != nil {
				t.Fatalf("%s cannot read %q: %v", name, out, err)
			}
			if d := diffTrees(back, tree, content); d != "" {
				t.Fatalf("%s reads %q back differently: %s", name, out, d)
			}
		}
	})
}

// untagged reports whether some scalar in the tree has no tag.
func untagged(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode && n.Tag == "" {
		return true
	}
	for _, c := range n.Content {
		if untagged(c) {
			return true
		}
	}
	return false
}
