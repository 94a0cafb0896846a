package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

type statsStore interface {
	store.Store
	store.Stats
}

// seedStats writes goals, outcomes, escalations, approval requests, a
// decision, audit records and an alert, refreshing in small batches.
func seedStats(t *testing.T, s statsStore, day1 time.Time) {
	ctx := context.Background()
	day2 := day1.Add(24 * time.Hour)
	for _, c := range []string{"acme", "globex"} {
		if err := s.UpsertSite(ctx, store.Site{Identity: store.Identity{Tenant: "t", Client: c, Site: "hq"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchSite(ctx, store.Identity{Client: "acme", Site: "hq"}, day2, "1.2.0", nil); err != nil {
		t.Fatal(err)
	}
	for i, g := range []struct{ client, id, wf string }{{"acme", "g1", "unlock"}, {"acme", "g2", "unlock"}, {"acme", "g3", "reset"}, {"globex", "g1", "reset"}} {
		at := day1.Add(time.Duration(i) * 10 * time.Hour)
		p := mustMarshal(t, &pb.Goal{GoalId: g.id, ClientId: g.client, SiteId: "hq", Agent: "helper", Workflow: g.wf, CreatedAt: timestamppb.New(at)})
		if _, err := s.AddGoal(ctx, store.Goal{Client: g.client, Site: "hq", ID: g.id, Payload: p}); err != nil {
			t.Fatal(err)
		}
	}
	put := func(kind store.Kind, client, id string, m []byte, at time.Time) {
		if _, err := s.PutItem(ctx, store.Item{Kind: kind, Client: client, Site: "hq", ID: id, Payload: m, ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	put(store.KindOutcome, "acme", "g1", mustMarshal(t, &pb.Outcome{GoalId: "g1", Status: pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED,
		StartedAt: timestamppb.New(day1), FinishedAt: timestamppb.New(day1.Add(time.Minute))}), day1)
	put(store.KindOutcome, "acme", "g2", mustMarshal(t, &pb.Outcome{GoalId: "g2", Status: pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED,
		StartedAt: timestamppb.New(day1), FinishedAt: timestamppb.New(day1.Add(time.Minute))}), day1)
	put(store.KindEscalation, "acme", "e1", mustMarshal(t, &pb.Escalation{EscalationId: "e1", Reason: "ldap down",
		Goal: &pb.Goal{GoalId: "site-1", ClientId: "acme", SiteId: "hq", Workflow: "unlock", CreatedAt: timestamppb.New(day2)}}), day2)
	for i := range 3 {
		id := fmt.Sprintf("a%d", i)
		put(store.KindApprovalRequest, "acme", id, mustMarshal(t, &pb.ApprovalRequest{ApprovalId: id, GoalId: "g3", Workflow: "reset",
			Action: &pb.PlanStep{Action: "reset_password"}, RequestedAt: timestamppb.New(day2.Add(time.Duration(i) * time.Second)),
			ExpiresAt: timestamppb.New(day2.Add(time.Duration(i+1) * time.Hour))}), day2)
	}
	if _, err := s.AddDecision(ctx, store.Decision{Client: "acme", Site: "hq", ApprovalID: "a2", Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	var recs [][]byte
	for i, k := range []audit.Kind{audit.KindGoalReceived, audit.KindActionResult, audit.KindGoalOutcome} {
		b, err := audit.Encode(audit.Record{Kind: k, Time: day1.Add(time.Duration(i) * time.Hour), Client: "acme", Site: "hq", GoalID: "g1", Actor: "agent"})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b)
	}
	if err := s.AppendAudit(ctx, "acme", "hq", 0, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordAuditAlert(ctx, store.AuditAlert{Client: "acme", Site: "hq", Reason: "rewritten", At: day2}); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		n, err := s.RefreshStats(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if i > 30 {
			t.Fatal("RefreshStats never caught up")
		}
	}
}

// TestPostgresStatsMatchSQLite seeds the same data into both stores and
// checks every Stats query answers the same (the portable code, run through
// the PostgreSQL adapter, against the SQLite reference; TestStats* check
// the reference's answers).
func TestPostgresStatsMatchSQLite(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	lite, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg := openPG(t, srv.CreateDatabase(t))
	defer pg.Close()
	day1 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	seedStats(t, lite, day1)
	seedStats(t, pg, day1)
	ctx := context.Background()
	queries := map[string]func(s statsStore) (any, error){
		"Clients":    func(s statsStore) (any, error) { return s.Clients(ctx) },
		"SiteCounts": func(s statsStore) (any, error) { return s.SiteCounts(ctx, "", day2.Add(-time.Hour)) },
		"SiteRows":   func(s statsStore) (any, error) { return s.SiteRows(ctx, "acme", 0, 10) },
		"GoalCountsByDay": func(s statsStore) (any, error) {
			return s.GoalCounts(ctx, store.GoalFilter{}, store.ByDay)
		},
		"GoalCountsByClient": func(s statsStore) (any, error) {
			return s.GoalCounts(ctx, store.GoalFilter{From: day1, To: day2.Add(24 * time.Hour)}, store.ByClient)
		},
		"GoalCountsByWorkflow": func(s statsStore) (any, error) {
			return s.GoalCounts(ctx, store.GoalFilter{Client: "acme"}, store.ByWorkflow)
		},
		"EscalationQueue": func(s statsStore) (any, error) {
			return s.EscalationQueue(ctx, store.EscalationFilter{State: store.StateOpen}, 0, 10)
		},
		"CountEscalations": func(s statsStore) (any, error) {
			return s.CountEscalations(ctx, store.EscalationFilter{Client: "acme"})
		},
		"ApprovalsPending": func(s statsStore) (any, error) {
			return s.ApprovalQueue(ctx, store.ApprovalFilter{Client: "acme", Pending: true, Now: day2}, 0, 10)
		},
		"ApprovalsAll": func(s statsStore) (any, error) { return s.ApprovalQueue(ctx, store.ApprovalFilter{}, 0, 10) },
		"AuditSearch": func(s statsStore) (any, error) {
			return s.AuditSearch(ctx, store.AuditFilter{Client: "acme", GoalID: "g1"}, 0, 10)
		},
		"AuditRange": func(s statsStore) (any, error) {
			first, last, err := s.AuditRange(ctx, "acme", "hq", day1, day1.Add(2*time.Hour))
			return [2]uint64{first, last}, err
		},
		"AuditAlerts": func(s statsStore) (any, error) { return s.AuditAlerts(ctx, "acme", 10) },
	}
	for name, q := range queries {
		want, err := q(lite)
		if err != nil {
			t.Fatalf("%s on SQLite: %v", name, err)
		}
		got, err := q(pg)
		if err != nil {
			t.Errorf("%s on PostgreSQL: %v", name, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n  postgres %+v\n  sqlite   %+v", name, got, want)
		}
		if reflect.ValueOf(want).Kind() == reflect.Slice && reflect.ValueOf(want).Len() == 0 && name != "AuditAlerts" {
			t.Errorf("%s is empty on both: the seed does not exercise it", name)
		}
	}
}
