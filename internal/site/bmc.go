package site

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/wwboot/wwboot/internal/bmc"
	"github.com/wwboot/wwboot/internal/inventory"
)

// DefaultFanout is how many BMCs RunBMC talks to at once unless told.
const DefaultFanout = 64

// BMCOptions are how RunBMC runs.
type BMCOptions struct {
	// Fanout bounds the BMCs talked to at once; 0 is DefaultFanout.
	Fanout int
	// Show only says what would be done (BMCResult.Would): nothing is
	// sent.
	Show bool
	// Timeout bounds each BMC; 0 is warewulf.conf's ipmi.timeout.
	Timeout time.Duration
	// Progress, when set, is called after each node with the count done.
	Progress func(done, total int)
	// NewDriver makes a node's driver; nil is bmc.New with the site's
	// datadir and Redfish CA settings.
	NewDriver func(bmc.Target) (bmc.Driver, error)
}

// BMCResult is one node's outcome.
type BMCResult struct {
	Node string `json:"node"`
	// BMC is the BMC's address and port, "" when the node has none.
	BMC string `json:"bmc"`
	// Would is what Show would have sent.
	Would string `json:"would,omitempty"`
	bmc.Answer
	// Err names the node and the cause; nil on success.
	Err error `json:"-"`
}

// NodeError is a node's failure: the node, its BMC, what was asked and
// why it failed (errors.Is finds bmc.ErrTimeout, bmc.ErrAuth, ...).
type NodeError struct {
	Node, BMC string
	Request   bmc.Request
	Err       error
}

func (e *NodeError) Error() string {
	if e.BMC == "" {
		return fmt.Sprintf("%s: %s: %v", e.Node, e.Request, e.Err)
	}
	return fmt.Sprintf("%s (BMC %s): %s: %v", e.Node, e.BMC, e.Request, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// BMCTarget is a merged node's BMC.
func BMCTarget(m *inventory.Merged) bmc.Target {
	t := bmc.Target{Node: m.Name}
	i := m.Ipmi
	if i == nil {
		return t
	}
	s := inventory.Deref
	t.Ipaddr, t.Port, t.UserName, t.Password = s(i.Ipaddr), s(i.Port), s(i.UserName), s(i.Password)
	t.Interface, t.EscapeChar, t.Netmask, t.Gateway = s(i.Interface), s(i.EscapeChar), s(i.Netmask), s(i.Gateway)
	t.Write, t.Template, t.Tags = s(i.Write), s(i.Template), i.Tags
	return t
}

// RunBMC runs r on the BMCs of the nodes the hostlist patterns name
// (every one must exist), at most Fanout at once, each bounded by its own
// timeout: a dead BMC costs its node, never the others. The results are
// in node order; a node's failure is its BMCResult.Err, a *NodeError. The
// error is for what stops everything: bad patterns, unknown nodes, an
// unreadable nodes.conf, a bad request.
func (s *Site) RunBMC(ctx context.Context, patterns []string, r bmc.Request, o BMCOptions) ([]BMCResult, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	merged, err := s.mergedNodes(patterns)
	if err != nil {
		return nil, err
	}
	targets := make([]bmc.Target, len(merged))
	for i, m := range merged {
		targets[i] = BMCTarget(m)
	}
	return s.runBMC(ctx, targets, r, o), nil
}

func (s *Site) runBMC(ctx context.Context, targets []bmc.Target, r bmc.Request, o BMCOptions) []BMCResult {
	fanout := o.Fanout
	if fanout <= 0 {
		fanout = DefaultFanout
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = time.Duration(s.cfg.IPMI.Timeout) * time.Second
	}
	newDriver := o.NewDriver
	if newDriver == nil {
		newDriver = bmc.Factory(bmc.Options{Datadir: s.cfg.Paths.Datadir,
			RedfishCA: s.cfg.IPMI.RedfishCA, RedfishInsecure: s.cfg.IPMI.RedfishInsecure})
	}
	results := make([]BMCResult, len(targets))
	for i, t := range targets {
		results[i] = BMCResult{Node: t.Node}
		if t.Ipaddr != "" {
			results[i].BMC = t.Address()
		}
	}
	var mu sync.Mutex
	done := 0
	fanOut(ctx, len(targets), fanout, func(i int) {
		s.runOne(ctx, &results[i], targets[i], r, o.Show, timeout, newDriver)
		if o.Progress != nil {
			mu.Lock()
			done++
			o.Progress(done, len(targets))
			mu.Unlock()
		}
	}, func(i int, err error) {
		results[i].Err = &NodeError{Node: targets[i].Node, BMC: results[i].BMC, Request: r, Err: fmt.Errorf("not started: %w", err)}
	})
	return results
}

func (s *Site) runOne(ctx context.Context, res *BMCResult, t bmc.Target, r bmc.Request, show bool, timeout time.Duration,
	newDriver func(bmc.Target) (bmc.Driver, error)) {
	fail := func(err error) { res.Err = &NodeError{Node: t.Node, BMC: res.BMC, Request: r, Err: err} }
	d, err := newDriver(t)
	if err != nil {
		fail(err)
		return
	}
	if show {
		res.Would = d.Describe(r)
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	a, err := bmc.Do(ctx, d, r)
	if err != nil {
		if errors.Is(err, bmc.ErrTimeout) {
			err = fmt.Errorf("%w after %v", err, time.Since(start).Round(100*time.Millisecond))
		}
		fail(err)
		s.log.Debug("bmc", "node", t.Node, "bmc", res.BMC, "request", r.String(), "error", err)
		return
	}
	res.Answer = a
}
