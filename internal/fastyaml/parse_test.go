package fastyaml

import (
	"fmt"
	"strings"
	"testing"
)

// TestParse compares Parse with yaml.v3 on small inputs, and records which
// ones the fast path is expected to take.
func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		fast bool
	}{
		{"mapping", "a: 1\nb: two\n", true},
		{"keys with spaces", "network devices:\n  image name: x\n", true},
		{"indented sequence", "a:\n  - x\n  - y\n", true},
		{"indentless sequence", "a:\n- x\n- y\nb: 1\n", true},
		{"sequence of mappings", "- a: 1\n  b: 2\n- c: 3\n", true},
		{"compact nested sequence", "- - a\n  - b\n- c\n", true},
		{"dash then block", "-\n  a: 1\n-\n", true},
		{"quoted scalars", "a: 'it''s'\nb: \"x\\ty\\u00e9\\x41\"\n\"c d\": ''\n", true},
		{"flow collections", "a: [x, 'y', {b: c, d: [1, 2]}]\ne: {}\nf: [ ]\n", true},
		{"empty values", "a:\nb: ~\nc: null\nd: # c\n", true},
		{"leading document marker", "---\na: 1\n", true},
		{"indented root", "  a: 1\n  b: 2\n", true},
		{"crlf", "a: 1\r\nb:\r\n  - x\r\n", true},
		{"no final newline", "a: 1", true},
		{"non-ascii columns", "ключ: [x, y]\n", true},
		{"plain with colons and hashes", "mac: 00:11:22:33:44:55\nurl: http://x/#y\n", true},
		{"head and line comments", "# head\na: 1 # line\n", true},
		{"document head comment", "# doc\n\na: 1\n", true},
		{"foot comments", "a:\n  b: 1\n  # foot of b\n# head of c\nc: 2\n# foot of c\n\n# doc foot\n", true},
		{"comment after empty value", "a:\n# c\nb: 1\n", true},
		// Outside the subset: yaml.v3 decides.
		{"anchor and alias", "a: &x 1\nb: *x\n", false},
		{"tag", "a: !!str 1\n", false},
		{"literal block", "a: |\n  x\n", false},
		{"folded block", "a: >\n  x\n", false},
		{"multi-line plain", "a: b\n  c\n", false},
		{"multi-line quoted", "a: \"b\n  c\"\n", false},
		{"complex key", "? a\n: b\n", false},
		{"flow key", "[a]: b\n", false},
		{"two documents", "a: 1\n---\nb: 2\n", false},
		{"document end", "a: 1\n...\n", false},
		{"directive", "%YAML 1.2\n---\na: 1\n", false},
		{"tab indentation", "a:\n\tb: 1\n", false},
		{"multi-line flow", "a: [x,\n  y]\n", false},
		{"flow trailing comma", "a: [x, ]\n", false},
		{"flow value without space", "a: {\"b\":1}\n", false},
		{"scalar document", "hello\n", false},
		{"empty document", "", false},
		{"comments only", "# nothing\n", false},
		{"byte order mark", "\ufeffa: 1\n", false},
		{"comment lines with crlf", "# c\r\na: 1\r\n", false},
		{"comment block between blank lines", "a: 1\n\n# c\n\nb: 2\n", false},
		{"foot after quoted value at the end", "a: \"q\"\n# c\n", false},
		{"escaped slash", "a: \"\\/\"\n", false},
		// Errors: Parse must fail exactly as yaml.v3 does.
		{"bad indentation", "a:\n    b: 1\n  c: 2\n", false},
		{"mapping in value", "a: b: c\n", false},
		{"unclosed quote", "a: \"b\n", false},
		{"unclosed flow", "a: [b\n", false},
		{"dash after value", "a: 1\n- b\n", false},
		{"control character", "a: \x01\n", false},
		{"invalid utf-8", "a: \xff\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.in)
			want, wantErr := parseSlow(data)
			got, err := Parse(data)
			if wantErr != nil || err != nil {
				if wantErr == nil || err == nil || err.Error() != wantErr.Error() {
					t.Fatalf("Parse error = %v, yaml.v3 error = %v", err, wantErr)
				}
				return
			}
			if d := diffTrees(got, want, exact); d != "" {
				t.Errorf("Parse differs from yaml.v3: %s\ngot:\n%swant:\n%s", d, dumpTree(got), dumpTree(want))
			}
			if fast := parseFast(data) != nil; fast != tt.fast {
				t.Errorf("fast path taken = %v, want %v", fast, tt.fast)
			}
		})
	}
}

// TestParseContentIsCapped checks that Content slices do not share spare
// capacity, so appending to one collection cannot overwrite another.
func TestParseContentIsCapped(t *testing.T) {
	doc, err := Parse([]byte("a: [1, 2]\nb: [3, 4]\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := doc.Content[0].Content[1], doc.Content[0].Content[3]
	a.Content = append(a.Content, str("x"))
	if b.Content[0].Value != "3" {
		t.Errorf("appending to one sequence changed its neighbour: %s", dumpTree(b))
	}
}

// TestParseCopiesInput checks that the tree does not alias the caller's
// buffer, which nodes.conf loaders reuse.
func TestParseCopiesInput(t *testing.T) {
	data := []byte("key: value\n")
	doc, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	copy(data, "XXXXXXXXXX")
	if got := doc.Content[0].Content[1].Value; got != "value" {
		t.Errorf("value changed with the input buffer: %q", got)
	}
}

// TestParseLarge compares whole generated documents with yaml.v3,
// including ones that outgrow the first arena block.
func TestParseLarge(t *testing.T) {
	var flowHeavy, deep, longKey strings.Builder
	for i := 0; i < 300; i++ {
		fmt.Fprintf(&flowHeavy, "k%d: [%s]\n", i, strings.Repeat("a, {b: c}, ", 40)+"z")
	}
	for i := 0; i < maxDepth+10; i++ {
		fmt.Fprintf(&deep, "%sk:\n", strings.Repeat(" ", i))
	}
	fmt.Fprintf(&longKey, "%s: v\n", strings.Repeat("k", maxKeyLen+1))
	tests := []struct {
		name string
		in   []byte
		fast bool
	}{
		{"nodes.conf with 500 nodes", genNodesConf(500), true},
		{"flow-heavy", []byte(flowHeavy.String()), true},
		{"deeper than maxDepth", []byte(deep.String()), false},
		{"key longer than maxKeyLen", []byte(longKey.String()), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := parseSlow(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffTrees(got, want, exact); d != "" {
				t.Errorf("Parse differs from yaml.v3: %s", d)
			}
			if fast := parseFast(tt.in) != nil; fast != tt.fast {
				t.Errorf("fast path taken = %v, want %v", fast, tt.fast)
			}
			out, err := Encode(got)
			if err != nil {
				t.Fatal(err)
			}
			back, err := parseSlow(out)
			if err != nil {
				t.Fatal(err)
			}
			if d := diffTrees(back, want, content); d != "" {
				t.Errorf("Encode output reads back differently: %s", d)
			}
		})
	}
}
