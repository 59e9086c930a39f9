package tftp

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Why a request gets no slot; the text goes to the client in an error
// packet.
var (
	errBusy       = errors.New("server busy, try again")
	errClientBusy = errors.New("too many transfers from your address, try again")
)

// slot is one transfer in progress.
type slot struct {
	addr    netip.Addr
	started time.Time
	// acked is set once the client acknowledged something: from then on
	// the transfer is a real client's and is never evicted.
	acked  atomic.Bool
	cancel func()
}

// slots admits transfers: at most max in all and perClient from one
// address. A request that finds every slot taken evicts the oldest
// transfer never acknowledged, since a client that acknowledges nothing
// is either gone or not a client; only when every transfer is
// acknowledged is the request refused.
type slots struct {
	max, perClient int

	mu       sync.Mutex
	active   map[*slot]struct{}
	byClient map[netip.Addr]int

	refused, evicted atomic.Uint64
}

func newSlots(max, perClient int) *slots {
	return &slots{max: max, perClient: perClient, active: map[*slot]struct{}{}, byClient: map[netip.Addr]int{}}
}

// take admits a transfer for peer; cancel stops it if it is evicted.
func (s *slots) take(peer *net.UDPAddr, now time.Time, cancel func()) (*slot, error) {
	a := peer.AddrPort().Addr().Unmap()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byClient[a] >= s.perClient {
		s.refused.Add(1)
		return nil, errClientBusy
	}
	if len(s.active) >= s.max {
		var victim *slot
		for sl := range s.active {
			if !sl.acked.Load() && (victim == nil || sl.started.Before(victim.started)) {
				victim = sl
			}
		}
		if victim == nil {
			s.refused.Add(1)
			return nil, errBusy
		}
		s.removeLocked(victim)
		victim.cancel()
		s.evicted.Add(1)
	}
	sl := &slot{addr: a, started: now, cancel: cancel}
	s.active[sl] = struct{}{}
	s.byClient[a]++
	return sl, nil
}

// release frees sl's slot, unless it was evicted.
func (s *slots) release(sl *slot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.active[sl]; ok {
		s.removeLocked(sl)
	}
}

func (s *slots) removeLocked(sl *slot) {
	delete(s.active, sl)
	if s.byClient[sl.addr]--; s.byClient[sl.addr] <= 0 {
		delete(s.byClient, sl.addr)
	}
}

// inUse is the number of transfers in progress.
func (s *slots) inUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.active)
}

// Stats counts the requests the transfer limits turned away.
type Stats struct {
	// Refused are requests answered with an error packet because their
	// address had ClientTransfers transfers, or every slot was taken by
	// transfers in progress.
	Refused uint64
	// Evicted are transfers never acknowledged that were stopped to make
	// room for a new request.
	Evicted uint64
}

// Stats returns the counts since the server started.
func (s *Server) Stats() Stats {
	return Stats{Refused: s.slots.refused.Load(), Evicted: s.slots.evicted.Load()}
}
