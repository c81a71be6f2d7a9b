// Package lograte keeps a failure that repeats on every call from flooding
// the log: the first occurrence of a kind of error is logged in full, the
// repeats within the interval are counted, and one summary line per
// interval says how many more there were. Any stage can use it for errors
// that are logged per call (journal writes, target connections, webhooks).
package lograte

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// DefaultInterval is how often a repeating error is summarised.
const DefaultInterval = 10 * time.Second

// maxKeys bounds the kinds tracked at once; keys are constant strings
// from code, so this is a guard, not a limit anyone should meet. Beyond
// it, a new kind is logged every time (nothing is lost).
const maxKeys = 1024

// Limiter rate-limits log lines by key. The zero value is not usable; use
// New. A Limiter is safe for concurrent use.
type Limiter struct {
	log   *slog.Logger
	every time.Duration

	mu    sync.Mutex
	kinds map[string]*kind
	stop  bool
}

type kind struct {
	level      slog.Level
	msg        string
	suppressed int
	timer      *time.Timer
}

// New returns a limiter logging to log, with one summary per interval
// (every <= 0: DefaultInterval).
func New(log *slog.Logger, every time.Duration) *Limiter {
	if every <= 0 {
		every = DefaultInterval
	}
	return &Limiter{log: log, every: every, kinds: map[string]*kind{}}
}

// Error logs msg at ERROR under key, unless an error of the same key was
// logged within the interval; then it only counts it.
func (l *Limiter) Error(key, msg string, args ...any) {
	l.Log(context.Background(), slog.LevelError, key, msg, args...)
}

// Warn is Error at WARN.
func (l *Limiter) Warn(key, msg string, args ...any) {
	l.Log(context.Background(), slog.LevelWarn, key, msg, args...)
}

// Log logs msg at level under key, or counts it while the key is quiet.
// When the interval ends with repeats counted, one line says
// "msg (N more in the last 10s)" with attributes suppressed=N and
// interval (the first line's attributes are not repeated); the next interval starts then. An interval without repeats
// ends the quiet period: the next occurrence is logged in full again.
func (l *Limiter) Log(ctx context.Context, level slog.Level, key, msg string, args ...any) {
	l.mu.Lock()
	if k := l.kinds[key]; k != nil {
		k.suppressed++
		l.mu.Unlock()
		return
	}
	if !l.stop && len(l.kinds) < maxKeys {
		k := &kind{level: level, msg: msg}
		l.kinds[key] = k
		k.timer = time.AfterFunc(l.every, func() { l.tick(key) })
	}
	l.mu.Unlock()
	l.log.Log(ctx, level, msg, args...)
}

// tick ends key's interval: a summary of the repeats, if any.
func (l *Limiter) tick(key string) {
	l.mu.Lock()
	k := l.kinds[key]
	if k == nil {
		l.mu.Unlock()
		return
	}
	n := k.suppressed
	k.suppressed = 0
	if n == 0 || l.stop {
		delete(l.kinds, key)
	} else {
		k.timer.Reset(l.every)
	}
	l.mu.Unlock()
	if n > 0 {
		l.summary(k, n)
	}
}

func (l *Limiter) summary(k *kind, n int) {
	l.log.Log(context.Background(), k.level, fmt.Sprintf("%s (%d more in the last %s)", k.msg, n, l.every),
		"suppressed", n, "interval", l.every.String())
}

// Close stops the timers and logs the summaries still pending, so a
// shutdown loses no count.
func (l *Limiter) Close() {
	l.mu.Lock()
	l.stop = true
	pending := map[*kind]int{}
	for _, k := range l.kinds {
		k.timer.Stop()
		if k.suppressed > 0 {
			pending[k] = k.suppressed
		}
	}
	l.kinds = map[string]*kind{}
	l.mu.Unlock()
	for k, n := range pending {
		l.summary(k, n)
	}
}
