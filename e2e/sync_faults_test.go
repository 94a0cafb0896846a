package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// escalation returns the i-th test escalation of a site.
func escalation(client, site string, i int) *pb.Escalation {
	return &pb.Escalation{EscalationId: fmt.Sprintf("%s-%s-esc-%04d", client, site, i),
		Goal: &pb.Goal{GoalId: fmt.Sprintf("goal-%d", i), ClientId: client, SiteId: site}, Reason: "test"}
}

// checkExactlyOnceInOrder checks the control plane holds exactly escalations
// 0..n-1 of the site, each once, in the order they were raised.
func checkExactlyOnceInOrder(t testing.TB, p *plane, client, site string, n int) {
	t.Helper()
	its, err := p.store.Items(context.Background(), store.KindEscalation, client, 10*n+10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range its {
		if it.Site == site {
			got = append(got, it.ID)
		}
	}
	if len(got) != n {
		t.Fatalf("control plane holds %d escalations of %s/%s, want exactly %d", len(got), client, site, n)
	}
	for i, id := range got {
		if want := escalation(client, site, i).GetEscalationId(); id != want {
			t.Fatalf("escalation %d is %s, want %s (order per stream broken)", i, id, want)
		}
	}
}

func waitStored(t testing.TB, p *plane, client string, n int, d time.Duration) {
	t.Helper()
	eventually(t, d, fmt.Sprintf("%d escalations stored", n), func() bool {
		its, err := p.store.Items(context.Background(), store.KindEscalation, client, 10*n+10)
		return err == nil && len(its) >= n
	})
}

// TestSyncLossyLink sends escalations through a proxy that drops 10% of
// datagrams each way, delays them up to 30 ms and reorders them.
func TestSyncLossyLink(t *testing.T) {
	p := startPlane(t, 0)
	px := startProxy(t, p.addr)
	px.dropPct.Store(10)
	px.maxDelay.Store(int64(30 * time.Millisecond))
	px.reorder.Store(true)
	s := startSite(t, p, "acme", "hq", siteOpts{address: px.addr()})
	const n = 60
	for i := range n {
		s.raise(t, escalation("acme", "hq", i))
	}
	waitStored(t, p, "acme", n, 60*time.Second)
	eventually(t, 20*time.Second, "outbox drained", func() bool { return s.outbox.Len() == 0 })
	checkExactlyOnceInOrder(t, p, "acme", "hq", n)
}

// TestSyncLinkCut cuts the link while escalations are raised: they wait in
// the outbox (the runner works offline) and all arrive once it is back.
func TestSyncLinkCut(t *testing.T) {
	p := startPlane(t, 0)
	px := startProxy(t, p.addr)
	s := startSite(t, p, "acme", "hq", siteOpts{address: px.addr()})
	eventually(t, 10*time.Second, "connected", s.client.Connected)
	for i := range 5 {
		s.raise(t, escalation("acme", "hq", i))
	}
	waitStored(t, p, "acme", 5, 10*time.Second)

	px.cut.Store(true)
	eventually(t, 15*time.Second, "runner notices the cut", func() bool { return !s.client.Connected() })
	for i := 5; i < 30; i++ {
		s.raise(t, escalation("acme", "hq", i))
	}
	time.Sleep(500 * time.Millisecond)
	if s.outbox.Len() != 25 {
		t.Fatalf("outbox holds %d items while offline, want 25", s.outbox.Len())
	}
	px.cut.Store(false)
	waitStored(t, p, "acme", 30, 30*time.Second)
	eventually(t, 10*time.Second, "outbox drained", func() bool { return s.outbox.Len() == 0 })
	checkExactlyOnceInOrder(t, p, "acme", "hq", 30)
}

// TestSyncControlPlaneRestart stops the control plane (store closed, socket
// gone) and starts it again on the same state and address: the runner
// reconnects by itself and delivers what it raised meanwhile.
func TestSyncControlPlaneRestart(t *testing.T) {
	p := startPlane(t, 0)
	s := startSite(t, p, "acme", "hq", siteOpts{})
	eventually(t, 10*time.Second, "connected", s.client.Connected)
	for i := range 3 {
		s.raise(t, escalation("acme", "hq", i))
	}
	waitStored(t, p, "acme", 3, 10*time.Second)
	p.stop()
	eventually(t, 15*time.Second, "runner notices", func() bool { return !s.client.Connected() })
	for i := 3; i < 10; i++ {
		s.raise(t, escalation("acme", "hq", i))
	}
	p2 := startPlaneWith(t, planeOpts{dir: p.dir, addr: p.addr})
	waitStored(t, p2, "acme", 10, 30*time.Second)
	eventually(t, 10*time.Second, "outbox drained", func() bool { return s.outbox.Len() == 0 })
	checkExactlyOnceInOrder(t, p2, "acme", "hq", 10)
	eventually(t, 10*time.Second, "reconnected", func() bool { return p2.sync.Connected() == 1 })
}

// offsetClock is real time shifted by an offset the test moves forward, to
// simulate a long offline period without waiting for it.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time                         { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (c *offsetClock) advance(d time.Duration)                { c.off.Add(int64(d)) }

// TestSyncLongOffline: a site loses its link, 30 days pass (injected
// clock), its scope bundle expires (agents must only escalate), items
// raised meanwhile wait; when the link returns, a fresh bundle is accepted
// and every item arrives exactly once, in order.
func TestSyncLongOffline(t *testing.T) {
	p := startPlane(t, 0)
	clock := &offsetClock{}
	p.issueAt = clock.Now
	px := startProxy(t, p.addr)
	s := startSite(t, p, "acme", "hq", siteOpts{address: px.addr(), clock: clock})
	p.publishScope(t, "acme", 1)
	eventually(t, 10*time.Second, "scope v1", func() bool { return s.scope.InUse() == 1 })
	if _, expired := s.scope.Current(); expired {
		t.Fatal("fresh scope reported expired")
	}

	px.cut.Store(true)
	eventually(t, 15*time.Second, "runner notices the cut", func() bool { return !s.client.Connected() })
	clock.advance(30 * 24 * time.Hour)
	sc, expired := s.scope.Current()
	if sc == nil || !expired {
		t.Fatalf("after 30 days offline: scope %v, expired %v; want the last good scope, expired", sc, expired)
	}
	for i := range 20 {
		s.raise(t, escalation("acme", "hq", i))
	}
	time.Sleep(1500 * time.Millisecond) // several reconnect attempts
	if s.outbox.Len() != 20 {
		t.Fatalf("outbox holds %d, want 20 while offline", s.outbox.Len())
	}
	// No reconnect storm: attempts are spaced by the capped, jittered backoff.
	if n := strings.Count(s.logs.String(), "working offline"); n > 15 {
		t.Errorf("%d reconnect attempts in ~3s with a 50-500ms backoff; backoff not applied", n)
	}

	px.cut.Store(false)
	p.publishScope(t, "acme", 2)
	waitStored(t, p, "acme", 20, 30*time.Second)
	checkExactlyOnceInOrder(t, p, "acme", "hq", 20)
	eventually(t, 15*time.Second, "fresh scope v2 accepted", func() bool { return s.scope.InUse() == 2 })
	if _, expired := s.scope.Current(); expired {
		t.Error("fresh scope v2 reported expired")
	}
}
