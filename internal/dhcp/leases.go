package dhcp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/wwboot/wwboot/internal/atomicfile"
)

// declineHold is how long an address a client declined (found in use)
// is kept out of the pool.
const declineHold = 10 * time.Minute

// Lease is a dynamic-range address associated with a hardware address.
// The association outlives the lease: a client coming back after expiry
// gets the same address while nobody else took it.
type Lease struct {
	HWAddr  string     `json:"hwaddr"`
	Addr    netip.Addr `json:"ipaddr"`
	Expires time.Time  `json:"expires"`
	// Bound is false while the address is only offered.
	Bound bool `json:"-"`
}

type leaseFile struct {
	Leases []Lease `json:"leases"`
}

// errPoolExhausted is returned when every dynamic address is taken, and
// errNoRange when there is no dynamic range.
var (
	errPoolExhausted = errors.New("no free address in the dynamic range")
	errNoRange       = errors.New("no dynamic range")
)

// leases is the dynamic range's lease table, persisted as JSON in path
// ("" keeps it in memory). Addresses reserved by an offer are not
// persisted: a restart forgets them, not the bound ones.
type leases struct {
	path   string
	ranges []addrRange // the dynamic ranges of every network served
	// hold is how long an offer reserves its address; an offer not
	// requested by then is an address like any other.
	hold time.Duration

	flushMu sync.Mutex // orders writers, so the last write is the newest table

	mu       sync.Mutex
	dirty    bool // renewals not yet written
	byHW     map[string]*Lease
	byAddr   map[netip.Addr]*Lease
	declined map[netip.Addr]time.Time
	// next is, per range, where the search for a never-used address
	// resumes.
	next map[addrRange]netip.Addr
}

// addrRange is a dynamic range of IPv4 addresses, start to end
// included; the zero value is no range.
type addrRange struct{ start, end netip.Addr }

func (r addrRange) valid() bool { return r.start.IsValid() }

func (r addrRange) contains(a netip.Addr) bool {
	return r.start.IsValid() && a.Is4() && r.start.Compare(a) <= 0 && a.Compare(r.end) <= 0
}

func (r addrRange) String() string { return r.start.String() + "-" + r.end.String() }

// newLeases makes the lease table of ranges, one per network served.
// The table is keyed by hardware address across them: a client that
// moves to another network gets an address of that network's range in
// place of its old one.
func newLeases(path string, ranges ...addrRange) (*leases, error) {
	l := &leases{path: path, ranges: ranges, hold: DefaultOfferHold, byHW: map[string]*Lease{},
		byAddr: map[netip.Addr]*Lease{}, declined: map[netip.Addr]time.Time{}, next: map[addrRange]netip.Addr{}}
	if path == "" {
		return l, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	var f leaseFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("read leases %s: %w", path, err)
	}
	for _, le := range f.Leases {
		if !le.Addr.Is4() || le.HWAddr == "" || l.byAddr[le.Addr] != nil || l.byHW[le.HWAddr] != nil {
			continue
		}
		le.Bound = true
		l.put(&le)
	}
	return l, nil
}

func (l *leases) put(le *Lease) {
	if old := l.byAddr[le.Addr]; old != nil && old.HWAddr != le.HWAddr {
		delete(l.byHW, old.HWAddr)
	}
	if old := l.byHW[le.HWAddr]; old != nil && old.Addr != le.Addr {
		delete(l.byAddr, old.Addr)
	}
	l.byHW[le.HWAddr] = le
	l.byAddr[le.Addr] = le
}

// inRange reports whether a is in one of the ranges.
func (l *leases) inRange(a netip.Addr) bool {
	for _, r := range l.ranges {
		if r.contains(a) {
			return true
		}
	}
	return false
}

// usable reports whether hw may be given a: in rng, not reserved,
// declined, or in use by another client.
func (l *leases) usable(hw string, a netip.Addr, rng addrRange, reserved func(netip.Addr) bool, now time.Time) bool {
	if !rng.contains(a) || reserved(a) || now.Before(l.declined[a]) {
		return false
	}
	le := l.byAddr[a]
	return le == nil || le.HWAddr == hw || !now.Before(le.Expires)
}

