package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"time"

	"github.com/wwboot/wwboot/internal/inventory"
)

// RemoteTarget is a node a remote command runs on, and the address its
// program is given; Err says why it cannot run there.
type RemoteTarget struct {
	Node string
	Addr netip.Addr
	Err  error
}

// RemoteTargets resolves hostlist patterns into nodes (each must exist)
// and each node's address, as Warewulf's ssh picks it: the IPv4 address
// of its primary network device (the one "primary network" names, else
// the first by name). A node without one gets an Err and no address.
func (s *Site) RemoteTargets(patterns []string) ([]RemoteTarget, error) {
	merged, err := s.mergedNodes(patterns)
	if err != nil {
		return nil, err
	}
	targets := make([]RemoteTarget, len(merged))
	for i, m := range merged {
		targets[i] = RemoteTarget{Node: m.Name}
		targets[i].Addr, targets[i].Err = primaryAddr(m)
	}
	return targets, nil
}

func primaryAddr(m *inventory.Merged) (netip.Addr, error) {
	if len(m.NetDevs) == 0 {
		return netip.Addr{}, errors.New("no network device")
	}
	net := inventory.Deref(m.PrimaryNetDev)
	if _, ok := m.NetDevs[net]; !ok {
		names := make([]string, 0, len(m.NetDevs))
		for name := range m.NetDevs {
			names = append(names, name)
		}
		sort.Strings(names) // as the overlays' .NetDevs and Warewulf
		net = names[0]
	}
	d := m.NetDevs[net]
	if d == nil || d.Ipaddr == nil || *d.Ipaddr == "" {
		return netip.Addr{}, fmt.Errorf("primary network device %s has no IPv4 address", net)
	}
	a, err := netip.ParseAddr(*d.Ipaddr)
	if err != nil || !a.Is4() {
		return netip.Addr{}, fmt.Errorf("primary network device %s: %q is not an IPv4 address", net, *d.Ipaddr)
	}
	return a, nil
}

// RemoteOptions say what RunRemote runs on each node and how many at
// once.
type RemoteOptions struct {
	// Rsh is the program run for each node as: Rsh ADDRESS COMMAND...
	Rsh     string
	Command []string
	// Fanout bounds the programs running at once (at least 1).
	Fanout int
	// Sleep is waited after each node's program before its slot serves
	// another node, as Warewulf's --sleep.
	Sleep time.Duration
}

// Argv is the program and arguments run for t.
func (o RemoteOptions) Argv(t RemoteTarget) []string {
	return append([]string{o.Rsh, t.Addr.String()}, o.Command...)
}

// RemoteOutput receives each line a node's program writes, as it is
// written, without its newline; calls for one node come in order, and
// calls for different nodes may come at once.
type RemoteOutput interface {
	Line(node string, stderr bool, line string)
}

// RemoteResult is how one node's program ended. Err is nil only for an
// exit status of 0; ExitCode is -1 when the program did not run or was
// killed by a signal.
type RemoteResult struct {
	Node     string
	ExitCode int
	Err      error
}

// RunRemote runs opts' command on every target that has an address, at
// most opts.Fanout at once, each program in its own process with an
// argument list (no shell on this side), its standard input empty, and
// its output passed on line by line. A node whose program cannot start
// or fails costs only its own slot. Results come in the targets' order.
// Cancelling ctx kills the programs still running.
func RunRemote(ctx context.Context, targets []RemoteTarget, opts RemoteOptions, out RemoteOutput) []RemoteResult {
	results := make([]RemoteResult, len(targets))
	for i, t := range targets {
		results[i] = RemoteResult{Node: t.Node, ExitCode: -1, Err: t.Err}
	}
	fanOut(ctx, len(targets), opts.Fanout, func(i int) {
		if targets[i].Err != nil {
			return // no address: nothing to run
		}
		results[i] = runOne(ctx, targets[i], opts, out)
		if opts.Sleep > 0 {
			select {
			case <-time.After(opts.Sleep):
			case <-ctx.Done():
			}
		}
	}, func(i int, err error) {
		if results[i].Err == nil {
			results[i].Err = err
		}
	})
	return results
}

func runOne(ctx context.Context, t RemoteTarget, opts RemoteOptions, out RemoteOutput) RemoteResult {
	argv := opts.Argv(t)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	stdout := &lineWriter{node: t.Node, out: out}
	stderr := &lineWriter{node: t.Node, stderr: true, out: out}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A program that exits but leaves a child holding its output open
	// does not hold up the others.
	cmd.WaitDelay = 2 * time.Second
	err := cmd.Run()
	stdout.flush()
	stderr.flush()
	res := RemoteResult{Node: t.Node, ExitCode: -1}
	var exit *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &exit) && exit.ExitCode() >= 0:
		res.ExitCode = exit.ExitCode()
		res.Err = fmt.Errorf("exit code %d", res.ExitCode)
	default:
		res.Err = err
	}
	return res
}

// lineWriter passes on complete lines; exec writes to it from one
// goroutine per stream.
type lineWriter struct {
	node   string
	stderr bool
	out    RemoteOutput
	buf    []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.out.Line(w.node, w.stderr, string(bytes.TrimSuffix(w.buf[:i], []byte("\r"))))
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// flush passes on a last line without a newline.
func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.out.Line(w.node, w.stderr, string(w.buf))
		w.buf = nil
	}
}

// RemoteGroup is the nodes whose programs ended the same way: Outcome is
// "exit code N" or the cause that failed them.
type RemoteGroup struct {
	Nodes   []string
	Failed  bool
	Outcome string
}

// SummarizeRemote groups results by how they ended: exit codes in
// ascending order, then the other causes in alphabetical order; nodes
// keep the results' order.
func SummarizeRemote(results []RemoteResult) []RemoteGroup {
	type key struct {
		ran     bool
		code    int
		outcome string
	}
	groups := map[key]*RemoteGroup{}
	var keys []key
	for _, r := range results {
		k := key{ran: r.ExitCode >= 0, code: r.ExitCode, outcome: fmt.Sprintf("exit code %d", r.ExitCode)}
		if !k.ran {
			k.outcome = "not run"
			if r.Err != nil {
				k.outcome = r.Err.Error()
			}
		}
		g, ok := groups[k]
		if !ok {
			g = &RemoteGroup{Failed: r.Err != nil || r.ExitCode != 0, Outcome: k.outcome}
			groups[k] = g
			keys = append(keys, k)
		}
		g.Nodes = append(g.Nodes, r.Node)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.ran != b.ran {
			return a.ran
		}
		if a.code != b.code {
			return a.code < b.code
		}
		return a.outcome < b.outcome
	})
	out := make([]RemoteGroup, len(keys))
	for i, k := range keys {
		out[i] = *groups[k]
	}
	return out
}
