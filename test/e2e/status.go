package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/wwboot/wwboot/internal/contract"
)

// Stages the daemon records, as /status reports them.
const (
	StageDHCP    = contract.StageDHCP
	StageIPXE    = contract.StageIPXE
	StageGrub    = contract.StageGrub
	StageKernel  = contract.StageKernel
	StageImage   = contract.StageImage
	StageSystem  = contract.StageSystem
	StageRuntime = contract.StageRuntime
)

// Failed reports whether sent is one of the daemon's failure marks.
func Failed(sent string) bool { return contract.Failed(sent) }

// Event is a change of one node's status, seen by polling /status.
type Event struct {
	At time.Time
	contract.NodeStatus
}

// StatusLog polls the daemon's /status and keeps every change of every
// node's status with the time it was first seen, so boot phases can be
// timed from the daemon's own records. A status replaced within one poll
// interval is not seen.
type StatusLog struct {
	url    string
	client *http.Client
	every  time.Duration
	log    *slog.Logger

	mu      sync.Mutex
	events  []Event
	current contract.StatusDoc
	lastErr error
	polled  bool
	changed chan struct{}
}

func newStatusLog(ns *Netns, url string, every time.Duration, log *slog.Logger) *StatusLog {
	return &StatusLog{
		url:     url,
		client:  &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: ns.DialContext}},
		every:   every,
		log:     log,
		changed: make(chan struct{}),
	}
}

// run polls until ctx ends.
func (s *StatusLog) run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		doc, err := s.fetch(ctx)
		now := time.Now()
		s.mu.Lock()
		s.lastErr = err
		if err == nil {
			for name, st := range doc.Nodes {
				if prev, ok := s.current.Nodes[name]; !ok || !sameStatus(prev, st) {
					if st.Stage != "" {
						s.events = append(s.events, Event{At: now, NodeStatus: st})
					}
				}
			}
			s.current = doc
			s.polled = true
		}
		close(s.changed)
		s.changed = make(chan struct{})
		s.mu.Unlock()
		select {
		case <-ctx.Done():
			s.client.CloseIdleConnections()
			return
		case <-t.C:
		}
	}
}

func sameStatus(a, b contract.NodeStatus) bool {
	return a.Stage == b.Stage && a.Sent == b.Sent && a.Bytes == b.Bytes && a.Addr == b.Addr && a.LastSeen.Equal(b.LastSeen)
}

func (s *StatusLog) fetch(ctx context.Context) (contract.StatusDoc, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return contract.StatusDoc{}, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return contract.StatusDoc{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return contract.StatusDoc{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return contract.StatusDoc{}, fmt.Errorf("GET %s: %s: %s", s.url, resp.Status, strings.TrimSpace(string(body)))
	}
	doc, err := contract.DecodeStatus(bytes.NewReader(body))
	if err != nil {
		return contract.StatusDoc{}, fmt.Errorf("GET %s: %w", s.url, err)
	}
	return doc, nil
}

// Events returns a copy of the changes seen so far, oldest first.
func (s *StatusLog) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Event(nil), s.events...)
}

// Wait polls until cond holds for the events and the current status, or
// ctx ends; what names the condition in the error.
func (s *StatusLog) Wait(ctx context.Context, what string, cond func(events []Event, nodes map[string]contract.NodeStatus) bool) error {
	for {
		s.mu.Lock()
		ok := s.polled && cond(s.events, s.current.Nodes)
		lastErr, changed := s.lastErr, s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return fmt.Errorf("daemon status: %s: %w (last poll: %v)", what, context.Cause(ctx), lastErr)
			}
			return fmt.Errorf("daemon status: %s: %w", what, context.Cause(ctx))
		case <-changed:
		}
	}
}

// WaitReady waits for the first successful poll.
func (s *StatusLog) WaitReady(ctx context.Context) error {
	return s.Wait(ctx, "daemon answering "+contract.PathStatus, func([]Event, map[string]contract.NodeStatus) bool { return true })
}

// EventLines lists events a line each, for failure messages.
func EventLines(events []Event) string {
	var b strings.Builder
	for _, e := range events {
		fmt.Fprintf(&b, "  %s node=%q stage=%s sent=%s bytes=%d addr=%s\n", e.At.Format("15:04:05.000"), e.Node, e.Stage, e.Sent, e.Bytes, e.Addr)
	}
	return b.String()
}

// NodeEvents returns the events of one node.
func NodeEvents(events []Event, node string) []Event {
	var out []Event
	for _, e := range events {
		if e.Node == node {
			out = append(out, e)
		}
	}
	return out
}

// Heartbeats returns the times of the node's successful runtime overlay
// requests after since: each poll that saw a new one. Requests within
// one second of each other share a "last seen" and count once.
func Heartbeats(events []Event, node string, since time.Time) []time.Time {
	var out []time.Time
	for _, e := range NodeEvents(events, node) {
		if e.Stage == StageRuntime && !Failed(e.Sent) && e.At.After(since) {
			out = append(out, e.At)
		}
	}
	return out
}
