package site

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
	"github.com/wwboot/wwboot/internal/testkit/sitetest"
)

func bmcNode(name string, port int, password, extra string) string {
	return fmt.Sprintf("  %s:\n    ipmi:\n      ipaddr: 127.0.0.1\n      port: \"%d\"\n      username: %s\n      password: %s\n%s",
		name, port, bmcsim.User, password, extra)
}

// Nodes with a live BMC, a dead one, none, a refused password and a
// Warewulf command template, in one run: each gets its own result or its
// own error, and the dead BMC holds up nobody.
func TestRunBMCEachNodeItsOwnOutcome(t *testing.T) {
	sim := bmcsim.Start(t)
	in := sitetest.New(t, "")
	tmpl := filepath.Join(in.Root, "bmc.tmpl")
	log := filepath.Join(in.Root, "template.log")
	sitetest.Write(t, tmpl, `{{ if eq .Cmd "PowerStatus" }}echo "{{ .Ipaddr }} {{ .Password }}" >> `+log+`; echo "Chassis Power is on"{{ end }}`)
	in.WriteNodes(t, "nodeprofiles:\n  default: {}\nnodes:\n"+
		bmcNode("n1", sim.Port, bmcsim.Password, "")+
		bmcNode("n2", bmcsim.Silent(t), bmcsim.Password, "")+
		"  n3:\n    comment: no bmc\n"+
		bmcNode("n4", sim.Port, "wrong", "")+
		bmcNode("n5", sim.Port, bmcsim.Password, "      interface: lan\n")+
		bmcNode("n6", 1, "tmplpass", "      template: "+tmpl+"\n"))
	s, err := Open(Options{Config: in.Load(t)})
	if err != nil {
		t.Fatal(err)
	}
	const timeout = 2 * time.Second
	start := time.Now()
	res, err := s.RunBMC(t.Context(), []string{"n[1-6]"}, bmc.Request{Op: bmc.OpStatus}, BMCOptions{Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > timeout+time.Second {
		t.Errorf("took %v: the dead BMC held up the others", took)
	}
	type outcome struct {
		Node  string
		Power bmc.PowerState
		Cause error
	}
	var got []outcome
	for _, r := range res {
		o := outcome{Node: r.Node, Power: r.Power}
		for _, cause := range []error{bmc.ErrNoAddress, bmc.ErrTimeout, bmc.ErrAuth} {
			if errors.Is(r.Err, cause) {
				o.Cause = cause
			}
		}
		if r.Err != nil && o.Cause == nil {
			t.Errorf("%s: unexpected error %v", r.Node, r.Err)
		}
		got = append(got, o)
	}
	want := []outcome{
		{Node: "n1", Power: bmc.PowerOff}, {Node: "n2", Cause: bmc.ErrTimeout}, {Node: "n3", Cause: bmc.ErrNoAddress},
		{Node: "n4", Cause: bmc.ErrAuth}, {Node: "n5", Power: bmc.PowerOff}, {Node: "n6", Power: bmc.PowerOn},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	// The template was rendered with the node's fields and run.
	if b, _ := os.ReadFile(log); string(b) != "127.0.0.1 tmplpass\n" {
		t.Errorf("the template's command wrote %q", b)
	}
	// The error names the node, its BMC, what was asked and the cause.
	if got, want := res[1].Err.Error(), fmt.Sprintf("n2 (BMC %s): power status: open session: timeout", res[1].BMC); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("n2's error = %q, want it to start with %q", got, want)
	}
	if got, want := res[2].Err.Error(), "n3: power status: no ipmi ipaddr"; got != want {
		t.Errorf("n3's error = %q, want %q", got, want)
	}
}

// --show sends nothing and never shows a password.
func TestRunBMCShow(t *testing.T) {
	in := sitetest.New(t, "")
	tmpl := filepath.Join(in.Root, "bmc.tmpl")
	sitetest.Write(t, tmpl, `{{ if eq .Cmd "PowerOn" }}ipmitool -H {{ .Ipaddr }} -P {{ .Password }} chassis power on{{ end }}`)
	in.WriteNodes(t, "nodeprofiles:\n  default: {}\nnodes:\n"+bmcNode("n1", 7000, "s3cret", "")+
		bmcNode("n2", 7001, "s3cret", "      template: "+tmpl+"\n"))
	s, err := Open(Options{Config: in.Load(t)})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.RunBMC(t.Context(), []string{"n1,n2"}, bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}, BMCOptions{Show: true})
	if err != nil {
		t.Fatal(err)
	}
	got := []string{res[0].Would, res[1].Would}
	want := []string{"ipmi lanplus admin@127.0.0.1:7000: power on", "ipmitool -H 127.0.0.1 -P ***** chassis power on"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("show (-want +got):\n%s", diff)
	}
}

// fakeDriver counts the calls at once and waits for release.
type fakeDriver struct {
	bmc.Driver
	mu              *sync.Mutex
	running, maxRun *int
	delay           time.Duration
}

func (f fakeDriver) PowerStatus(ctx context.Context) (bmc.PowerState, error) {
	f.mu.Lock()
	*f.running++
	*f.maxRun = max(*f.maxRun, *f.running)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); *f.running--; f.mu.Unlock() }()
	select {
	case <-time.After(f.delay):
		return bmc.PowerOn, nil
	case <-ctx.Done():
		return "", fmt.Errorf("%w", bmc.ErrTimeout)
	}
}

// The fan-out bounds the BMCs talked to at once, and a cancelled run
// starts no more nodes.
func TestRunBMCFanoutAndCancel(t *testing.T) {
	s, _ := openSite(t, nil)
	targets := make([]bmc.Target, 40)
	for i := range targets {
		targets[i] = bmc.Target{Node: fmt.Sprintf("n%d", i), Ipaddr: "127.0.0.1"}
	}
	var mu sync.Mutex
	var running, maxRun int
	newDriver := func(bmc.Target) (bmc.Driver, error) {
		return fakeDriver{mu: &mu, running: &running, maxRun: &maxRun, delay: 20 * time.Millisecond}, nil
	}
	res := s.runBMC(t.Context(), targets, bmc.Request{Op: bmc.OpStatus}, BMCOptions{Fanout: 4, NewDriver: newDriver, Timeout: time.Second})
	if maxRun != 4 {
		t.Errorf("at most %d BMCs at once, want 4", maxRun)
	}
	for _, r := range res {
		if r.Err != nil || r.Power != bmc.PowerOn {
			t.Errorf("%s: %v %v", r.Node, r.Power, r.Err)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	var done int
	res = s.runBMC(ctx, targets, bmc.Request{Op: bmc.OpStatus}, BMCOptions{Fanout: 2, NewDriver: newDriver, Timeout: time.Second,
		Progress: func(n, _ int) {
			done = n
			if n == 2 {
				cancel()
			}
		}})
	var notStarted int
	for _, r := range res {
		if errors.Is(r.Err, context.Canceled) {
			notStarted++
		}
	}
	if notStarted < len(targets)-4 {
		t.Errorf("%d nodes not started after the cancel (done %d), want at least %d", notStarted, done, len(targets)-4)
	}
}
