package bmc

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

// run feeds typed to a new escape state and returns what is sent, up to
// a leave, and the actions seen.
func run(char byte, typed string) (string, []EscapeAction) {
	e := NewEscape(char)
	var sent []byte
	var acts []EscapeAction
	for i := 0; i < len(typed); i++ {
		s, a := e.Byte(typed[i])
		sent = append(sent, s...)
		if a != EscapeNone {
			acts = append(acts, a)
		}
		if a == EscapeLeave {
			return string(sent), acts
		}
	}
	return string(sent) + string(e.Flush()), acts
}

func TestEscape(t *testing.T) {
	cases := []struct {
		name  string
		char  byte
		typed string
		sent  string
		acts  []EscapeAction
	}{
		{"plain", '~', "ls -l\r", "ls -l\r", nil},
		{"leave at start", '~', "~.", "", []EscapeAction{EscapeLeave}},
		{"leave after CR", '~', "date\r~.more", "date\r", []EscapeAction{EscapeLeave}},
		{"leave after LF", '~', "date\n~.", "date\n", []EscapeAction{EscapeLeave}},
		{"not at line start", '~', "a~.b\r", "a~.b\r", nil},
		{"tilde tilde sends one", '~', "~~.", "~.", nil},
		{"tilde tilde mid line", '~', "a~~", "a~~", nil},
		{"help", '~', "~?~.", "", []EscapeAction{EscapeHelp, EscapeLeave}},
		{"help then text", '~', "~?ab", "ab", []EscapeAction{EscapeHelp}},
		{"other byte sends both", '~', "~x~.", "~x~.", nil},
		{"tilde CR keeps line start", '~', "~\r~.", "~\r", []EscapeAction{EscapeLeave}},
		{"held at end is sent", '~', "a\r~", "a\r~", nil},
		{"other escape char", '&', "~.\r&.", "~.\r", []EscapeAction{EscapeLeave}},
		{"other escape char doubled", '&', "&&", "&", nil},
		{"Ctrl-C passes", '~', "\x03~.", "\x03~.", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sent, acts := run(c.char, c.typed)
			if sent != c.sent {
				t.Errorf("sent %q, want %q", sent, c.sent)
			}
			if diff := cmp.Diff(c.acts, acts); diff != "" {
				t.Errorf("actions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEscapeChar(t *testing.T) {
	cases := []struct {
		in   string
		want byte
		err  bool
	}{
		{"", '~', false},
		{"~", '~', false},
		{"&", '&', false},
		{"~~", 0, true},
		{" ", 0, true},
		{"\x1d", 0, true},
		{"é", 0, true},
	}
	for _, c := range cases {
		got, err := EscapeChar(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("EscapeChar(%q) = %q, %v; want %q, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// The reader gives what the escape state sends, whatever the size of the
// reads, ends at "~." and prints the help at "~?".
func TestEscapeReader(t *testing.T) {
	cases := []struct {
		name  string
		typed string
		sent  string
		help  bool
	}{
		{"leave ends", "ls\r~.rm -rf /\r", "ls\r", false},
		{"end of input", "ls\r", "ls\r", false},
		{"help", "~?date\r", "date\r", true},
		{"doubled", "~~\r", "~\r", false},
	}
	for _, c := range cases {
		for _, wrap := range []struct {
			name string
			f    func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"bytewise", iotest.OneByteReader}} {
			t.Run(c.name+"/"+wrap.name, func(t *testing.T) {
				var msg bytes.Buffer
				r := newEscapeReader(wrap.f(strings.NewReader(c.typed)), '~', &msg)
				got, err := io.ReadAll(wrap.f(r))
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != c.sent {
					t.Errorf("read %q, want %q", got, c.sent)
				}
				if gotHelp := strings.Contains(msg.String(), "~.  leave"); gotHelp != c.help {
					t.Errorf("help printed = %v (%q), want %v", gotHelp, msg.String(), c.help)
				}
			})
		}
	}
}

// A read error other than the end reaches the reader's caller.
func TestEscapeReaderError(t *testing.T) {
	boom := errors.New("boom")
	r := newEscapeReader(iotest.ErrReader(boom), '~', nil)
	if _, err := r.Read(make([]byte, 8)); !errors.Is(err, boom) {
		t.Errorf("error = %v, want %v", err, boom)
	}
}

// escapeText is what a user types to send data: the escape character at
// the start of a line doubled.
func escapeText(char byte, data []byte) []byte {
	var out []byte
	lineStart := true
	for _, b := range data {
		if lineStart && b == char {
			out = append(out, char)
		}
		out = append(out, b)
		lineStart = b == '\r' || b == '\n'
	}
	return out
}

func FuzzEscape(f *testing.F) {
	for _, s := range []string{"", "~.", "a\r~~b", "~?~x\n~", "\r\r~.~"} {
		f.Add([]byte(s), byte('~'))
	}
	f.Fuzz(func(t *testing.T, data []byte, char byte) {
		if char < 0x21 || char > 0x7e {
			char = '~'
		}
		// Anything typed with its escapes doubled arrives unchanged,
		// with no action.
		sent, acts := run(char, string(escapeText(char, data)))
		if sent != string(data) || len(acts) != 0 {
			t.Fatalf("escaped %q sent %q with %v", data, sent, acts)
		}
		// Input without the escape character passes unchanged.
		if !bytes.ContainsRune(data, rune(char)) {
			if sent, acts := run(char, string(data)); sent != string(data) || len(acts) != 0 {
				t.Fatalf("%q sent %q with %v", data, sent, acts)
			}
		}
		// Raw input: nothing is sent beyond the typed bytes, and the
		// reader agrees with the state machine whatever its read sizes.
		sent, acts = run(char, string(data))
		if len(sent) > len(data) {
			t.Fatalf("%q sent more: %q", data, sent)
		}
		for _, wrap := range []func(io.Reader) io.Reader{func(r io.Reader) io.Reader { return r }, iotest.OneByteReader} {
			got, err := io.ReadAll(wrap(newEscapeReader(wrap(bytes.NewReader(data)), char, io.Discard)))
			if err != nil || string(got) != sent {
				t.Fatalf("reader of %q read %q, %v; state machine sent %q (%v)", data, got, err, sent, acts)
			}
		}
	})
}
