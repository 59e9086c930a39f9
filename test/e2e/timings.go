package e2e

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// InitLine is wwinit's first console line: the node's own init runs. It
// is not anchored at the start of the line: what iPXE printed last
// ("Booting, single stage..", without a newline) may still be on it.
var InitLine = regexp.MustCompile(`wwinit: booting node (\S+)`)

// PhaseNames are the boot phases Timings reports, in boot order.
func PhaseNames() []string {
	return []string{"DHCP", "iPXE script", "kernel", "image", "overlays", "init", "wwclient"}
}

// Timings is when a node finished each boot phase, after its VM started.
// A phase the status polls did not see (replaced within one poll) is
// missing.
type Timings struct {
	Node   string
	Phases map[string]time.Duration
}

// BootTimings works out a node's phases from the daemon's status records
// (each stage is recorded when its answer has been sent) and, for init,
// the console: DHCP (the lease, from the embedded DHCP server), iPXE
// script (or GRUB's configuration), kernel, image, overlays (the last overlay iPXE loaded), init
// (wwinit runs) and wwclient (its first runtime overlay request).
func BootTimings(events []Event, node string, vm *VM) Timings {
	t := Timings{Node: node, Phases: map[string]time.Duration{}}
	var initAt time.Time
	for _, l := range vm.Console.Lines() {
		if InitLine.MatchString(l.Text) {
			initAt = l.At
			t.Phases["init"] = l.At.Sub(vm.Started)
			break
		}
	}
	first := func(name string, at time.Time) {
		if _, ok := t.Phases[name]; !ok {
			t.Phases[name] = at.Sub(vm.Started)
		}
	}
	for _, e := range NodeEvents(events, node) {
		if e.At.Before(vm.Started) {
			continue
		}
		beforeInit := initAt.IsZero() || e.At.Before(initAt)
		switch {
		case e.Stage == StageDHCP:
			first("DHCP", e.At)
		case e.Stage == StageIPXE, e.Stage == StageGrub:
			// A node booting GRUB: its configuration from /grub/.
			first("iPXE script", e.At)
		case e.Stage == StageKernel:
			first("kernel", e.At)
		case e.Stage == StageImage:
			first("image", e.At)
		case e.Stage == StageSystem && beforeInit, e.Stage == StageRuntime && beforeInit:
			// The runtime overlay, when iPXE may load it, comes last.
			t.Phases["overlays"] = e.At.Sub(vm.Started)
		case e.Stage == StageRuntime && !Failed(e.Sent):
			first("wwclient", e.At)
		}
	}
	return t
}

// String is one row of a table: the node and each phase in seconds.
func (t Timings) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| %s |", t.Node)
	for _, p := range PhaseNames() {
		if d, ok := t.Phases[p]; ok {
			fmt.Fprintf(&b, " %.1f |", d.Seconds())
		} else {
			b.WriteString(" - |")
		}
	}
	return b.String()
}

// TimingsHeader is the header of the table String's rows belong to.
func TimingsHeader() string {
	return "| node | " + strings.Join(PhaseNames(), " | ") + " |\n|" + strings.Repeat("---|", len(PhaseNames())+1)
}
