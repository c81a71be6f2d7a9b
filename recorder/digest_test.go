package recorder

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestDigestKeyIsSharedAndNeverPrinted(t *testing.T) {
	p := filepath.Join(t.TempDir(), "keys", "journal-digest.key")
	// Concurrent first starts agree on one key.
	keys := make([]DigestKey, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := LoadOrCreateDigestKey(p)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	msg := []byte(`{"sql":"SELECT '234-56-7890'"}`)
	want := keys[0].Sum([]byte("arguments"), msg)
	for _, k := range keys {
		if got := k.Sum([]byte("arguments"), msg); got != want {
			t.Fatalf("two loads of one key file digest differently: %s, %s", got, want)
		}
	}
	plain := sha256.Sum256(msg)
	if want == hex.EncodeToString(plain[:]) || len(want) != 64 {
		t.Errorf("digest %s is not keyed", want)
	}
	if other := RandomDigestKey().Sum([]byte("arguments"), msg); other == want {
		t.Error("another key gives the same digest")
	}
	// Purposes and part boundaries are separated.
	if keys[0].Sum([]byte("call"), msg) == want || keys[0].Sum([]byte("ab"), []byte("c")) == keys[0].Sum([]byte("a"), []byte("bc")) {
		t.Error("digests of different parts collide")
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode: %v %v", fi, err)
	}
	raw, _ := os.ReadFile(p)
	for _, s := range []string{fmt.Sprint(keys[0]), fmt.Sprintf("%v %+v %#v %s", keys[0], keys[0], keys[0], keys[0])} {
		if strings.Contains(s, hex.EncodeToString(keys[0].k)) || strings.Contains(s, string(keys[0].k)) || strings.Contains(string(raw), s) {
			t.Errorf("the key shows in %q", s)
		}
	}
	// A malformed or short key file is refused, never replaced.
	bad := filepath.Join(t.TempDir(), "bad.key")
	os.WriteFile(bad, []byte("-----BEGIN AIRLOCK DIGEST KEY-----\nAAAA\n-----END AIRLOCK DIGEST KEY-----\n"), 0o600)
	if _, err := LoadOrCreateDigestKey(bad); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short key: %v", err)
	}
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := LoadOrCreateDigestKey(bad); err == nil || !strings.Contains(err.Error(), "not a PEM") {
		t.Errorf("malformed key: %v", err)
	}
}

func TestZeroDigestKeyPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("an unkeyed digest was computed")
		}
	}()
	DigestKey{}.Sum([]byte("x"))
}

// Pooled HMAC states are reset between uses: concurrent and repeated sums
// equal a freshly keyed HMAC over the same length-prefixed parts.
func TestDigestPooledStatesMatchFresh(t *testing.T) {
	raw := []byte("0123456789abcdef0123456789abcdef")
	k, err := NewDigestKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	fresh := func(parts ...[]byte) string {
		h := hmac.New(sha256.New, raw)
		for _, p := range parts {
			fmt.Fprintf(h, "%d:", len(p))
			h.Write(p)
		}
		return hex.EncodeToString(h.Sum(nil))
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				msg := []byte(strings.Repeat("x", (g*200+i)%97))
				if got, want := k.Sum([]byte("arguments"), msg), fresh([]byte("arguments"), msg); got != want {
					t.Errorf("goroutine %d sum %d: %s, want %s", g, i, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkDigest(b *testing.B) {
	k := RandomDigestKey()
	msg := []byte(`{"connection":"pg","sql":"SELECT id, email FROM customers WHERE id = 7"}`)
	b.ReportAllocs()
	for b.Loop() {
		k.Sum([]byte("arguments"), msg)
	}
}
