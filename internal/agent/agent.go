// Package agent is wwclient, the program that stays on a booted node: it
// fetches the node's runtime overlay from the provisioning server every
// update interval and applies it. Each contact is also the node's
// heartbeat in "wwctl node status".
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/wwboot/wwboot/internal/nodeclient"
)

// Options are what an Agent works with.
type Options struct {
	Config *Config
	// Root is the directory the overlay is applied to; "" is "/".
	Root string
	// StateFile keeps the last ETag and the files the overlay placed;
	// "" is <Root>/warewulf/wwclient.state.
	StateFile string
	Log       *slog.Logger
	// Refresh, when it receives, makes the agent ask now (SIGHUP).
	Refresh <-chan os.Signal
}

// Agent applies a node's runtime overlay.
type Agent struct {
	cfg     *Config
	fetcher *nodeclient.Fetcher
	apply   *applier
	state   string
	log     *slog.Logger
	refresh <-chan os.Signal
}

// New checks the options and prepares the HTTP client.
func New(o Options) (*Agent, error) {
	if o.Config == nil {
		return nil, errors.New("agent: no configuration")
	}
	root := o.Root
	if root == "" {
		root = "/"
	}
	client, err := newHTTPClient(o.Config)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: o.Config, fetcher: newFetcher(client), state: o.StateFile, log: o.Log, refresh: o.Refresh,
		apply: &applier{root: root, chown: os.Geteuid() == 0}}
	if a.state == "" {
		a.state = filepath.Join(root, "warewulf", "wwclient.state")
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a, nil
}

// Sync contacts the server once and applies the runtime overlay if it
// changed since the last one applied. It reports whether it downloaded
// one.
func (a *Agent) Sync(ctx context.Context) (bool, error) {
	st := readState(a.state)
	body, etag, err := fetch(ctx, a.fetcher, a.cfg, st.ETag)
	if err != nil {
		return false, err
	}
	if body == nil {
		a.log.Debug("runtime overlay unchanged", "etag", etag)
		return false, nil
	}
	entries, err := readOverlay(body)
	if err != nil {
		return true, fmt.Errorf("runtime overlay: %w", err)
	}
	placed, changed, applyErr := a.apply.apply(entries, st.Files)
	// Remember what the overlay placed even when some entries failed, so
	// their removal later is not forgotten; but not its ETag, so the next
	// contact tries again.
	next := state{ETag: etag, Files: placed}
	if applyErr != nil {
		next.ETag = ""
	}
	if err := writeState(a.state, next); err != nil {
		applyErr = errors.Join(applyErr, fmt.Errorf("save state: %w", err))
	}
	a.log.Info("applied runtime overlay", "bytes", len(body), "entries", len(entries), "changed", changed, "etag", etag)
	if applyErr != nil {
		return true, fmt.Errorf("apply runtime overlay: %w", applyErr)
	}
	return true, nil
}

// Run contacts the server every interval until ctx ends. After a failure
// it tries again after 1 s, doubling up to the interval, and logs only
// the first failure, a changed error, and every failure whose count is a
// power of two, so a long outage does not flood the journal.
func (a *Agent) Run(ctx context.Context) error {
	a.log.Info("wwclient started", "server", runtimeURL(a.cfg), "interval", a.cfg.Interval,
		"source_port", a.cfg.sourcePort())
	failures := 0
	lastErr := ""
	for {
		_, err := a.Sync(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := a.cfg.Interval
		if err != nil {
			failures++
			if failures&(failures-1) == 0 || err.Error() != lastErr {
				a.log.Warn("runtime overlay update failed", "failures", failures, "err", err)
			}
			lastErr = err.Error()
			wait = min(time.Second<<min(failures-1, 16), a.cfg.Interval)
		} else if failures > 0 {
			a.log.Info("server reachable again", "after_failures", failures)
			failures, lastErr = 0, ""
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-a.refresh:
			t.Stop()
			a.log.Info("refresh requested")
		case <-t.C:
		}
	}
}
