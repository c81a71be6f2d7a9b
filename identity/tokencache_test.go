package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// A cached token is refused the moment it expires: the cache never
// answers past exp, and the full check then says why.
func TestVerifyCacheNeverOutlivesExp(t *testing.T) {
	d, srv := newServedIssuer(t)
	v, err := NewVerifier(context.Background(), VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, d, MintOptions{Subject: "alice", Groups: []string{"eng"}, Audience: testAudience, TTL: 2 * time.Second})
	p1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if v.cache.len() != 1 {
		t.Fatalf("verified token not cached: %d entries", v.cache.len())
	}
	// A hit is a copy: what one request does to its principal does not
	// reach the next.
	p1.Groups[0] = "admins"
	p2, err := v.Verify(context.Background(), tok)
	if err != nil || p2 == p1 || p2.Subject != "alice" || p2.Groups[0] != "eng" || !p2.Expiry.Equal(p1.Expiry) {
		t.Fatalf("hit: %+v %v", p2, err)
	}
	for !time.Now().After(p2.Expiry) {
		time.Sleep(50 * time.Millisecond)
	}
	_, err = v.Verify(context.Background(), tok)
	var ae *AuthError
	if !errors.As(err, &ae) || ae.Reason != "token expired" {
		t.Fatalf("expired cached token: %v", err)
	}
	if v.cache.len() != 0 {
		t.Errorf("expired token still cached")
	}
}

// The cache reads its own clock: an entry is gone at its exp and after
// maxCacheAge, whichever comes first.
func TestTokenCacheUntil(t *testing.T) {
	now := time.Now()
	c := newTokenCache(10)
	c.now = func() time.Time { return now }
	short, long := sha256.Sum256([]byte("short")), sha256.Sum256([]byte("long"))
	c.put(short, &Principal{Subject: "a", Expiry: now.Add(time.Minute)})
	c.put(long, &Principal{Subject: "b", Expiry: now.Add(time.Hour)})
	c.put(sha256.Sum256([]byte("local")), &Principal{Subject: "local"})                            // no expiry: never kept
	c.put(sha256.Sum256([]byte("stale")), &Principal{Subject: "c", Expiry: now.Add(-time.Second)}) // already expired
	if c.len() != 2 {
		t.Fatalf("%d entries, want 2", c.len())
	}
	if c.get(short) == nil || c.get(long) == nil {
		t.Fatal("fresh entries missing")
	}
	now = now.Add(time.Minute)
	if c.get(short) != nil {
		t.Error("entry answered at its exp")
	}
	if c.get(long) == nil {
		t.Error("entry gone before its time")
	}
	now = now.Add(maxCacheAge)
	if c.get(long) != nil {
		t.Error("entry answered after maxCacheAge")
	}
}

// The cache is bounded, and refused tokens are never kept.
func TestTokenCacheBounded(t *testing.T) {
	c := newTokenCache(8)
	exp := time.Now().Add(time.Hour)
	for i := range 100 {
		c.put(sha256.Sum256(fmt.Appendf(nil, "tok%d", i)), &Principal{Subject: "a", Expiry: exp})
	}
	if n := c.len(); n > 8 {
		t.Fatalf("%d entries, bound 8", n)
	}

	d, srv := newServedIssuer(t)
	v, err := NewVerifier(context.Background(), VerifierConfig{Issuer: d.Issuer(), Audience: testAudience, HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	tok := mint(t, d, MintOptions{Subject: "alice", Audience: testAudience})
	forged := tok[:strings.LastIndexByte(tok, '.')+1] + "AAAA" + tok[strings.LastIndexByte(tok, '.')+5:]
	for range 2 {
		if _, err := v.Verify(context.Background(), forged); err == nil {
			t.Fatal("forged token accepted")
		}
	}
	other := mint(t, d, MintOptions{Subject: "alice", Audience: "someone-else"})
	for range 2 {
		if _, err := v.Verify(context.Background(), other); err == nil {
			t.Fatal("token for another audience accepted")
		}
	}
	if v.cache.len() != 0 {
		t.Errorf("refused tokens cached: %d", v.cache.len())
	}
	// The genuine token still verifies after its forgery was tried.
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}
