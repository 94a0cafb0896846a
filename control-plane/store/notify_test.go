package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
)

type outboxStore interface {
	store.Store
	store.Stats
	store.Outbox
}

func TestNotify(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		lite, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "cp.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer lite.Close()
		checkOutbox(t, lite)
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t, pgtest.Options{})
		pg := openPG(t, srv.CreateDatabase(t))
		defer pg.Close()
		checkOutbox(t, pg)
	})
}

func checkOutbox(t *testing.T, s outboxStore) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Sources: escalations and approval requests in insertion order,
	// outcomes left out; alerts likewise.
	for _, it := range []store.Item{
		{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "e1", Payload: []byte("x"), ReceivedAt: now},
		{Kind: store.KindOutcome, Client: "acme", Site: "hq", ID: "g1", Payload: []byte("x"), ReceivedAt: now},
		{Kind: store.KindApprovalRequest, Client: "globex", Site: "hq", ID: "a1", Payload: []byte("x"), ReceivedAt: now},
	} {
		if _, err := s.PutItem(ctx, it); err != nil {
			t.Fatal(err)
		}
	}
	items, err := s.NotifyItems(ctx, 0, 10)
	must(err)
	if len(items) != 2 || items[0].ID != "e1" || items[1].ID != "a1" || items[0].Seq >= items[1].Seq || !items[0].ReceivedAt.Equal(now) {
		t.Fatalf("NotifyItems = %+v", items)
	}
	if rest, err := s.NotifyItems(ctx, items[0].Seq, 10); err != nil || len(rest) != 1 || rest[0].ID != "a1" {
		t.Fatalf("NotifyItems after e1 = %+v, %v", rest, err)
	}
	must(s.RecordAuditAlert(ctx, store.AuditAlert{Client: "acme", Site: "hq", Reason: "fork", At: now}))
	must(s.RecordAuditAlert(ctx, store.AuditAlert{Client: "acme", Site: "br", Reason: "rewind", At: now}))
	alerts, err := s.NotifyAlerts(ctx, 0, 10)
	must(err)
	if len(alerts) != 2 || alerts[0].Reason != "fork" || alerts[1].Site != "br" || alerts[0].Seq >= alerts[1].Seq {
		t.Fatalf("NotifyAlerts = %+v", alerts)
	}

	// Marks only move forward.
	if m, err := s.NotifyMark(ctx, store.NotifySourceItems); err != nil || m != 0 {
		t.Fatalf("NotifyMark = %d, %v", m, err)
	}
	must(s.AdvanceNotifyMark(ctx, store.NotifySourceItems, 5))
	must(s.AdvanceNotifyMark(ctx, store.NotifySourceItems, 3))
	if m, err := s.NotifyMark(ctx, store.NotifySourceItems); err != nil || m != 5 {
		t.Fatalf("NotifyMark after 5, 3 = %d, %v", m, err)
	}

	// Enqueue: duplicates are not added; past max pending rows fail.
	row := func(target, id string) store.NotifyRow {
		return store.NotifyRow{Target: target, EventID: id, Client: "acme", Body: []byte(`{"id":"` + id + `"}`), GiveUpAt: now.Add(time.Hour)}
	}
	added, dropped, err := s.EnqueueNotify(ctx, []store.NotifyRow{row("t1", "ev1"), row("t1", "ev2"), row("t1", "ev1"), row("t2", "ev1")}, now, 2)
	if err != nil || added != 3 || len(dropped) != 0 {
		t.Fatalf("EnqueueNotify = %d, %v, %v; want 3 added", added, dropped, err)
	}
	added, dropped, err = s.EnqueueNotify(ctx, []store.NotifyRow{row("t1", "ev3"), row("t1", "ev2")}, now, 2)
	if err != nil || added != 0 || dropped["t1"] != 1 {
		t.Fatalf("EnqueueNotify over max = %d, %v, %v; want ev3 dropped", added, dropped, err)
	}
	if c, err := s.NotifyPendingCounts(ctx); err != nil || c["t1"] != 2 || c["t2"] != 1 {
		t.Fatalf("NotifyPendingCounts = %v, %v", c, err)
	}

	// Claims: the head only, one holder at a time, in order.
	r, ok, err := s.ClaimNotify(ctx, "t1", "a", now, now.Add(time.Minute))
	if err != nil || !ok || r.EventID != "ev1" || r.Attempts != 1 || string(r.Body) != `{"id":"ev1"}` || !r.GiveUpAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("ClaimNotify = %+v, %v, %v", r, ok, err)
	}
	if r2, ok, err := s.ClaimNotify(ctx, "t1", "b", now, now.Add(time.Minute)); err != nil || ok {
		t.Fatalf("second claim while leased = %+v, %v, %v; want none", r2, ok, err)
	}
	stolen := r
	stolen.Owner = "b"
	if err := s.FinishNotify(ctx, stolen, store.NotifyResult{State: store.NotifyDelivered, At: now}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("FinishNotify by another owner = %v; want ErrConflict", err)
	}
	must(s.FinishNotify(ctx, r, store.NotifyResult{State: store.NotifyPending, NextAt: now.Add(time.Minute), Err: "HTTP 500", At: now}))
	if _, ok, _ := s.ClaimNotify(ctx, "t1", "b", now.Add(time.Second), now.Add(time.Minute)); ok {
		t.Fatal("claimed a row before its retry time, or passed the head")
	}
	r, ok, err = s.ClaimNotify(ctx, "t1", "b", now.Add(2*time.Minute), now.Add(3*time.Minute))
	if err != nil || !ok || r.EventID != "ev1" || r.Attempts != 2 || r.LastError != "HTTP 500" {
		t.Fatalf("retry claim = %+v, %v, %v", r, ok, err)
	}
	must(s.FinishNotify(ctx, r, store.NotifyResult{State: store.NotifyDelivered, At: now.Add(2 * time.Minute)}))
	// A lease that expires lets another owner take the row; the first
	// owner's result is then refused.
	r, ok, err = s.ClaimNotify(ctx, "t1", "c", now.Add(2*time.Minute), now.Add(2*time.Minute+time.Second))
	if err != nil || !ok || r.EventID != "ev2" {
		t.Fatalf("claim after delivery = %+v, %v, %v", r, ok, err)
	}
	r2, ok, err := s.ClaimNotify(ctx, "t1", "d", now.Add(3*time.Minute), now.Add(4*time.Minute))
	if err != nil || !ok || r2.EventID != "ev2" || r2.Attempts != 2 {
		t.Fatalf("claim after lease expiry = %+v, %v, %v", r2, ok, err)
	}
	if err := s.FinishNotify(ctx, r, store.NotifyResult{State: store.NotifyDelivered, At: now}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("FinishNotify with an expired lease = %v; want ErrConflict", err)
	}
	must(s.FinishNotify(ctx, r2, store.NotifyResult{State: store.NotifyFailed, Err: "gave up", At: now.Add(3 * time.Minute)}))
	if _, ok, _ := s.ClaimNotify(ctx, "t1", "d", now.Add(time.Hour), now.Add(2*time.Hour)); ok {
		t.Fatal("claimed from a target with nothing pending")
	}
	rows, err := s.NotifyRowsOf(ctx, "t1", 10)
	must(err)
	if len(rows) != 3 || rows[0].State != store.NotifyDelivered || rows[1].State != store.NotifyFailed || rows[1].LastError != "gave up" ||
		rows[2].EventID != "ev3" || rows[2].State != store.NotifyFailed {
		t.Fatalf("NotifyRowsOf = %+v", rows)
	}
	// Pruning keeps pending rows and recent ones.
	if k, err := s.PruneNotify(ctx, now.Add(2*time.Minute+time.Second)); err != nil || k != 2 {
		t.Fatalf("PruneNotify = %d, %v; want ev1 and ev3 of t1", k, err)
	}
	if c, _ := s.NotifyPendingCounts(ctx); c["t2"] != 1 {
		t.Fatalf("pending after prune = %v", c)
	}

	// Scheduled events.
	must(s.ScheduleNotify(ctx, store.NotifyDue{EventID: "x1", Client: "acme", ApprovalID: "a9", DueAt: now.Add(time.Minute), ExpiresAt: now.Add(2 * time.Minute), Body: []byte("b")}))
	must(s.ScheduleNotify(ctx, store.NotifyDue{EventID: "x1", Client: "acme", ApprovalID: "a9", DueAt: now, ExpiresAt: now, Body: []byte("other")}))
	if d, err := s.DueNotify(ctx, now, 10); err != nil || len(d) != 0 {
		t.Fatalf("DueNotify before due = %+v, %v", d, err)
	}
	d, err := s.DueNotify(ctx, now.Add(time.Minute), 10)
	if err != nil || len(d) != 1 || string(d[0].Body) != "b" || !d[0].ExpiresAt.Equal(now.Add(2*time.Minute)) {
		t.Fatalf("DueNotify = %+v, %v", d, err)
	}
	if ok, err := s.TakeDue(ctx, "x1"); err != nil || !ok {
		t.Fatalf("TakeDue = %v, %v", ok, err)
	}
	if ok, err := s.TakeDue(ctx, "x1"); err != nil || ok {
		t.Fatalf("TakeDue again = %v, %v; want false", ok, err)
	}
	if ok, err := s.ApprovalDecided(ctx, "acme", "a9"); err != nil || ok {
		t.Fatalf("ApprovalDecided before a decision = %v, %v", ok, err)
	}
	if _, err := s.AddDecision(ctx, store.Decision{Client: "acme", Site: "hq", ApprovalID: "a9", Payload: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ApprovalDecided(ctx, "acme", "a9"); err != nil || !ok {
		t.Fatalf("ApprovalDecided = %v, %v", ok, err)
	}
}
