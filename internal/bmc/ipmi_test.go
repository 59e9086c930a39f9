package bmc_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/testkit/bmcsim"
)

func simTarget(port int, intf string) bmc.Target {
	return bmc.Target{Node: "n1", Ipaddr: "127.0.0.1", Port: strconv.Itoa(port), UserName: bmcsim.User,
		Password: bmcsim.Password, Interface: intf}
}

func do(t *testing.T, tg bmc.Target, r bmc.Request) (bmc.Answer, error) {
	t.Helper()
	d, err := bmc.New(tg, bmc.Options{})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return bmc.Do(ctx, d, r)
}

// Every operation against OpenIPMI's simulator, over IPMI 2.0 and 1.5:
// what the simulator's chassis control was asked, and what it answered.
func TestIPMIWithSimulator(t *testing.T) {
	for _, intf := range []string{"lanplus", "lan", ""} {
		t.Run("interface="+intf, func(t *testing.T) {
			sim := bmcsim.Start(t)
			tg := simTarget(sim.Port, intf)
			status := func() bmc.PowerState {
				t.Helper()
				a, err := do(t, tg, bmc.Request{Op: bmc.OpStatus})
				if err != nil {
					t.Fatalf("power status: %v", err)
				}
				return a.Power
			}
			if got := status(); got != bmc.PowerOff {
				t.Errorf("power status of a new simulator = %q, want off", got)
			}
			steps := []struct {
				name string
				req  bmc.Request
				call string
			}{
				{"on", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}, "power 1"},
				{"off", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOff}, "power 0"},
				{"reset", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionReset}, "reset 1"},
				{"soft", bmc.Request{Op: bmc.OpPower, Action: bmc.ActionSoft}, "shutdown 1"},
				{"bootdev pxe", bmc.Request{Op: bmc.OpBootDev, Device: bmc.BootPXE}, "boot pxe"},
				{"bootdev disk", bmc.Request{Op: bmc.OpBootDev, Device: bmc.BootDisk, Persistent: true}, "boot default"},
				{"identify on", bmc.Request{Op: bmc.OpIdentify, On: true}, "identify 0 1"},
				{"identify off", bmc.Request{Op: bmc.OpIdentify}, "identify 0 0"},
			}
			for _, s := range steps {
				before := len(sim.Calls())
				if _, err := do(t, tg, s.req); err != nil {
					t.Errorf("%s: %v", s.name, err)
					continue
				}
				calls := sim.Calls()[before:]
				if len(calls) == 0 || calls[len(calls)-1] != s.call {
					t.Errorf("%s: the simulator was asked %q, want last %q", s.name, calls, s.call)
				}
			}
			if _, err := do(t, tg, bmc.Request{Op: bmc.OpPower, Action: bmc.ActionOn}); err != nil {
				t.Fatal(err)
			}
			if got := status(); got != bmc.PowerOn {
				t.Errorf("power status after power on = %q, want on", got)
			}
			a, err := do(t, tg, bmc.Request{Op: bmc.OpSensors})
			if err != nil {
				t.Fatalf("sensors: %v", err)
			}
			want := []bmc.Sensor{{Name: "CPU Temp", Type: "Temperature", Reading: "45", Unit: "degrees C", Status: "ok"}}
			if diff := cmp.Diff(want, a.Sensors); diff != "" {
				t.Errorf("sensors (-want +got):\n%s", diff)
			}
		})
	}
}

// A refused password, a BMC that never answers and one that answers
// garbage each fail with their cause, within the deadline.
func TestIPMIFailures(t *testing.T) {
	sim := bmcsim.Start(t)
	const timeout = 3 * time.Second
	cases := []struct {
		name   string
		target bmc.Target
		want   error
	}{
		{"wrong password lanplus", func() bmc.Target { tg := simTarget(sim.Port, "lanplus"); tg.Password = "wrong"; return tg }(), bmc.ErrAuth},
		{"wrong password lan", func() bmc.Target { tg := simTarget(sim.Port, "lan"); tg.Password = "wrong"; return tg }(), bmc.ErrAuth},
		{"wrong user", func() bmc.Target { tg := simTarget(sim.Port, "lanplus"); tg.UserName = "nobody"; return tg }(), bmc.ErrAuth},
		{"silent", simTarget(bmcsim.Silent(t), "lanplus"), bmc.ErrTimeout},
		{"silent lan", simTarget(bmcsim.Silent(t), "lan"), bmc.ErrTimeout},
		{"garbage", simTarget(bmcsim.Garbage(t, []byte("HTTP/1.0 400 Bad Request\r\n\r\n")), "lanplus"), bmc.ErrBadAnswer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := bmc.New(c.target, bmc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), timeout)
			defer cancel()
			start := time.Now()
			_, err = d.PowerStatus(ctx)
			took := time.Since(start)
			if !errors.Is(err, c.want) {
				t.Errorf("error = %v, want %v", err, c.want)
			}
			if took > timeout+time.Second {
				t.Errorf("took %v, more than the %v deadline", took, timeout)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("the error spans lines (a node's error is one line of a table): %q", err)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
		})
	}
}
