package jit

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	"github.com/airlockhq/airlock/policy"
	"github.com/airlockhq/airlock/store"
)

// The grant lookup is a store read on every call (0.18 ms, and about 1 ms
// at 32 clients, queued behind journal commits on the store's one
// connection). CachedActiveGrant answers from memory instead, as long as
// the answer cannot be stale:
//
//   - in this process every change to a grant (issue, approve, revoke,
//     expire: each publishes an event) drops the whole view at once;
//   - a process sharing a store file (a store with a Path) writes a fresh
//     random nonce to the file PATH.grants after each such change, and
//     every lookup reads it (one pread, ~1 µs): a nonce other than the one
//     read before the view was filled drops the view, so another process's
//     revocation stops the next call here;
//   - whatever the signal, no view is older than grantViewTTL, so a writer
//     that does not signal (another store, a file that cannot be written)
//     is seen within a second;
//   - expiry is checked on every lookup, against the grant's own expiry.
//
// A lookup that cannot read the signal file reads the store.
const (
	grantViewTTL     = 500 * time.Millisecond
	maxGrantViewKeys = 10000
	nonceSize        = 16
)

type grantKey struct{ subject, connection string }

type grantView struct {
	grants []*store.Request // active when read; expiry checked per lookup
	filled time.Time
}

// grantCache is the in-memory view of active grants behind
// CachedActiveGrant. Its zero value is ready; it opens the signal file on
// first use.
type grantCache struct {
	once   sync.Once
	signal *os.File // nil: no signal file (TTL only)
	// changes, when the store announces changes itself (PostgreSQL
	// LISTEN/NOTIFY), replaces the signal file: its generation is the
	// nonce, and while it is not live every lookup reads the store.
	changes ChangeNotifier

	mu    sync.Mutex
	gen   uint64 // bumped by every drop; a fill started under another gen is discarded
	nonce [nonceSize]byte
	views map[grantKey]grantView
}

type pather interface{ Path() string }

func (c *grantCache) init(st Store) {
	c.once.Do(func() {
		c.views = map[grantKey]grantView{}
		if cn, ok := st.(ChangeNotifier); ok {
			c.changes = cn
			return
		}
		p, ok := st.(pather)
		if !ok || p.Path() == "" || p.Path() == ":memory:" {
			return
		}
		f, err := os.OpenFile(p.Path()+".grants", os.O_CREATE|os.O_RDWR, 0o600)
		if err == nil {
			c.signal = f
		}
	})
}

// readNonce reads the signal file's nonce; ok is false when there is a
// file but it cannot be read (then nothing may be served from memory).
func (c *grantCache) readNonce() (n [nonceSize]byte, ok bool) {
	if c.changes != nil {
		gen, live := c.changes.Changes()
		binary.BigEndian.PutUint64(n[:8], gen)
		return n, live
	}
	if c.signal == nil {
		return n, true
	}
	// A new, empty file reads as zeros (io.EOF).
	if _, err := c.signal.ReadAt(n[:], 0); err != nil && !errors.Is(err, io.EOF) {
		return n, false
	}
	return n, true
}

// drop forgets every view and, when told to, signals processes sharing
// the store.
func (c *grantCache) drop(signal bool) error {
	c.mu.Lock()
	c.gen++
	clear(c.views)
	c.mu.Unlock()
	if !signal || c.signal == nil {
		return nil
	}
	var n [nonceSize]byte
	_, _ = rand.Read(n[:])
	if _, err := c.signal.WriteAt(n[:], 0); err != nil {
		return err
	}
	// Our own signal: the views were just dropped, so the next lookup need
	// not drop them again. A later write by another process still differs.
	c.mu.Lock()
	c.nonce = n
	c.mu.Unlock()
	return nil
}

// CachedActiveGrant is ActiveGrant answered from an in-memory view of the
// subject's active grants on connection; see grantViewTTL for when the
// view is trusted.
func (s *Service) CachedActiveGrant(ctx context.Context, subject, connection string, access policy.Access) (*store.Request, error) {
	c := &s.grants
	c.init(s.st)
	nonce, ok := c.readNonce()
	if !ok {
		return s.ActiveGrant(ctx, subject, connection, access)
	}
	now := s.now()
	k := grantKey{subject, connection}
	c.mu.Lock()
	if c.nonce != nonce {
		// Another process changed a grant since the views were filled.
		c.gen++
		clear(c.views)
		c.nonce = nonce
	}
	v, hit := c.views[k]
	if hit && now.Sub(v.filled) >= grantViewTTL {
		delete(c.views, k)
		hit = false
	}
	gen := c.gen
	c.mu.Unlock()
	if !hit {
		grants, err := s.st.ListRequests(ctx, store.RequestFilter{Kind: store.KindGrant, Subject: subject,
			Connection: connection, Statuses: []string{store.StatusActive}})
		if err != nil {
			return nil, err
		}
		v = grantView{grants: grants, filled: now}
		c.mu.Lock()
		if c.gen == gen {
			if len(c.views) >= maxGrantViewKeys {
				clear(c.views)
			}
			c.views[k] = v
		}
		c.mu.Unlock()
	}
	var best *store.Request
	for _, g := range v.grants {
		if g.ExpiresAt.After(now) && policy.Covers(policy.Access(g.Access), access) &&
			(best == nil || g.ExpiresAt.After(best.ExpiresAt)) {
			best = g
		}
	}
	if best == nil {
		return nil, nil
	}
	g := *best // the caller's own copy; the view is shared
	return &g, nil
}

// grantChanged is told of every event: a change to a grant drops the
// view here and signals the other processes.
func (s *Service) grantChanged(e Event) {
	if e.Request != nil && e.Request.Kind != store.KindGrant {
		return
	}
	s.grants.init(s.st)
	if err := s.grants.drop(true); err != nil {
		s.log.Warn("jit: signalling a grant change to processes sharing the store; they see it within a second", "err", err)
	}
}
