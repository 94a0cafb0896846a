package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// TestSyncEndToEnd connects three enrolled sites of two clients to one
// control plane over real QUIC and exercises every transfer: hello and
// heartbeats, scope push (Notify, fetch, verify, keep), goals down, and
// escalations, approval requests and outcomes up with Acks.
func TestSyncEndToEnd(t *testing.T) {
	p := startPlane(t, 0)
	hq := startSite(t, p, "acme", "hq", siteOpts{})
	branch := startSite(t, p, "acme", "branch", siteOpts{})
	other := startSite(t, p, "globex", "hq", siteOpts{})
	eventually(t, 10*time.Second, "three sites connected", func() bool { return p.sync.Connected() == 3 })

	p.publishScope(t, "acme", 3)
	p.publishScope(t, "globex", 7)
	eventually(t, 10*time.Second, "scopes delivered", func() bool {
		return hq.scope.InUse() == 3 && branch.scope.InUse() == 3 && other.scope.InUse() == 7
	})
	if s, expired := hq.scope.Current(); s == nil || expired || s.Client() != "acme" {
		t.Errorf("hq scope = %v, expired %v", s, expired)
	}

	p.addGoal(t, "acme", "hq", "g1")
	p.addGoal(t, "acme", "branch", "g2")
	p.addGoal(t, "acme", "hq", "g3")
	eventually(t, 10*time.Second, "goals delivered", func() bool {
		c, _ := hq.inbox.Cursor(context.Background(), rsync.StreamGoals)
		b, _ := branch.inbox.Cursor(context.Background(), rsync.StreamGoals)
		return c > 0 && b > 0 && len(received(t, hq)) == 2
	})
	if got := goalIDs(received(t, hq)); got != "g1,g3" {
		t.Errorf("hq goals = %s, want g1,g3", got)
	}
	if got := goalIDs(received(t, branch)); got != "g2" {
		t.Errorf("branch goals = %s, want g2", got)
	}
	if got := received(t, other); len(got) != 0 {
		t.Errorf("globex received %d goals of acme", len(got))
	}

	for i := range 5 {
		hq.raise(t, &pb.Escalation{EscalationId: fmt.Sprintf("esc-%d", i),
			Goal: &pb.Goal{GoalId: "g1", ClientId: "acme", SiteId: "hq"}, Reason: "no in-scope path left"})
	}
	hq.raise(t, &pb.ApprovalRequest{ApprovalId: "appr-1", GoalId: "g3"})
	hq.raise(t, &pb.Outcome{GoalId: "g1", Status: pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED})
	eventually(t, 10*time.Second, "outbox drained", func() bool { return hq.outbox.Len() == 0 })
	items, err := p.store.Items(context.Background(), store.KindEscalation, "acme", 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, it := range items {
		ids = append(ids, it.ID)
		if it.Site != "hq" {
			t.Errorf("escalation %s filed under site %s", it.ID, it.Site)
		}
	}
	if strings.Join(ids, ",") != "esc-0,esc-1,esc-2,esc-3,esc-4" {
		t.Errorf("escalations stored = %v, want esc-0..4 in order", ids)
	}
	for _, k := range []store.Kind{store.KindApprovalRequest, store.KindOutcome} {
		if its, err := p.store.Items(context.Background(), k, "acme", 10); err != nil || len(its) != 1 {
			t.Errorf("%s stored = %d, %v; want 1", k, len(its), err)
		}
	}

	// Heartbeats record the site as seen with its health.
	eventually(t, 10*time.Second, "heartbeat recorded", func() bool {
		s, err := p.store.Site(context.Background(), "acme", "hq")
		return err == nil && !s.LastSeen.IsZero() && len(s.Health) > 0
	})
}

func received(t testing.TB, s *site) []string {
	t.Helper()
	ms, err := s.inbox.Received(rsync.StreamGoals)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.(*pb.GoalAssignment).GetGoal().GetGoalId())
	}
	return out
}

func goalIDs(ids []string) string { return strings.Join(ids, ",") }

// TestSyncAddressValidationUnderLoad sets the Retry threshold to zero, as
// if the control plane were under a flood of connection attempts: every
// new peer must first prove its address (QUIC Retry), and real sites still
// connect and sync.
func TestSyncAddressValidationUnderLoad(t *testing.T) {
	p := startPlaneWith(t, planeOpts{sync: func(c *syncserver.Config) { c.RetryAbove = 0 }})
	s := startSite(t, p, "acme", "hq", siteOpts{})
	eventually(t, 10*time.Second, "connected through Retry", s.client.Connected)
	s.raise(t, escalation("acme", "hq", 0))
	waitStored(t, p, "acme", 1, 10*time.Second)
}

// TestSyncNoGoroutineLeak runs a control plane and a site, syncs, stops
// both, and checks no goroutine of theirs outlives them.
func TestSyncNoGoroutineLeak(t *testing.T) {
	opts := goleak.IgnoreCurrent()
	p := startPlane(t, 0)
	s := startSite(t, p, "acme", "hq", siteOpts{})
	p.publishScope(t, "acme", 1)
	s.raise(t, escalation("acme", "hq", 0))
	waitStored(t, p, "acme", 1, 10*time.Second)
	eventually(t, 10*time.Second, "scope", func() bool { return s.scope.InUse() == 1 })
	s.stop()
	p.stop()
	goleak.VerifyNone(t, opts)
}

// TestSyncScopeFromAnotherProcess: a scope version written to the store
// without an in-process Notify (as 'sitewarden scope apply' in another
// process would) still reaches the client's sites, through the control
// plane's store watch.
func TestSyncScopeFromAnotherProcess(t *testing.T) {
	p := startPlaneWith(t, planeOpts{sync: func(c *syncserver.Config) { c.ScopeWatchInterval = 200 * time.Millisecond }})
	s := startSite(t, p, "acme", "hq", siteOpts{cfg: func(c *rsync.Config) { c.ResyncInterval = time.Hour }})
	eventually(t, 10*time.Second, "connected", s.client.Connected)
	raw, err := proto.Marshal(p.scopeBundle(t, "acme", 4))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.store.PutScope(context.Background(), store.ScopeVersion{Client: "acme", Version: 4, Bundle: raw}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "scope v4 via the store watch", func() bool { return s.scope.InUse() == 4 })
}
