package auth

import (
	"sync"
	"time"
)

// limiter counts failures per key in a fixed window, with a bounded number
// of keys: when full, windows that ended are dropped, and if none ended the
// new key is refused (fail closed) until one does.
type limiter struct {
	mu      sync.Mutex
	max     int
	window  time.Duration
	maxKeys int
	keys    map[string]*window
}

type window struct {
	start    time.Time
	failures int
}

func newLimiter(maxFailures int, w time.Duration, maxKeys int) *limiter {
	return &limiter{max: maxFailures, window: w, maxKeys: maxKeys, keys: make(map[string]*window)}
}

// allow reports whether key may try now.
func (l *limiter) allow(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.keys[key]
	if !ok {
		return len(l.keys) < l.maxKeys || l.sweep(now)
	}
	if now.Sub(w.start) >= l.window {
		delete(l.keys, key)
		return true
	}
	return w.failures < l.max
}

// over reports whether key's own window has reached the limit, whatever
// the table's fill: for callers that bound the failures of keys the table
// cannot hold some other way.
func (l *limiter) over(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.keys[key]
	return ok && now.Sub(w.start) < l.window && w.failures >= l.max
}

// fail records a failure for key.
func (l *limiter) fail(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.keys[key]
	if !ok || now.Sub(w.start) >= l.window {
		if !ok && len(l.keys) >= l.maxKeys && !l.sweep(now) {
			return
		}
		w = &window{start: now}
		l.keys[key] = w
	}
	w.failures++
}

// reset forgets key (after a successful login).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.keys, key)
}

// sweep drops ended windows and reports whether room was made. Caller
// holds mu.
func (l *limiter) sweep(now time.Time) bool {
	for k, w := range l.keys {
		if now.Sub(w.start) >= l.window {
			delete(l.keys, k)
		}
	}
	return len(l.keys) < l.maxKeys
}

func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// knownSet remembers, for ttl, keys that logged in (an account and the
// address it logged in from), with at most maxKeys entries: when full it
// drops expired entries, then the oldest. Only a successful login adds an
// entry, so an attacker cannot evict one without the password. Each entry
// also counts its own failures in a window (at most max), so a known
// address stays throttled even when the limiters' tables are full.
type knownSet struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	window  time.Duration
	maxKeys int
	at      map[string]*knownEntry
}

type knownEntry struct {
	seen     time.Time // last successful login
	start    time.Time // failure window start
	failures int
}

func newKnownSet(ttl time.Duration, maxFailures int, w time.Duration, maxKeys int) *knownSet {
	return &knownSet{ttl: ttl, max: maxFailures, window: w, maxKeys: maxKeys, at: make(map[string]*knownEntry)}
}

// add records a successful login for key (and forgets its failures).
func (k *knownSet) add(key string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.at[key]; !ok && len(k.at) >= k.maxKeys {
		var oldest string
		for key, e := range k.at {
			if now.Sub(e.seen) >= k.ttl {
				delete(k.at, key)
				continue
			}
			if o, ok := k.at[oldest]; !ok || e.seen.Before(o.seen) {
				oldest = key
			}
		}
		if len(k.at) >= k.maxKeys {
			delete(k.at, oldest)
		}
	}
	k.at[key] = &knownEntry{seen: now}
}

// state reports whether key is known and, if so, whether its own failures
// reached the limit in the current window.
func (k *knownSet) state(key string, now time.Time) (known, over bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.at[key]
	if !ok || now.Sub(e.seen) >= k.ttl {
		return false, false
	}
	return true, now.Sub(e.start) < k.window && e.failures >= k.max
}

// fail counts a failure for key if it is known.
func (k *knownSet) fail(key string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	e, ok := k.at[key]
	if !ok {
		return
	}
	if now.Sub(e.start) >= k.window {
		e.start, e.failures = now, 0
	}
	e.failures++
}

func (k *knownSet) size() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.at)
}
