package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
)

// powerTree is an installation whose n1 is an ipmi_sim BMC, n2 has no
// BMC address and n3's BMC never answers, with a 1 s ipmi.timeout. It
// returns the tree, the simulator and a function that puts "PORT" and
// "DEAD" for the ports in output.
func powerTree(t *testing.T) (*tree, *bmcsim.Sim, func(string) string) {
	sim := bmcsim.Start(t)
	dead := bmcsim.Silent(t)
	conf := filepath.Join(t.TempDir(), "nodes.conf")
	node := func(name string, port int) string {
		return fmt.Sprintf("  %s:\n    ipmi:\n      ipaddr: 127.0.0.1\n      port: \"%d\"\n      username: %s\n      password: %s\n",
			name, port, bmcsim.User, bmcsim.Password)
	}
	text := "nodeprofiles:\n  default: {}\nnodes:\n" + node("n1", sim.Port) + "  n2:\n    comment: no BMC\n" + node("n3", dead)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, conf)
	tr.appendConf("ipmi:\n  timeout: 1\n")
	norm := strings.NewReplacer(strconv.Itoa(sim.Port), "PORT", strconv.Itoa(dead), "DEAD").Replace
	return tr, sim, norm
}

func TestPowerWithSimulator(t *testing.T) {
	tr, sim, norm := powerTree(t)
	steps := []struct {
		args  []string
		out   string
		err   string
		calls []string // the chassis controls the step sent
	}{
		{args: []string{"power", "status", "n[1-3]"},
			out: "NODE  BMC              RESULT\n" +
				"n1    127.0.0.1:PORT   off\n" +
				"n2    --               error: no ipmi ipaddr\n" +
				"n3    127.0.0.1:DEAD   error: open session: timeout (no answer in time) after 1s\n",
			err: "power status: 2 of 3 nodes failed: n[2-3]"},
		{args: []string{"power", "on", "n1"}, out: "NODE  BMC             RESULT\nn1    127.0.0.1:PORT  ok\n", calls: []string{"power 1"}},
		{args: []string{"power", "status", "n1", "-j"},
			out: "[\n  {\n    \"node\": \"n1\",\n    \"bmc\": \"127.0.0.1:PORT\",\n    \"power\": \"on\"\n  }\n]\n"},
		{args: []string{"power", "off", "n1", "--show"},
			out: "NODE  BMC             WOULD SEND\nn1    127.0.0.1:PORT  ipmi lanplus admin@127.0.0.1:PORT: power off\n"},
		{args: []string{"power", "cycle", "n1", "--fanout", "1"}, out: "NODE  BMC             RESULT\nn1    127.0.0.1:PORT  ok\n", calls: []string{"power 0"}},
		{args: []string{"power", "bootdev", "pxe", "--persistent", "n1"}, out: "NODE  BMC             RESULT\nn1    127.0.0.1:PORT  ok\n", calls: []string{"boot pxe"}},
		{args: []string{"power", "identify", "on", "n1", "-y"}, out: "- node: n1\n  bmc: 127.0.0.1:PORT\n  result: ok\n", calls: []string{"identify 0 1"}},
		{args: []string{"node", "sensors", "n1"},
			out: "NODE  SENSOR    READING  UNIT       STATUS\nn1    CPU Temp  45       degrees C  ok\n"},
		{args: []string{"node", "sensors", "-F", "n[1-2]"},
			out: "NODE  SENSOR                 READING  UNIT       STATUS  LNR  LCR  LNC  UNC  UCR  UNR\n" +
				"n1    CPU Temp               45       degrees C  ok      0    5    10   80   90   95\n" +
				"n2    error: no ipmi ipaddr\n",
			err: "sensors full: 1 of 2 nodes failed: n2"},
		{args: []string{"power", "status", "n9"}, err: "no such node: n9"},
		{args: []string{"power", "bootdev", "floppy", "n1"}, err: `unknown command "floppy" for "wwctl power bootdev" (see wwctl power bootdev --help)`},
		{args: []string{"power", "status", "n1", "--fanout", "0"}, err: "--fanout 0: want 1 or more"},
	}
	for _, s := range steps {
		before := len(sim.Calls())
		out, _, err := tr.run("", s.args...)
		name := strings.Join(s.args, " ")
		if diff := cmp.Diff(squeeze(s.out), squeeze(norm(out))); diff != "" {
			t.Errorf("wwctl %s: stdout (-want +got):\n%s", name, diff)
		}
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if gotErr != s.err {
			t.Errorf("wwctl %s: error %q, want %q", name, gotErr, s.err)
		}
		// A cycle's power on comes from ipmi_sim's timer, maybe later.
		calls := sim.Calls()[before:]
		calls = calls[:min(len(calls), len(s.calls))]
		if diff := cmp.Diff(s.calls, calls, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("wwctl %s: chassis controls (-want +got):\n%s", name, diff)
		}
	}
}

// squeeze makes every run of spaces one: the columns' widths follow the
// ports' lengths, which the placeholders do not keep.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}
