package exchange

import (
	"sync"
	"time"
)

// DefaultAuthCacheTTL is how long a successful authentication is remembered
// in the process when Config.AuthCacheTTL is zero.
const DefaultAuthCacheTTL = 2 * time.Second

// authCache remembers recent authentications, keyed by the secret's hash, so
// that a client sending many requests costs one token lookup every TTL
// instead of one per request. Whatever this process changes about tokens or
// roles (a revocation, a new membership) empties it at once; a change made by
// another process shows within the TTL. An entry never outlives its token's
// expiry.
type authCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[32]byte]cachedPrincipal
}

type cachedPrincipal struct {
	p     Principal
	until time.Time
}

// maxCachedPrincipals bounds the cache; past it, it starts afresh.
const maxCachedPrincipals = 10_000

func newAuthCache(ttl time.Duration) *authCache {
	return &authCache{ttl: ttl, m: make(map[[32]byte]cachedPrincipal)}
}

func (c *authCache) get(hash [32]byte, now time.Time) (Principal, bool) {
	if c.ttl <= 0 {
		return Principal{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[hash]
	if !ok || !now.Before(e.until) {
		return Principal{}, false
	}
	return e.p, true
}

func (c *authCache) put(hash [32]byte, p Principal, now time.Time, expires *time.Time) {
	if c.ttl <= 0 {
		return
	}
	until := now.Add(c.ttl)
	if expires != nil && expires.Before(until) {
		until = *expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxCachedPrincipals {
		c.m = make(map[[32]byte]cachedPrincipal)
	}
	c.m[hash] = cachedPrincipal{p: p, until: until}
}

// forget empties the cache: the process changed a token or a role.
func (c *authCache) forget() {
	c.mu.Lock()
	c.m = make(map[[32]byte]cachedPrincipal)
	c.mu.Unlock()
}
