package bmc

import (
	"fmt"
	"io"
)

// DefaultEscapeChar is a console's escape character when the node's "ipmi
// escapechar" is unset, as in ssh and ipmitool.
const DefaultEscapeChar = '~'

// EscapeChar is a node's "ipmi escapechar" as one byte: "" is
// DefaultEscapeChar; anything but one printable ASCII character is an
// error.
func EscapeChar(s string) (byte, error) {
	if s == "" {
		return DefaultEscapeChar, nil
	}
	if len(s) != 1 || s[0] < 0x21 || s[0] > 0x7e {
		return 0, fmt.Errorf("ipmi escapechar %q: want one printable character (default %c)", s, DefaultEscapeChar)
	}
	return s[0], nil
}

// EscapeAction is what an escape sequence asks of the console.
type EscapeAction int

// The escape actions.
const (
	// EscapeNone: go on.
	EscapeNone EscapeAction = iota
	// EscapeLeave: "~." ends the console.
	EscapeLeave
	// EscapeHelp: "~?" lists the escape sequences.
	EscapeHelp
)

// Escape finds the escape sequences in what a console's user types, as
// ssh and ipmitool do: the escape character (~) at the start of a line
// (the first byte, or after CR or LF) is held, and the next byte says
// what it was: "." leaves, "?" asks for help, the escape character again
// sends one, and any other byte sends both. The zero value is not ready:
// use NewEscape.
type Escape struct {
	char      byte
	lineStart bool
	held      bool
}

// NewEscape returns the escape state of a new console.
func NewEscape(char byte) *Escape { return &Escape{char: char, lineStart: true} }

// Byte takes one typed byte and returns what to send to the node (no
// byte, one, or the held escape character and b) and the action b
// completes. After EscapeLeave nothing more is to be sent.
func (e *Escape) Byte(b byte) ([]byte, EscapeAction) {
	if e.held {
		e.held = false
		switch b {
		case '.':
			return nil, EscapeLeave
		case '?':
			// A new line for the next escape, as after "~?" in ssh.
			e.lineStart = true
			return nil, EscapeHelp
		case e.char:
			e.lineStart = false
			return []byte{b}, EscapeNone
		}
		e.lineStart = b == '\r' || b == '\n'
		return []byte{e.char, b}, EscapeNone
	}
	if e.lineStart && b == e.char {
		e.held = true
		return nil, EscapeNone
	}
	e.lineStart = b == '\r' || b == '\n'
	return []byte{b}, EscapeNone
}

// Flush returns the held escape character, if any, at the end of input.
func (e *Escape) Flush() []byte {
	if e.held {
		e.held = false
		return []byte{e.char}
	}
	return nil
}

// EscapeHelpText is what "~?" prints, for escape character c. Lines end
// in CR LF: the terminal is raw.
func EscapeHelpText(c byte) string {
	return fmt.Sprintf("\r\nSupported escape sequences (at the start of a line):\r\n"+
		"  %c.  leave the console (the session is closed on the BMC)\r\n"+
		"  %c%c  send one %c\r\n"+
		"  %c?  this help\r\n", c, c, c, c, c)
}

// escapeReader is a user's input with the escape sequences taken out: it
// ends (io.EOF) at "~." and writes the help to msg at "~?".
type escapeReader struct {
	in  io.Reader
	esc *Escape
	msg io.Writer
	buf []byte
	// out is what is to be sent and not yet read; end is the error to
	// return once out is empty (io.EOF after "~.", or in's error).
	out []byte
	end error
}

func newEscapeReader(in io.Reader, char byte, msg io.Writer) *escapeReader {
	return &escapeReader{in: in, esc: NewEscape(char), msg: msg, buf: make([]byte, 512)}
}

func (r *escapeReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.end != nil {
			return 0, r.end
		}
		n, err := r.in.Read(r.buf)
		r.feed(r.buf[:n])
		if err != nil && r.end == nil {
			r.out = append(r.out, r.esc.Flush()...)
			r.end = err
		}
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

// feed runs typed bytes through the escape state, up to "~.".
func (r *escapeReader) feed(typed []byte) {
	for _, b := range typed {
		if r.end != nil {
			return
		}
		send, act := r.esc.Byte(b)
		r.out = append(r.out, send...)
		switch act {
		case EscapeLeave:
			r.end = io.EOF
		case EscapeHelp:
			if r.msg != nil {
				_, _ = io.WriteString(r.msg, EscapeHelpText(r.esc.char))
			}
		}
	}
}
