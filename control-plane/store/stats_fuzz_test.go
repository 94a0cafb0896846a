package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// FuzzRefreshStats stores arbitrary bytes as an item of each kind, as a
// goal and as an audit record (what a faulty or hostile site could send)
// and checks RefreshStats indexes them without failing, and the queries
// still answer.
func FuzzRefreshStats(f *testing.F) {
	at := timestamppb.New(time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC))
	g := &pb.Goal{GoalId: "g", ClientId: "acme", SiteId: "hq", Workflow: "account_unlock", CreatedAt: at}
	for _, m := range []proto.Message{g,
		&pb.Escalation{EscalationId: "e", Goal: g, Reason: "ldap down"},
		&pb.ApprovalRequest{ApprovalId: "a", GoalId: "g", Action: &pb.PlanStep{Action: "reset_password"}, RequestedAt: at, ExpiresAt: at},
		&pb.Outcome{GoalId: "g", Status: pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, StartedAt: at}} {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	rec, err := audit.Encode(audit.Record{Kind: audit.KindActionResult, Time: at.AsTime(), Client: "acme", Site: "hq", GoalID: "g", Actor: "agent"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(rec)
	f.Add([]byte{})
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(f.TempDir(), "cp.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, payload []byte) {
		i := n.Add(1)
		id, site := fmt.Sprintf("x%d", i), fmt.Sprintf("s%d", i)
		for _, k := range []store.Kind{store.KindEscalation, store.KindApprovalRequest, store.KindOutcome} {
			if _, err := s.PutItem(ctx, store.Item{Kind: k, Client: "acme", Site: site, ID: id, Payload: payload, ReceivedAt: time.Unix(0, i)}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.AddGoal(ctx, store.Goal{Client: "acme", Site: site, ID: id, Payload: payload}); err != nil {
			t.Fatal(err)
		}
		if err := s.AppendAudit(ctx, "acme", site, 0, [][]byte{payload}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RefreshStats(ctx, 0); err != nil {
			t.Fatalf("refresh: %v", err)
		}
		if _, err := s.GoalCounts(ctx, store.GoalFilter{Client: "acme"}, store.ByDay); err != nil {
			t.Fatal(err)
		}
		if _, err := s.EscalationQueue(ctx, store.EscalationFilter{Site: site}, 0, 10); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AuditSearch(ctx, store.AuditFilter{Site: site}, 0, 10); err != nil {
			t.Fatal(err)
		}
	})
}
