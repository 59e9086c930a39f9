package bmc_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
)

// syncBuffer is a console's output, read while it is written.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// session is a console running in the background.
type session struct {
	typing      *io.PipeWriter
	out, msg    *syncBuffer
	ready, done chan struct{}
	err         error
	cancel      context.CancelFunc
}

func startConsole(t *testing.T, tg bmc.Target, force bool) *session {
	t.Helper()
	d, err := bmc.New(tg, bmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cons, ok := d.(bmc.Consoler)
	if !ok {
		t.Fatalf("the %T driver has no console", d)
	}
	ctx, cancel := context.WithCancel(t.Context())
	in, typing := io.Pipe()
	s := &session{typing: typing, out: &syncBuffer{}, msg: &syncBuffer{}, ready: make(chan struct{}),
		done: make(chan struct{}), cancel: cancel}
	t.Cleanup(func() {
		cancel()
		typing.Close()
		<-s.done
	})
	go func() {
		defer close(s.done)
		s.err = cons.Console(ctx, in, s.out, bmc.ConsoleOptions{Connect: 5 * time.Second, Force: force, Messages: s.msg,
			Ready: func() { close(s.ready) }})
	}()
	return s
}

// live waits for the console to be active, or fails with its error.
func (s *session) live(t *testing.T) {
	t.Helper()
	select {
	case <-s.ready:
	case <-s.done:
		t.Fatalf("console ended before it was live: %v", s.err)
	case <-time.After(10 * time.Second):
		t.Fatal("console not live after 10 s")
	}
}

func (s *session) typeText(t *testing.T, text string) {
	t.Helper()
	if _, err := s.typing.Write([]byte(text)); err != nil {
		t.Fatalf("type %q: %v", text, err)
	}
}

// wait waits for the console to end and returns its error.
func (s *session) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-s.done:
		return s.err
	case <-time.After(15 * time.Second):
		t.Fatal("console did not end in 15 s")
		return nil
	}
}

// shows waits for the console's output to hold want.
func (s *session) shows(t *testing.T, ser *bmcsim.Serial, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.out.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("console output %q does not show %q after 10 s", s.out.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Serial over LAN with OpenIPMI's simulator: what the node prints is
// shown, what is typed reaches the node, "~~" sends "~", "~." leaves and
// releases the console so that the next one starts at once, as does
// ending the context.
func TestConsoleWithSimulator(t *testing.T) {
	sim, ser := bmcsim.StartWithSerial(t)
	tg := simTarget(sim.Port, "lanplus")

	s := startConsole(t, tg, false)
	s.live(t)
	ser.Write(t, "n1 login: \r\n")
	s.shows(t, ser, "n1 login: ")
	s.typeText(t, "root\r~~tilde\r")
	if !ser.WaitTyped("root\r~tilde\r", 10*time.Second) {
		t.Errorf("the serial port received %q, want root\\r~tilde\\r", ser.Typed())
	}
	s.typeText(t, "~?")
	s.typeText(t, "~.")
	if err := s.wait(t); err != nil {
		t.Fatalf("console after ~.: %v", err)
	}
	if !strings.Contains(s.msg.String(), "~.  leave") {
		t.Errorf("~? printed %q, want the escape help", s.msg.String())
	}
	if strings.Contains(ser.Typed(), "?") || strings.Contains(ser.Typed(), ".") {
		t.Errorf("escape sequences reached the node: %q", ser.Typed())
	}

	// The next console starts at once: the first one released it.
	s = startConsole(t, tg, false)
	s.live(t)
	ser.Write(t, "second session\r\n")
	s.shows(t, ser, "second session")
	// Ending the context (a signal, a dropped terminal) releases it too.
	s.cancel()
	if err := s.wait(t); !errors.Is(err, context.Canceled) {
		t.Errorf("console after cancel: %v, want context canceled", err)
	}
	s = startConsole(t, tg, false)
	s.live(t)
	s.typeText(t, "third\r")
	if !ser.WaitTyped("third\r", 10*time.Second) {
		t.Errorf("the serial port received %q, want third\\r", ser.Typed())
	}

	// While it is held, another console is refused, naming the cause,
	// unless forced: then the first one ends.
	busy := startConsole(t, tg, false)
	if err := busy.wait(t); !errors.Is(err, bmc.ErrBusy) || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second console: %v, want %v naming --force", err, bmc.ErrBusy)
	}
	forced := startConsole(t, tg, true)
	forced.live(t)
	if err := s.wait(t); !errors.Is(err, bmc.ErrBusy) || !strings.Contains(err.Error(), "took the console over") {
		t.Errorf("the console taken over ended with %v, want another session took it over", err)
	}
	ser.Write(t, "forced\r\n")
	forced.shows(t, ser, "forced")
	forced.typeText(t, "~.")
	if err := forced.wait(t); err != nil {
		t.Errorf("forced console after ~.: %v", err)
	}
}

// A refused password, IPMI 1.5 and a bad escape character fail before
// any console, with their cause.
func TestConsoleFailures(t *testing.T) {
	sim, _ := bmcsim.StartWithSerial(t)
	wrong := simTarget(sim.Port, "lanplus")
	wrong.Password = "wrong"
	badEsc := simTarget(sim.Port, "lanplus")
	badEsc.EscapeChar = "~~"
	cases := []struct {
		name   string
		target bmc.Target
		want   error
		text   string
	}{
		{"wrong password", wrong, bmc.ErrAuth, "password"},
		{"lan", simTarget(sim.Port, "lan"), bmc.ErrUnsupported, "lanplus"},
		{"silent", simTarget(bmcsim.Silent(t), "lanplus"), bmc.ErrTimeout, "no answer"},
		{"escape char", badEsc, nil, "escapechar"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startConsole(t, c.target, false)
			err := s.wait(t)
			if err == nil || c.want != nil && !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.text) {
				t.Errorf("error = %v, want %v mentioning %q", err, c.want, c.text)
			}
			select {
			case <-s.ready:
				t.Error("the console was live")
			default:
			}
		})
	}
}