// Offer reserves an address of rng for hw and returns it: the one hw had
// before when still free, else the one it asks for when free, else a
// never-used one, else the one whose lease expired longest ago, else the
// one offered longest ago to a client that has not requested it (RFC
// 2131 4.3.1 lets a server give an offered address to another client:
// that client's REQUEST gets a NAK and it starts again); reused says so.
// Bound leases are never taken. reserved reports addresses that are not
// the range's to give (node addresses, the server's own).
func (l *leases) Offer(hw string, rng addrRange, requested netip.Addr, reserved func(netip.Addr) bool, now time.Time) (a netip.Addr, reused bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !rng.valid() {
		return netip.Addr{}, false, errNoRange
	}
	hold := now.Add(l.hold)
	if le := l.byHW[hw]; le != nil && l.usable(hw, le.Addr, rng, reserved, now) {
		if le.Expires.Before(hold) {
			le.Expires = hold
		}
		return le.Addr, false, nil
	}
	if requested.IsValid() && l.byAddr[requested] == nil && l.usable(hw, requested, rng, reserved, now) {
		l.put(&Lease{HWAddr: hw, Addr: requested, Expires: hold})
		return requested, false, nil
	}
	if a, ok := l.neverUsed(hw, rng, reserved, now); ok {
		l.put(&Lease{HWAddr: hw, Addr: a, Expires: hold})
		return a, false, nil
	}
	older := func(a, b *Lease) bool {
		return b == nil || a.Expires.Before(b.Expires) || a.Expires.Equal(b.Expires) && a.Addr.Less(b.Addr)
	}
	var oldest, oldestOffer *Lease
	for _, le := range l.byAddr {
		switch {
		case l.usable(hw, le.Addr, rng, reserved, now):
			if older(le, oldest) {
				oldest = le
			}
		case !le.Bound && rng.contains(le.Addr) && !reserved(le.Addr) && !now.Before(l.declined[le.Addr]):
			if older(le, oldestOffer) {
				oldestOffer = le
			}
		}
	}
	if oldest == nil {
		oldest, reused = oldestOffer, true
	}
	if oldest == nil {
		return netip.Addr{}, false, errPoolExhausted
	}
	l.put(&Lease{HWAddr: hw, Addr: oldest.Addr, Expires: hold})
	return oldest.Addr, reused, nil
}

// neverUsed finds an address of rng nobody has held, searching round
// the range from where the last search stopped.
func (l *leases) neverUsed(hw string, rng addrRange, reserved func(netip.Addr) bool, now time.Time) (netip.Addr, bool) {
	a := l.next[rng]
	if !rng.contains(a) {
		a = rng.start
	}
	for first := a; ; {
		if l.byAddr[a] == nil && l.usable(hw, a, rng, reserved, now) {
			l.next[rng] = a.Next()
			return a, true
		}
		if a = a.Next(); !rng.contains(a) {
			a = rng.start
		}
		if a == first {
			return netip.Addr{}, false
		}
	}
}

// Bind confirms hw's REQUEST for a, of rng, and extends its lease to expires. It
// fails when a is not hw's: offered to it, or leased to it before and
// still free. A REQUEST for any other address binds nothing, so that
// requests nobody offered cannot take the range. It writes the table
// when the lease is new; renewals are written by the caller's Flush.
func (l *leases) Bind(hw string, a netip.Addr, rng addrRange, reserved func(netip.Addr) bool, now, expires time.Time) error {
	l.mu.Lock()
	le := l.byHW[hw]
	if le == nil || le.Addr != a {
		l.mu.Unlock()
		return fmt.Errorf("%s was not offered to %s", a, hw)
	}
	if !l.usable(hw, a, rng, reserved, now) {
		l.mu.Unlock()
		return fmt.Errorf("%s is not available to %s", a, hw)
	}
	changed := !le.Bound
	le.Bound = true
	le.Expires = expires
	l.dirty = l.dirty || !changed
	l.mu.Unlock()
	if changed {
		return l.Flush()
	}
	return nil
}

// Release ends hw's lease on a now, keeping the association for its
// next request.
func (l *leases) Release(hw string, a netip.Addr, now time.Time) error {
	l.mu.Lock()
	le := l.byHW[hw]
	if le == nil || le.Addr != a {
		l.mu.Unlock()
		return nil
	}
	le.Expires = now
	bound := le.Bound
	l.mu.Unlock()
	if bound {
		return l.Flush()
	}
	return nil
}

// Decline takes a out of the pool for a while: a client found it in use.
func (l *leases) Decline(hw string, a netip.Addr, now time.Time) error {
	l.mu.Lock()
	if !l.inRange(a) {
		l.mu.Unlock()
		return nil
	}
	l.declined[a] = now.Add(declineHold)
	le := l.byHW[hw]
	if le != nil && le.Addr == a {
		delete(l.byHW, hw)
		delete(l.byAddr, a)
	}
	l.mu.Unlock()
	if le != nil && le.Bound {
		return l.Flush()
	}
	return nil
}

// Snapshot returns the bound leases sorted by address.
func (l *leases) Snapshot() []Lease {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.snapshotLocked()
}

func (l *leases) snapshotLocked() []Lease {
	out := make([]Lease, 0, len(l.byAddr))
	for _, le := range l.byAddr {
		if le.Bound {
			out = append(out, *le)
		}
	}
	slices.SortFunc(out, func(a, b Lease) int { return a.Addr.Compare(b.Addr) })
	return out
}

// Flush writes the bound leases to the lease file.
func (l *leases) Flush() error {
	if l.path == "" {
		return nil
	}
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	l.mu.Lock()
	snap := l.snapshotLocked()
	l.dirty = false
	l.mu.Unlock()
	data, err := json.MarshalIndent(leaseFile{Leases: snap}, "", "  ")
	if err != nil {
		return fmt.Errorf("save leases: %w", err)
	}
	if err := atomicfile.WriteFile(l.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("save leases: %w", err)
	}
	return nil
}

// FlushRenewals writes the lease file if renewals changed it since the
// last write.
func (l *leases) FlushRenewals() error {
	l.mu.Lock()
	dirty := l.dirty
	l.mu.Unlock()
	if !dirty {
		return nil
	}
	return l.Flush()
}
