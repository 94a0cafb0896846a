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
