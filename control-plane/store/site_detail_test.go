package store_test

import (
	"context"
	"errors"
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

type siteDetailStore interface {
	store.Store
	store.Stats
	store.SiteDetail
}

// seedSiteDetail writes three sites (acme/hq, acme/branch, globex/hq) with
// goals, outcomes, a witnessed checkpoint, mirrored audit records, alerts
// and enrollment tokens, so that every SiteDetail query must tell the
// sites apart.
func seedSiteDetail(t *testing.T, s siteDetailStore, day1 time.Time) {
	t.Helper()
	ctx := context.Background()
	day2 := day1.Add(24 * time.Hour)
	for _, id := range []store.Identity{{Tenant: "t", Client: "acme", Site: "hq"}, {Tenant: "t", Client: "acme", Site: "branch"}, {Tenant: "t", Client: "globex", Site: "hq"}} {
		if err := s.UpsertSite(ctx, store.Site{Identity: id, CertSerial: "0a", CertNotAfter: day2.Add(90 * 24 * time.Hour), EnrolledAt: day1}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.TouchSite(ctx, store.Identity{Client: "acme", Site: "hq"}, day2, "1.2.0", []byte{0x08, 0x3c}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []struct {
		client, site, id string
		at               time.Time
		outcome          pb.OutcomeStatus
	}{
		{"acme", "hq", "g1", day1, pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED},
		{"acme", "hq", "g2", day1.Add(time.Hour), pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED},
		{"acme", "hq", "g3", day2, pb.OutcomeStatus_OUTCOME_STATUS_UNSPECIFIED},
		{"acme", "branch", "g4", day2, pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED},
		{"globex", "hq", "g1", day2, pb.OutcomeStatus_OUTCOME_STATUS_DENIED},
	} {
		p := mustMarshal(t, &pb.Goal{GoalId: g.id, ClientId: g.client, SiteId: g.site, Workflow: "unlock", CreatedAt: timestamppb.New(g.at)})
		if _, err := s.AddGoal(ctx, store.Goal{Client: g.client, Site: g.site, ID: g.id, Payload: p}); err != nil {
			t.Fatal(err)
		}
		if g.outcome == pb.OutcomeStatus_OUTCOME_STATUS_UNSPECIFIED {
			continue
		}
		o := mustMarshal(t, &pb.Outcome{GoalId: g.id, Status: g.outcome, StartedAt: timestamppb.New(g.at), FinishedAt: timestamppb.New(g.at.Add(time.Minute))})
		if _, err := s.PutItem(ctx, store.Item{Kind: store.KindOutcome, Client: g.client, Site: g.site, ID: g.id, Payload: o, ReceivedAt: g.at}); err != nil {
			t.Fatal(err)
		}
	}
	var recs [][]byte
	for i := range 3 {
		b, err := audit.Encode(audit.Record{Kind: audit.KindActionResult, Time: day1.Add(time.Duration(i) * time.Minute), Client: "acme", Site: "hq", Actor: "agent"})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, b)
	}
	if err := s.AppendAudit(ctx, "acme", "hq", 0, recs); err != nil {
		t.Fatal(err)
	}
	if err := s.PutCheckpoint(ctx, store.Checkpoint{Client: "acme", Site: "hq", Size: 2, Root: []byte{1}, Note: []byte("n"), Cosigned: []byte("c"), WitnessedAt: day2}); err != nil {
		t.Fatal(err)
	}
	for i, a := range []store.AuditAlert{{Client: "acme", Site: "hq", Reason: "first"}, {Client: "acme", Site: "hq", Reason: "second"}, {Client: "acme", Site: "branch", Reason: "branch"}} {
		a.At = day2.Add(time.Duration(i) * time.Minute)
		if err := s.RecordAuditAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	for i, tok := range []struct{ hash, site string }{{"h-used", "hq"}, {"h-expired", "hq"}, {"h-valid", "hq"}, {"h-branch", "branch"}} {
		created := day1.Add(time.Duration(i) * time.Hour)
		expires := created.Add(24 * time.Hour)
		if tok.hash == "h-expired" {
			expires = created.Add(time.Minute)
		}
		if err := s.CreateToken(ctx, store.Token{Hash: tok.hash, Identity: store.Identity{Tenant: "t", Client: "acme", Site: tok.site}, CreatedAt: created, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.ConsumeToken(ctx, "h-used", day1.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		n, err := s.RefreshStats(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if i > 10 {
			t.Fatal("RefreshStats never caught up")
		}
	}
}

// checkSiteDetail checks every SiteDetail answer on the seed above.
func checkSiteDetail(t *testing.T, s siteDetailStore, day1 time.Time) {
	t.Helper()
	ctx := context.Background()
	day2 := day1.Add(24 * time.Hour)
	row, err := s.SiteRow(ctx, "acme", "hq")
	if err != nil {
		t.Fatal(err)
	}
	if row.CheckpointSize != 2 || !row.CheckpointAt.Equal(day2) || row.AuditSize != 3 || row.Alerts != 2 || row.RunnerVersion != "1.2.0" ||
		!row.LastSeen.Equal(day2) || !row.EnrolledAt.Equal(day1) || row.CertSerial != "0a" || len(row.Health) != 2 {
		t.Errorf("SiteRow(acme, hq) = %+v", row)
	}
	rows, err := s.SiteRows(ctx, "acme", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var listed store.SiteRow
	for _, r := range rows {
		if r.Site.Site == "hq" {
			listed = r
		}
	}
	if !reflect.DeepEqual(row, listed) {
		t.Errorf("SiteRow differs from the sites list's row:\n  SiteRow  %+v\n  SiteRows %+v", row, listed)
	}
	if b, err := s.SiteRow(ctx, "acme", "branch"); err != nil || b.Alerts != 1 || b.CheckpointSize != 0 || b.AuditSize != 0 {
		t.Errorf("SiteRow(acme, branch) = %+v, %v", b, err)
	}
	if _, err := s.SiteRow(ctx, "globex", "branch"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SiteRow of a site of another client: %v, want ErrNotFound", err)
	}
	if _, err := s.SiteRow(ctx, "", "hq"); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SiteRow with no client: %v, want ErrInvalid", err)
	}

	d1, d2 := day1.Format(time.DateOnly), day2.Format(time.DateOnly)
	counts, err := s.SiteGoalCounts(ctx, "acme", "hq", day1, day2.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	want := []store.GoalCount{{Key: d1, Status: store.StatusEscalated, N: 1}, {Key: d1, Status: store.StatusResolved, N: 1}, {Key: d2, Status: store.StatusAssigned, N: 1}}
	if !reflect.DeepEqual(counts, want) {
		t.Errorf("SiteGoalCounts(acme, hq) = %+v, want %+v", counts, want)
	}
	if counts, err = s.SiteGoalCounts(ctx, "acme", "hq", day2, time.Time{}); err != nil || !reflect.DeepEqual(counts, want[2:]) {
		t.Errorf("SiteGoalCounts(acme, hq) from day 2 = %+v, %v; want %+v", counts, err, want[2:])
	}
	if counts, err = s.SiteGoalCounts(ctx, "globex", "hq", time.Time{}, time.Time{}); err != nil ||
		!reflect.DeepEqual(counts, []store.GoalCount{{Key: d2, Status: store.StatusDenied, N: 1}}) {
		t.Errorf("SiteGoalCounts(globex, hq) = %+v, %v", counts, err)
	}

	alerts, err := s.SiteAuditAlerts(ctx, "acme", "hq", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(alerts) != 2 || alerts[0].Reason != "second" || alerts[1].Reason != "first" || alerts[0].Site != "hq" {
		t.Errorf("SiteAuditAlerts(acme, hq) = %+v, want second then first", alerts)
	}
	if alerts, err = s.SiteAuditAlerts(ctx, "acme", "hq", 1); err != nil || len(alerts) != 1 {
		t.Errorf("SiteAuditAlerts limit 1: %d alerts, %v", len(alerts), err)
	}

	toks, err := s.SiteTokens(ctx, "acme", "hq", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(toks) != 3 {
		t.Fatalf("SiteTokens(acme, hq) = %+v, want 3", toks)
	}
	// Newest first: valid (issued day1+2h), expired (+1h), used (+0h).
	if !toks[0].CreatedAt.Equal(day1.Add(2*time.Hour)) || !toks[0].UsedAt.IsZero() ||
		!toks[1].ExpiresAt.Equal(day1.Add(time.Hour+time.Minute)) ||
		!toks[2].UsedAt.Equal(day1.Add(time.Minute)) {
		t.Errorf("SiteTokens(acme, hq) = %+v", toks)
	}
	if toks, err = s.SiteTokens(ctx, "globex", "hq", 10); err != nil || len(toks) != 0 {
		t.Errorf("SiteTokens(globex, hq) = %+v, %v; want none", toks, err)
	}
}

// TestSiteDetail checks the site page's reads on both engines: SQLite,
// then PostgreSQL (a real server, pgtest) through the shared code.
func TestSiteDetail(t *testing.T) {
	day1 := time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)
	t.Run("sqlite", func(t *testing.T) {
		lite, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer lite.Close()
		seedSiteDetail(t, lite, day1)
		checkSiteDetail(t, lite, day1)
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t, pgtest.Options{})
		pg := openPG(t, srv.CreateDatabase(t))
		defer pg.Close()
		seedSiteDetail(t, pg, day1)
		checkSiteDetail(t, pg, day1)
	})
}
