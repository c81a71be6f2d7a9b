package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// DiscoveryError is OIDC discovery failing: the issuer did not answer, or
// answered with no usable document.
type DiscoveryError struct {
	Issuer string
	Err    error
}

func (e *DiscoveryError) Error() string {
	return fmt.Sprintf("identity: verifier: discovery for %q: %v", e.Issuer, e.Err)
}

func (e *DiscoveryError) Unwrap() error { return e.Err }

// Backoff bounds of discovery retries.
var (
	DiscoveryRetryMin = time.Second
	DiscoveryRetryMax = time.Minute
)

// discoveryRetry holds the verifier once discovery has succeeded, or the
// last error while it has not.
type discoveryRetry struct {
	mu      sync.Mutex
	v       *oidc.IDTokenVerifier
	lastErr error
	done    chan struct{}
}

func (r *discoveryRetry) verifier() (*oidc.IDTokenVerifier, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.v != nil {
		return r.v, nil
	}
	return nil, r.lastErr
}

// Pending reports why the verifier accepts no token yet (discovery has not
// succeeded), or nil once it is ready.
func (v *Verifier) Pending() error {
	if v.v != nil || v.retry == nil {
		return nil
	}
	_, err := v.retry.verifier()
	return err
}

// NewVerifierRetrying is NewVerifier for a gateway that must start while
// its identity provider is unreachable: when discovery fails it returns a
// verifier that refuses every token (fail closed) and retries discovery in
// the background with exponential backoff (DiscoveryRetryMin doubling up
// to DiscoveryRetryMax) until it succeeds or ctx ends, logging each
// failure and the recovery. Configuration errors are returned as they are.
func NewVerifierRetrying(ctx context.Context, cfg VerifierConfig, log *slog.Logger) (*Verifier, error) {
	v, err := NewVerifier(ctx, cfg)
	var de *DiscoveryError
	if err == nil || !errors.As(err, &de) || strings.Contains(de.Err.Error(), "did not match the issuer") {
		// A provider that answers with another issuer is a configuration
		// error, not an outage: waiting will not fix it.
		return v, err
	}
	r := &discoveryRetry{lastErr: err, done: make(chan struct{})}
	groupsClaim := cfg.GroupsClaim
	if groupsClaim == "" {
		groupsClaim = "groups"
	}
	v = &Verifier{retry: r, groupsClaim: groupsClaim, issuer: cfg.Issuer, audience: cfg.Audience, cache: newTokenCache(maxCachedTokens)}
	wait := DiscoveryRetryMin
	log.Warn("identity: the OIDC issuer cannot be reached for discovery; every call is refused until it answers; retrying",
		"issuer", cfg.Issuer, "retry_in", wait, "err", de.Err)
	go func() {
		defer close(r.done)
		for attempt := 2; ; attempt++ {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			nv, err := NewVerifier(ctx, cfg)
			if err == nil {
				r.mu.Lock()
				r.v, r.lastErr = nv.v, nil
				r.mu.Unlock()
				log.Info("identity: OIDC discovery succeeded; accepting tokens", "issuer", cfg.Issuer, "attempt", attempt)
				return
			}
			wait = min(2*wait, DiscoveryRetryMax)
			r.mu.Lock()
			r.lastErr = err
			r.mu.Unlock()
			log.Warn("identity: OIDC discovery still failing; calls stay refused", "issuer", cfg.Issuer,
				"attempt", attempt, "retry_in", wait, "err", errors.Unwrap(err))
		}
	}()
	return v, nil
}
