package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStatsIndexAndQuery seeds goals, outcomes, escalations and audit
// records as the sync server stores them and checks every aggregate.
func TestStatsIndexAndQuery(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	day1 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	day2 := day1.Add(24 * time.Hour)
	now := day2.Add(time.Hour)
	for _, c := range []string{"acme", "globex"} {
		if err := s.UpsertSite(ctx, store.Site{Identity: store.Identity{Tenant: "t", Client: c, Site: "hq"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchSite(ctx, store.Identity{Client: "acme", Site: "hq"}, now.Add(-time.Minute), "1.2.0", nil); err != nil {
		t.Fatal(err)
	}
	goal := func(client, id, wf string, at time.Time) {
		g := &pb.Goal{GoalId: id, ClientId: client, SiteId: "hq", Agent: "helper", Workflow: wf, CreatedAt: timestamppb.New(at)}
		if _, err := s.AddGoal(ctx, store.Goal{Client: client, Site: "hq", ID: id, Payload: mustMarshal(t, g)}); err != nil {
			t.Fatal(err)
		}
	}
	outcome := func(client, id string, st pb.OutcomeStatus, at time.Time) {
		o := &pb.Outcome{GoalId: id, Status: st, StartedAt: timestamppb.New(at), FinishedAt: timestamppb.New(at.Add(time.Minute))}
		if _, err := s.PutItem(ctx, store.Item{Kind: store.KindOutcome, Client: client, Site: "hq", ID: id, Payload: mustMarshal(t, o), ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	goal("acme", "g1", "unlock", day1)
	goal("acme", "g2", "unlock", day1)
	goal("acme", "g3", "reset", day2)
	goal("globex", "g1", "reset", day2)
	if _, err := s.RefreshStats(ctx, 0); err != nil {
		t.Fatal(err)
	}
	outcome("acme", "g1", pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, day1)
	outcome("acme", "g2", pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED, day1)
	// A goal that started at the site: only its escalation and outcome arrive.
	esc := &pb.Escalation{EscalationId: "e1", Goal: &pb.Goal{GoalId: "site-1", ClientId: "acme", SiteId: "hq", Workflow: "unlock", CreatedAt: timestamppb.New(day2)}, Reason: "ldap down"}
	if _, err := s.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "e1", Payload: mustMarshal(t, esc), ReceivedAt: day2}); err != nil {
		t.Fatal(err)
	}
	outcome("acme", "site-1", pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED, day2)
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
	// Small batches exercise the marks: refresh until nothing is left.
	for i := 0; ; i++ {
		n, err := s.RefreshStats(ctx, 2)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if i > 20 {
			t.Fatal("RefreshStats never caught up")
		}
	}

	got := func(cs []store.GoalCount) string { return fmt.Sprint(cs) }
	byDay, err := s.GoalCounts(ctx, store.GoalFilter{Client: "acme"}, store.ByDay)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[{2026-11-01 escalated 1} {2026-11-01 resolved 1} {2026-11-02 assigned 1} {2026-11-02 escalated 1}]"; got(byDay) != want {
		t.Errorf("acme by day = %s, want %s", got(byDay), want)
	}
	byWF, _ := s.GoalCounts(ctx, store.GoalFilter{From: day2}, store.ByWorkflow)
	if want := "[{reset assigned 2} {unlock escalated 1}]"; got(byWF) != want {
		t.Errorf("from day 2 by workflow = %s, want %s", got(byWF), want)
	}
	byClient, _ := s.GoalCounts(ctx, store.GoalFilter{}, store.ByClient)
	if want := "[{acme assigned 1} {acme escalated 2} {acme resolved 1} {globex assigned 1}]"; got(byClient) != want {
		t.Errorf("by client = %s, want %s", got(byClient), want)
	}
	sc, err := s.SiteCounts(ctx, "", now.Add(-5*time.Minute))
	if err != nil || sc.Total != 2 || sc.Online != 1 || sc.Offline != 1 || sc.Never != 1 || sc.Versions["1.2.0"] != 1 {
		t.Errorf("site counts = %+v, %v", sc, err)
	}
	q, err := s.EscalationQueue(ctx, store.EscalationFilter{Client: "acme", Workflow: "unlock", State: store.StateOpen}, 0, 10)
	if err != nil || len(q) != 1 || q[0].GoalID != "site-1" || q[0].Reason != "ldap down" || q[0].State != store.StateOpen {
		t.Fatalf("open unlock queue = %+v, %v", q, err)
	}
	if err := s.ClaimEscalation(ctx, "acme", "e1", "sam", now); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.CountEscalations(ctx, store.EscalationFilter{State: store.StateOpen}); n != 0 {
		t.Errorf("open escalations after a claim = %d, want 0", n)
	}
	if n, _ := s.CountEscalations(ctx, store.EscalationFilter{State: store.StateClaimed, Site: "hq"}); n != 1 {
		t.Errorf("claimed escalations = %d, want 1", n)
	}
	hits, err := s.AuditSearch(ctx, store.AuditFilter{Client: "acme", GoalID: "g1", Kind: string(audit.KindActionResult)}, 0, 10)
	if err != nil || len(hits) != 1 || hits[0].Index != 1 {
		t.Fatalf("audit search = %+v, %v", hits, err)
	}
	if r, err := audit.Decode(hits[0].Record); err != nil || r.Kind != audit.KindActionResult {
		t.Errorf("hit record = %+v, %v", r, err)
	}
	first, last, err := s.AuditRange(ctx, "acme", "hq", day1.Add(30*time.Minute), day1.Add(3*time.Hour))
	if err != nil || first != 1 || last != 2 {
		t.Errorf("audit range = %d..%d, %v; want 1..2", first, last, err)
	}
	if err := s.RecordAuditAlert(ctx, store.AuditAlert{Client: "acme", Site: "hq", Reason: "rewritten", At: now}); err != nil {
		t.Fatal(err)
	}
	rows, err := s.SiteRows(ctx, "acme", 0, 10)
	if err != nil || len(rows) != 1 || rows[0].Alerts != 1 || rows[0].AuditSize != 3 || rows[0].RunnerVersion != "1.2.0" {
		t.Errorf("site rows = %+v, %v", rows, err)
	}
	if cs, _ := s.Clients(ctx); fmt.Sprint(cs) != "[acme globex]" {
		t.Errorf("clients = %v", cs)
	}
}

func TestStatsApprovalQueue(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i, exp := range []time.Time{now.Add(time.Hour), now.Add(-time.Minute), now.Add(2 * time.Hour)} {
		id := fmt.Sprintf("a%d", i)
		a := &pb.ApprovalRequest{ApprovalId: id, GoalId: "g", Workflow: "reset", Action: &pb.PlanStep{Action: "reset_password"},
			RequestedAt: timestamppb.New(now.Add(time.Duration(i) * time.Second)), ExpiresAt: timestamppb.New(exp)}
		if _, err := s.PutItem(ctx, store.Item{Kind: store.KindApprovalRequest, Client: "acme", Site: "hq", ID: id, Payload: mustMarshal(t, a), ReceivedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AddDecision(ctx, store.Decision{Client: "acme", Site: "hq", ApprovalID: "a2", Payload: []byte{1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RefreshStats(ctx, 0); err != nil {
		t.Fatal(err)
	}
	pending, err := s.ApprovalQueue(ctx, store.ApprovalFilter{Client: "acme", Pending: true, Now: now}, 0, 10)
	if err != nil || len(pending) != 1 || pending[0].ID != "a0" || pending[0].Action != "reset_password" || pending[0].Decided {
		t.Errorf("pending = %+v, %v; want only a0", pending, err)
	}
	all, err := s.ApprovalQueue(ctx, store.ApprovalFilter{}, 0, 10)
	if err != nil || len(all) != 3 || all[0].ID != "a2" || !all[0].Decided {
		t.Errorf("all = %+v, %v; want a2 (decided) first of 3", all, err)
	}
}
