package api

import (
	"crypto/hmac"
	"crypto/sha256"
	"math"
	"net/netip"
	"sync"
	"time"
)

// bcrypt is slow on purpose (tens of milliseconds of CPU per check), so
// a client sending wrong passwords as fast as it can takes the server's
// CPU from booting nodes. Two things keep that bounded: a client address
// that failed too often is answered 429 without a check (loginLimiter),
// and credentials that were verified are remembered for a short while
// (credentialCache), so a script calling the API checks its password
// once a minute rather than once a request.

const (
	// credentialTTL is how long verified credentials are remembered.
	credentialTTL = 60 * time.Second
	// maxCredentials bounds the credentials remembered; only verified
	// ones are, so there are few.
	maxCredentials = 1024
	// maxLoginClients bounds the clients whose failures are tracked
	// before those that have none left to count are forgotten.
	maxLoginClients = 4096
)

// credentialCache remembers Authorization headers that matched a user,
// by their HMAC under a key made for this process: neither the header
// nor the password is kept.
type credentialCache struct {
	key []byte
	now func() time.Time

	mu      sync.Mutex
	entries map[[sha256.Size]byte]cachedCredential
}

type cachedCredential struct {
	user    string
	expires time.Time
	// users is the generation of auth.conf the credential matched.
	users uint64
}

func (c *credentialCache) sum(header string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(header))
	var s [sha256.Size]byte
	m.Sum(s[:0])
	return s
}

// lookup returns the user header matched, if it did within
// credentialTTL and auth.conf is still at generation users.
func (c *credentialCache) lookup(header string, users uint64) (string, bool) {
	s := c.sum(header)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[s]
	if !ok || e.users != users || !c.now().Before(e.expires) {
		return "", false
	}
	return e.user, true
}

// store remembers that header matched user in auth.conf at generation
// users.
func (c *credentialCache) store(header, user string, users uint64) {
	s := c.sum(header)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCredentials {
		for k, e := range c.entries {
			if e.users != users || !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCredentials {
			clear(c.entries)
		}
	}
	c.entries[s] = cachedCredential{user: user, expires: now.Add(credentialTTL), users: users}
}

// clear forgets every credential.
func (c *credentialCache) clear() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}

// loginLimiter bounds the password checks of each client: a token bucket
// of max checks that refills one every window/max. A check takes a token
// before it runs, so concurrent requests cannot overrun the bucket; a
// check that succeeds gives it back, so only failures count.
type loginLimiter struct {
	max    float64
	refill time.Duration // one token back every refill
	now    func() time.Time

	mu      sync.Mutex
	clients map[netip.Prefix]*loginBucket
}

type loginBucket struct {
	tokens float64
	at     time.Time // when tokens was computed
	warned bool      // the refusal was logged
}

func newLoginLimiter(max int, window time.Duration, now func() time.Time) *loginLimiter {
	return &loginLimiter{max: float64(max), refill: window / time.Duration(max), now: now,
		clients: map[netip.Prefix]*loginBucket{}}
}

// loginClient is whom failures are counted for: an IPv4 address, or the
// /64 an IPv6 address is in (a host commonly has a whole /64).
func loginClient(addr netip.Addr) netip.Prefix {
	bits := 32
	if addr.Is6() {
		bits = 64
	}
	p, _ := addr.Prefix(bits)
	return p
}

// bucketLocked returns the client's bucket, refilled up to now.
func (l *loginLimiter) bucketLocked(client netip.Prefix, now time.Time) *loginBucket {
	b := l.clients[client]
	if b == nil {
		if len(l.clients) >= maxLoginClients {
			for k, old := range l.clients {
				if l.refilled(old, now) >= l.max {
					delete(l.clients, k)
				}
			}
		}
		b = &loginBucket{tokens: l.max, at: now}
		l.clients[client] = b
		return b
	}
	b.tokens, b.at = l.refilled(b, now), now
	if b.tokens >= 1 {
		b.warned = false
	}
	return b
}

func (l *loginLimiter) refilled(b *loginBucket, now time.Time) float64 {
	return min(l.max, b.tokens+float64(now.Sub(b.at))/float64(l.refill))
}

// take lets addr run one password check, or says how long it must wait
// and whether this is the first refusal since it last could (to log it
// once).
func (l *loginLimiter) take(addr netip.Addr) (wait time.Duration, first, ok bool) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(loginClient(addr), now)
	if b.tokens >= 1 {
		b.tokens--
		return 0, false, true
	}
	wait = time.Duration(math.Ceil((1 - b.tokens) * float64(l.refill)))
	first, b.warned = !b.warned, true
	return wait, first, false
}

// refund gives back the token of a check that succeeded.
func (l *loginLimiter) refund(addr netip.Addr) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(loginClient(addr), now)
	b.tokens = min(l.max, b.tokens+1)
}
