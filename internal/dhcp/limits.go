package dhcp

import (
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the limits in Options.
const (
	DefaultOfferHold       = 10 * time.Second
	DefaultOfferRate       = 20 // offers per second to clients that are not nodes
	DefaultClientOfferRate = 10 // offers per minute to one such client
)

// logInterval is how often a condition that may repeat for every packet
// of a flood is logged: once, with the count since the last time.
const logInterval = time.Minute

// maxTrackedClients bounds the per-client buckets kept; beyond it the
// full ones are dropped, then any.
const maxTrackedClients = 4096

// bucket is a token bucket: burst tokens at most, refilled at rate per
// second.
type bucket struct {
	tokens float64
	at     time.Time
}

func (b *bucket) refill(now time.Time, rate, burst float64) {
	if now.After(b.at) {
		b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
		b.at = now
	}
}

// offerLimiter rate-limits the offers to clients that are not nodes: in
// all, and per hardware address so that one client cannot use the
// whole rate. A client's bucket is made only when it gets an offer, so
// a flood of random addresses makes at most the total rate of them.
type offerLimiter struct {
	rate, burst             float64 // all clients, per second
	clientRate, clientBurst float64 // one client, per second

	mu      sync.Mutex
	total   bucket
	clients map[string]*bucket
}

// newOfferLimiter allows perSecond offers a second in all (as many at
// once) and perMinute a minute to one client (as many at once).
func newOfferLimiter(perSecond, perMinute int, now time.Time) *offerLimiter {
	return &offerLimiter{rate: float64(perSecond), burst: float64(perSecond),
		clientRate: float64(perMinute) / 60, clientBurst: float64(perMinute),
		total: bucket{tokens: float64(perSecond), at: now}, clients: map[string]*bucket{}}
}

// allow takes a token for an offer to hw, or reports that none is left.
func (l *offerLimiter) allow(hw string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.clients[hw]
	if c != nil {
		c.refill(now, l.clientRate, l.clientBurst)
		if c.tokens < 1 {
			return false
		}
	}
	l.total.refill(now, l.rate, l.burst)
	if l.total.tokens < 1 {
		return false
	}
	l.total.tokens--
	if c == nil {
		l.prune(now)
		c = &bucket{tokens: l.clientBurst, at: now}
		l.clients[hw] = c
	}
	c.tokens--
	return true
}

// prune makes room for a new client bucket: those refilled by now are
// the same as none.
func (l *offerLimiter) prune(now time.Time) {
	if len(l.clients) < maxTrackedClients {
		return
	}
	for hw, b := range l.clients {
		if b.refill(now, l.clientRate, l.clientBurst); b.tokens >= l.clientBurst {
			delete(l.clients, hw)
		}
	}
	for hw := range l.clients {
		if len(l.clients) < maxTrackedClients {
			break
		}
		delete(l.clients, hw)
	}
}

// logEvery counts a repeated condition and says when to log it: the
// first time, then at most once per interval, with the count since the
// last log.
type logEvery struct {
	interval time.Duration

	mu      sync.Mutex
	last    time.Time
	pending uint64
}

func (e *logEvery) note(now time.Time) (n uint64, due bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.pending++
	if !e.last.IsZero() && now.Sub(e.last) < e.interval && !now.Before(e.last) {
		return 0, false
	}
	n, e.pending, e.last = e.pending, 0, now
	return n, true
}

// Stats counts what the limits refused since the server started.
type Stats struct {
	// PoolExhausted are DISCOVERs from clients that are not nodes which
	// found no address left in the dynamic range.
	PoolExhausted uint64
	// OffersReused are offers of an address offered to another client
	// whose hold had not ended, because the range had no other: a flood
	// of DISCOVERs, or a range too small.
	OffersReused uint64
	// OffersLimited are DISCOVERs from clients that are not nodes left
	// unanswered by the offer rate limits.
	OffersLimited uint64
	// UnknownNetwork are requests left unanswered because they came from
	// a network that is not served: relayed from a subnet without a
	// network entry, or a node's whose nodes.conf address is not on the
	// network it asked from, which has no dynamic range.
	UnknownNetwork uint64
	// RequestsRefused are REQUESTs answered with a NAK: for an address
	// not offered to the client, or not the node's.
	RequestsRefused uint64
}

// counters are the Stats and their logs.
type counters struct {
	poolExhausted, offersReused, offersLimited, requestsRefused, unknownNetwork atomic.Uint64

	exhaustedLog, reusedLog, limitedLog, refusedLog, relayLog, offsideLog logEvery
}

func newCounters() *counters {
	return &counters{exhaustedLog: logEvery{interval: logInterval}, reusedLog: logEvery{interval: logInterval},
		limitedLog: logEvery{interval: logInterval}, refusedLog: logEvery{interval: logInterval},
		relayLog: logEvery{interval: logInterval}, offsideLog: logEvery{interval: logInterval}}
}

// Stats returns the counts since the server started, for /metrics.
func (s *Server) Stats() Stats {
	return Stats{PoolExhausted: s.counts.poolExhausted.Load(), OffersReused: s.counts.offersReused.Load(), OffersLimited: s.counts.offersLimited.Load(),
		RequestsRefused: s.counts.requestsRefused.Load(), UnknownNetwork: s.counts.unknownNetwork.Load()}
}
