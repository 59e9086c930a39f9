package site

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

// The one node a pattern names gets its console, with its escape
// character; several nodes, no node, no BMC address and a refused
// password are errors naming the node and the cause.
func TestConsole(t *testing.T) {
	sim, ser := bmcsim.StartWithSerial(t)
	in := sitetest.New(t, "")
	tmpl := filepath.Join(in.Root, "bmc.tmpl")
	sitetest.Write(t, tmpl, `{{ if eq .Cmd "Console" }}echo "sol activate -H {{ .Ipaddr }} -e {{ .EscapeChar }}"{{ end }}`)
	in.WriteNodes(t, "nodeprofiles:\n  default: {}\nnodes:\n"+
		bmcNode("n1", sim.Port, bmcsim.Password, "      escapechar: \"&\"\n")+
		bmcNode("n2", sim.Port, "wrong", "")+
		"  n3:\n    comment: no bmc\n"+
		bmcNode("n4", 1, bmcsim.Password, "      template: "+tmpl+"\n"))
	s, err := Open(Options{Config: in.Load(t)})
	if err != nil {
		t.Fatal(err)
	}

	var out strings.Builder
	ready := ""
	typed := strings.NewReader("hello\r&.")
	if err := s.Console(t.Context(), "n1", typed, &out, ConsoleOptions{Ready: func(tg bmc.Target) { ready = tg.Node }}); err != nil {
		t.Fatalf("console of n1: %v", err)
	}
	if ready != "n1" {
		t.Errorf("Ready called for %q, want n1", ready)
	}
	if !ser.WaitTyped("hello\r", 10*time.Second) || strings.Contains(ser.Typed(), "&") {
		t.Errorf("the serial port received %q, want hello\\r and no escape", ser.Typed())
	}

	out.Reset()
	if err := s.Console(t.Context(), "n4", strings.NewReader(""), &out, ConsoleOptions{}); err != nil {
		t.Fatalf("console of n4: %v", err)
	}
	if got, want := out.String(), "sol activate -H 127.0.0.1 -e \n"; got != want {
		t.Errorf("template console printed %q, want %q", got, want)
	}

	cases := []struct {
		name, pattern string
		want          error
		text          []string
	}{
		{"several", "n[1-2]", nil, []string{"n[1-2]", "2 nodes"}},
		{"unknown", "n9", nil, []string{"n9"}},
		{"no address", "n3", bmc.ErrNoAddress, []string{"n3", "console"}},
		{"wrong password", "n2", bmc.ErrAuth, []string{"n2", "127.0.0.1:", "console"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Console(t.Context(), c.pattern, strings.NewReader(""), io.Discard, ConsoleOptions{Timeout: 3 * time.Second})
			if err == nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("error = %v, want %v", err, c.want)
			}
			for _, w := range c.text {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
