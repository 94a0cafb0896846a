package syncserver

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// seenFlushEvery is the least time between two flushes of "site seen"
// records: heartbeats of many sites share one pass over the store.
const seenFlushEvery = 100 * time.Millisecond

// seen collects "site seen" records (hello and heartbeats) and writes them
// to the store from one goroutine, so connection goroutines never run the
// store's (deep-stack) code and stay small while idle. It holds at most
// one pending record per site.
type seen struct {
	mu      sync.Mutex
	pending map[store.Identity]seenRecord
	wake    chan struct{}
}

type seenRecord struct {
	at            time.Time
	runnerVersion string
	health        []byte
}

func newSeen() *seen {
	return &seen{pending: map[store.Identity]seenRecord{}, wake: make(chan struct{}, 1)}
}

// record queues a record for id, replacing an unwritten older one.
func (s *seen) record(id store.Identity, r seenRecord) {
	s.mu.Lock()
	s.pending[id] = r
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *seen) take() map[store.Identity]seenRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	out := s.pending
	s.pending = make(map[store.Identity]seenRecord, len(out))
	return out
}

// run writes queued records until ctx ends, then writes what is left
// (bounded by a short deadline) and returns.
func (s *seen) run(ctx context.Context, st Store, log *slog.Logger) {
	flush := func(ctx context.Context) {
		for id, r := range s.take() {
			if err := st.TouchSite(ctx, id, r.at, r.runnerVersion, r.health); err != nil && !errors.Is(err, store.ErrNotFound) {
				log.Error("record site seen", "client", id.Client, "site", id.Site, "err", err)
			}
		}
	}
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			flush(fctx)
			cancel()
			return
		case <-s.wake:
		}
		flush(ctx)
		t.Reset(seenFlushEvery)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}