// A node's "ipmi template" has its Console command run with the node's
// fields, its stdin, stdout and stderr the console's.
func TestTemplateConsole(t *testing.T) {
	dir := t.TempDir()
	tmpl := filepath.Join(dir, "echo.tmpl")
	text := `{{ if eq .Cmd "Console" }}echo "console of {{ .Ipaddr }} -e {{ .EscapeChar }}"; cat; echo oops >&2{{ end }}`
	if err := os.WriteFile(tmpl, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tg := bmc.Target{Node: "n1", Ipaddr: "10.9.9.9", EscapeChar: "&", Template: tmpl}
	d, err := bmc.New(tg, bmc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out, msg bytes.Buffer
	err = d.(bmc.Consoler).Console(t.Context(), strings.NewReader("typed\n"), &out, bmc.ConsoleOptions{Messages: &msg})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "console of 10.9.9.9 -e &\ntyped\n"; got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := msg.String(); got != "oops\n" {
		t.Errorf("stderr %q, want oops", got)
	}

	// A template without a Console command has no console; a failing
	// command is an error.
	none := filepath.Join(dir, "none.tmpl")
	fail := filepath.Join(dir, "fail.tmpl")
	if err := os.WriteFile(none, []byte(`{{ if eq .Cmd "PowerOn" }}true{{ end }}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(fail, []byte(`{{ if eq .Cmd "Console" }}exit 3{{ end }}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path string
		want error
	}{{none, bmc.ErrUnsupported}, {fail, bmc.ErrRefused}} {
		tg.Template = c.path
		d, err := bmc.New(tg, bmc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = d.(bmc.Consoler).Console(t.Context(), strings.NewReader(""), io.Discard, bmc.ConsoleOptions{})
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", filepath.Base(c.path), err, c.want)
		}
	}
}

// A BMC that stops answering (ipmi_sim stopped for longer than the
// console's retries last) does not end the console: it says so,
// reconnects with a new session once the BMC answers again, and what is
// typed and printed afterwards goes through.
func TestConsoleReconnects(t *testing.T) {
	sim, ser := bmcsim.StartWithSerial(t)
	tg := simTarget(sim.Port, "lanplus")
	s := startConsole(t, tg, false)
	s.live(t)
	ser.Write(t, "before\r\n")
	s.shows(t, ser, "before")

	sim.Pause(t)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.msg.String(), "reconnecting (1 of 3)") {
		select {
		case <-s.done:
			sim.Resume(t)
			t.Fatalf("the console ended while the BMC was not answering: %v", s.err)
		default:
		}
		if time.Now().After(deadline) {
			sim.Resume(t)
			t.Fatalf("no reconnection announced 30 s after the BMC stopped answering: %q", s.msg.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	sim.Resume(t)
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(s.msg.String(), "[console: reconnected]") {
		select {
		case <-s.done:
			t.Fatalf("the console ended instead of reconnecting: %v (messages %q)", s.err, s.msg.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reconnected 30 s after the BMC answered again: %q", s.msg.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.typeText(t, "after\r")
	if !ser.WaitTyped("after\r", 10*time.Second) {
		t.Errorf("the serial port received %q after the reconnection, want after\\r", ser.Typed())
	}
	ser.Write(t, "again\r\n")
	s.shows(t, ser, "again")
	s.typeText(t, "~.")
	if err := s.wait(t); err != nil {
		t.Errorf("console after ~.: %v", err)
	}
}
