package notify

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
)

// TestTwoReplicasDeliverOnce runs two notifiers on two store handles of
// one PostgreSQL database (two replicas) and a receiver that counts ids:
// each event arrives exactly once, in order.
func TestTwoReplicasDeliverOnce(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDatabase(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var stores [2]*store.Postgres
	for i := range stores {
		s, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	rc := newReceiver(t)
	cfg := fastConfig(rc.target("psa", FormatJSON), rc.target("chat", FormatSlack))
	startNotifier(t, cfg, stores[0], rc)
	startNotifier(t, cfg, stores[1], rc)
	const events = 60
	for i := range events {
		putEscalation(t, stores[i%2], "acme", fmt.Sprintf("e%03d", i), "r")
	}
	waitFor(t, 30*time.Second, "all deliveries", func() bool {
		c, err := stores[0].NotifyPendingCounts(ctx)
		return err == nil && len(rc.events()) == events && len(rc.bodies()) == 2*events && c["psa"] == 0 && c["chat"] == 0
	})
	time.Sleep(500 * time.Millisecond) // rescans of unsettled items add nothing
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != events || len(rc.raw) != 2*events {
		t.Fatalf("receiver got %d JSON events and %d bodies; want %d and %d", len(rc.got), len(rc.raw), events, 2*events)
	}
	for i, e := range rc.got {
		if want := fmt.Sprintf("escalation.opened:acme:e%03d", i); e.ID != want || rc.count[e.ID] != 1 {
			t.Errorf("event %d = %s x%d; want %s once, in order", i, e.ID, rc.count[e.ID], want)
		}
	}
}
