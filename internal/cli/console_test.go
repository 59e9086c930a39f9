package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
)

// wwctl node console against OpenIPMI's simulator: typed input reaches
// the serial port, ~. leaves at once and the next console starts; bad
// input fails with the node and the cause.
func TestNodeConsole(t *testing.T) {
	sim, ser := bmcsim.StartWithSerial(t)
	conf := filepath.Join(t.TempDir(), "nodes.conf")
	node := func(name string, port int, password string) string {
		return fmt.Sprintf("  %s:\n    ipmi:\n      ipaddr: 127.0.0.1\n      port: \"%d\"\n      username: %s\n      password: %s\n",
			name, port, bmcsim.User, password)
	}
	text := "nodeprofiles:\n  default: {}\nnodes:\n" + node("n1", sim.Port, bmcsim.Password) + "  n2:\n    comment: no BMC\n" +
		node("n3", bmcsim.Silent(t), bmcsim.Password) + node("n4", sim.Port, "wrong")
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, conf)
	tr.appendConf("ipmi:\n  timeout: 1\n")

	for _, typed := range []string{"first\r", "second\r"} {
		start := time.Now()
		_, errOut, err := tr.run(typed+"~.", "node", "console", "n1")
		if err != nil {
			t.Fatalf("node console n1: %v\n%s", err, errOut)
		}
		if !ser.WaitTyped(typed, 10*time.Second) {
			t.Errorf("the serial port received %q, want %q", ser.Typed(), typed)
		}
		if took := time.Since(start); took > 8*time.Second {
			t.Errorf("the console took %v to leave", took)
		}
		for _, want := range []string{"[console of n1; ~. to leave, ~? for help]", "[console of n1 closed]"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr %q does not say %q", errOut, want)
			}
		}
	}
	if strings.Contains(ser.Typed(), "~") {
		t.Errorf("the escape reached the node: %q", ser.Typed())
	}

	bad := []struct {
		args []string
		want []string
	}{
		{[]string{"n9"}, []string{"no such node: n9"}},
		{[]string{"n[1-2]"}, []string{"2 nodes", "n[1-2]"}},
		{[]string{"n1", "n2"}, []string{"one node"}},
		{[]string{"n2"}, []string{"n2", "no ipmi ipaddr"}},
		{[]string{"n3"}, []string{"n3", "timeout"}},
		{[]string{"n4"}, []string{"n4", "authentication failed"}},
	}
	for _, b := range bad {
		_, _, err := tr.run("", append([]string{"node", "console"}, b.args...)...)
		if err == nil {
			t.Errorf("node console %s: no error", b.args)
			continue
		}
		for _, w := range b.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("node console %s: error %q does not say %q", b.args, err, w)
			}
		}
	}

	out, _, err := tr.run("", "node", "console", "--help")
	if err != nil || !strings.Contains(out, "--force") || !strings.Contains(out, "~. leaves") {
		t.Errorf("node console --help: %v\n%s", err, out)
	}
}
