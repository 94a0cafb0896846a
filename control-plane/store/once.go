package store

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Once runs background work once per period across every control-plane
// process sharing the store (daily sample selection, expiring approvals,
// witness alerts, session sweeps).
//
// RunOnce calls fn unless the job called name already completed the period
// that starts at period (fn returned nil), or another process is running
// it right now; ran reports whether fn was called. A period whose fn
// failed, or whose process died while running it, is run again by the
// next call anywhere. A crash between fn's success and its record can run
// a period twice: jobs must tolerate that (check their own result first).
// Callers name the period by its start (e.g. the UTC day,
// time.Now().UTC().Truncate(24*time.Hour)); control-plane/cluster.Schedule
// calls RunOnce on a ticker.
type Once interface {
	RunOnce(ctx context.Context, name string, period time.Time, fn func(context.Context) error) (ran bool, err error)
}

var (
	_ Once = (*Postgres)(nil)
	_ Once = (*LocalOnce)(nil)
)

// LocalOnce is Once for a single control-plane process (the SQLite store):
// a mutex per job and an in-memory record of completed periods, the last
// one per job (so bounded by the number of jobs).
type LocalOnce struct {
	mu      sync.Mutex
	running map[string]bool
	done    map[string]time.Time
}

// NewLocalOnce returns an empty LocalOnce.
func NewLocalOnce() *LocalOnce {
	return &LocalOnce{running: map[string]bool{}, done: map[string]time.Time{}}
}

// RunOnce implements Once.
func (l *LocalOnce) RunOnce(ctx context.Context, name string, period time.Time, fn func(context.Context) error) (bool, error) {
	if err := need("run once", name); err != nil {
		return false, err
	}
	l.mu.Lock()
	if l.running[name] || (!l.done[name].IsZero() && !period.After(l.done[name])) {
		l.mu.Unlock()
		return false, nil
	}
	l.running[name] = true
	l.mu.Unlock()
	err := fn(ctx)
	l.mu.Lock()
	delete(l.running, name)
	if err == nil {
		l.done[name] = period
	}
	l.mu.Unlock()
	if err != nil {
		return true, fmt.Errorf("run once %s: %w", name, err)
	}
	return true, nil
}
