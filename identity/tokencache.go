package identity

import (
	"crypto/sha256"
	"maps"
	"slices"
	"sync"
	"time"
)

// Verifying a token's signature (RS256: an RSA public-key operation plus
// JSON and base64 work) costs about 0.13 ms, on every request and every
// stdio call. A token's verification cannot change before it expires
// except by key rotation, so verified tokens are kept, by SHA-256 of the
// token, until the earliest of their exp and maxCacheAge after
// verification (so a key withdrawn from the JWKS stops its tokens within
// that). Only successes are kept: a token that fails is verified in full
// every time it is presented. Expiry is checked on every hit, and again by
// Current on every call.
const (
	maxCacheAge     = 5 * time.Minute
	maxCachedTokens = 4096
)

type cachedToken struct {
	p     *Principal
	until time.Time
}

// tokenCache is a bounded map of verified tokens. It is safe for
// concurrent use.
type tokenCache struct {
	mu  sync.Mutex
	m   map[[sha256.Size]byte]cachedToken
	max int
	now func() time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{m: map[[sha256.Size]byte]cachedToken{}, max: max, now: time.Now}
}

// get returns a copy of the principal verified from the token with key k,
// if it is cached and its time is not up.
func (c *tokenCache) get(k [sha256.Size]byte) *Principal {
	c.mu.Lock()
	e, ok := c.m[k]
	if ok && !c.now().Before(e.until) {
		delete(c.m, k)
		ok = false
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	return clonePrincipal(e.p)
}

// put keeps p, verified just now from the token with key k, until its
// expiry or maxCacheAge. A principal without an expiry is not kept.
func (c *tokenCache) put(k [sha256.Size]byte, p *Principal) {
	now := c.now()
	if p.Expiry.IsZero() || !now.Before(p.Expiry) {
		return
	}
	until := now.Add(maxCacheAge)
	if p.Expiry.Before(until) {
		until = p.Expiry
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.max {
		for key, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, key)
			}
		}
		// Still full: drop entries at random (map order) until there is
		// room; a dropped token is verified in full next time.
		for key := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, key)
		}
	}
	c.m[k] = cachedToken{p: clonePrincipal(p), until: until}
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// clonePrincipal copies p so that no caller can change what the cache
// hands to the next request. Claims values are immutable byte slices that
// nobody writes; the map itself is copied.
func clonePrincipal(p *Principal) *Principal {
	cp := *p
	cp.Groups = slices.Clone(p.Groups)
	cp.Claims = maps.Clone(p.Claims)
	return &cp
}
