package notify

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/internal/testsupport"
)

func TestDeliverSignedEscalation(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	n, _ := startNotifier(t, fastConfig(rc.target("psa", FormatJSON)), st, rc)
	putEscalation(t, st, "acme", "e1", "no in-scope path left")
	waitFor(t, 10*time.Second, "the escalation event", func() bool { return len(rc.events()) == 1 })
	e := rc.events()[0]
	if e.Type != EventEscalationOpened || e.ID != "escalation.opened:acme:e1" || e.Client != "acme" || e.Site != "hq" || e.Tenant != "msp" ||
		e.GoalID != "g-e1" || e.Workflow != "account_unlock" || e.Link != "https://cp.example.com/escalations/acme/e1" ||
		!strings.Contains(e.Summary, "no in-scope path left") || e.Version != EventVersion || e.Time.IsZero() {
		t.Fatalf("event = %+v", e)
	}
	waitFor(t, 5*time.Second, "stats", func() bool {
		s, err := n.Stats(context.Background())
		return err == nil && len(s) == 1 && s[0].Delivered == 1 && s[0].Pending == 0 && s[0].Failed == 0
	})
	// A signature made with another secret is refused by the receiver
	// (the check above is not vacuous).
	rc.mu.Lock()
	bad := rc.badSigs
	rc.mu.Unlock()
	if bad != 0 {
		t.Fatalf("receiver refused %d signatures", bad)
	}
	req, _ := http.NewRequest(http.MethodPost, rc.URL, strings.NewReader(`{"id":"forged"}`))
	req.Header.Set(HeaderSignature, Sign("not-the-secret-0000", time.Now().Unix(), []byte(`{"id":"forged"}`)))
	req.Header.Set(HeaderTimestamp, fmt.Sprint(time.Now().Unix()))
	resp, err := rc.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("forged request got %d", resp.StatusCode)
	}
}

func TestRetryAfterErrorsAndTimeouts(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	rc.respond = func(n int) (int, time.Duration) {
		switch n {
		case 0, 1:
			return http.StatusInternalServerError, 0
		case 2:
			return http.StatusOK, time.Second // past the target's timeout
		case 3:
			return http.StatusTooManyRequests, 0
		}
		return http.StatusOK, 0
	}
	tg := rc.target("psa", FormatJSON)
	tg.Timeout = 200 * time.Millisecond
	startNotifier(t, fastConfig(tg), st, rc)
	putEscalation(t, st, "acme", "e1", "r")
	putEscalation(t, st, "acme", "e2", "r")
	waitFor(t, 15*time.Second, "both events", func() bool { return len(rc.events()) == 2 })
	got := rc.events()
	if got[0].ID != "escalation.opened:acme:e1" || got[1].ID != "escalation.opened:acme:e2" {
		t.Fatalf("order = %s, %s; want e1 then e2 (ordered per target)", got[0].ID, got[1].ID)
	}
	rows, err := st.NotifyRowsOf(context.Background(), "psa", 10)
	if err != nil || len(rows) != 2 || rows[0].Attempts != 5 || rows[0].State != store.NotifyDelivered || rows[1].Attempts != 1 {
		t.Fatalf("rows = %+v, %v; want e1 delivered on attempt 5", rows, err)
	}
	time.Sleep(300 * time.Millisecond) // no redelivery afterwards
	if len(rc.events()) != 2 {
		t.Fatalf("redelivered: %d events", len(rc.events()))
	}
}

func TestGiveUp(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	rc.respond = func(n int) (int, time.Duration) {
		if n == 0 {
			return http.StatusUnprocessableEntity, 0 // permanent: fails at once
		}
		return http.StatusBadGateway, 0
	}
	cfg := fastConfig(rc.target("psa", FormatJSON))
	cfg.GiveUpAfter = time.Second
	n, _ := startNotifier(t, cfg, st, rc)
	putEscalation(t, st, "acme", "e1", "r")
	waitFor(t, 5*time.Second, "e1 queued", func() bool {
		rows, _ := st.NotifyRowsOf(context.Background(), "psa", 10)
		return len(rows) == 1
	})
	putEscalation(t, st, "acme", "e2", "r")
	waitFor(t, 10*time.Second, "both failed", func() bool {
		s, _ := n.Stats(context.Background())
		return len(s) == 1 && s[0].Failed == 2 && s[0].Pending == 0
	})
	rows, _ := st.NotifyRowsOf(context.Background(), "psa", 10)
	if rows[0].Attempts != 1 || !strings.Contains(rows[0].LastError, "HTTP 422") || rows[1].Attempts < 3 || !strings.Contains(rows[1].LastError, "gave up") {
		t.Fatalf("rows = %+v", rows)
	}
}

func TestFilters(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	acme := rc.target("acme-team", FormatJSON)
	acme.Clients = []string{"acme"}
	esc := rc.target("esc-only", FormatJSON)
	esc.Events = []string{EventEscalationOpened}
	startNotifier(t, fastConfig(acme, esc), st, rc)
	putEscalation(t, st, "acme", "e1", "r")
	putEscalation(t, st, "globex", "e2", "r")
	putApproval(t, st, "acme", "a1", time.Now().Add(24*time.Hour))
	putApproval(t, st, "globex", "a2", time.Now().Add(24*time.Hour))
	ctx := context.Background()
	waitFor(t, 10*time.Second, "deliveries", func() bool {
		c, _ := st.NotifyPendingCounts(ctx)
		return len(rc.events()) == 4 && c["acme-team"] == 0 && c["esc-only"] == 0
	})
	ids := func(target string) []string {
		rows, _ := st.NotifyRowsOf(ctx, target, 10)
		var out []string
		for _, r := range rows {
			out = append(out, r.EventID)
		}
		return out
	}
	if got := ids("acme-team"); !slices.Equal(got, []string{"escalation.opened:acme:e1", "approval.requested:acme:a1"}) {
		t.Errorf("acme-team got %v", got)
	}
	if got := ids("esc-only"); !slices.Equal(got, []string{"escalation.opened:acme:e1", "escalation.opened:globex:e2"}) {
		t.Errorf("esc-only got %v", got)
	}
}

func TestApprovalExpiringOnce(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	cfg := fastConfig(rc.target("psa", FormatJSON))
	cfg.ApprovalLead = time.Hour
	startNotifier(t, cfg, st, rc)
	ctx := context.Background()
	putApproval(t, st, "acme", "soon", time.Now().Add(30*time.Minute)) // inside the lead: due now
	putApproval(t, st, "acme", "later", time.Now().Add(48*time.Hour))  // not due
	putApproval(t, st, "acme", "decided", time.Now().Add(time.Minute)) // decided before it is due
	if _, err := st.AddDecision(ctx, store.Decision{Client: "acme", Site: "hq", ApprovalID: "decided", Payload: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "events", func() bool { return len(rc.events()) >= 4 })
	time.Sleep(300 * time.Millisecond) // many more polls: nothing fires twice
	var expiring []string
	rc.mu.Lock()
	count := maps.Clone(rc.count)
	rc.mu.Unlock()
	for id, k := range count {
		if k != 1 {
			t.Errorf("%s delivered %d times", id, k)
		}
		if strings.HasPrefix(id, EventApprovalExpiring) {
			expiring = append(expiring, id)
		}
	}
	slices.Sort(expiring)
	if !slices.Equal(expiring, []string{"approval.expiring:acme:soon"}) || len(rc.events()) != 4 {
		t.Fatalf("expiring = %v, events = %d; want only soon's, and 3 requested", expiring, len(rc.events()))
	}
	for _, e := range rc.events() {
		if e.ID == "approval.expiring:acme:soon" && (e.ExpiresAt == nil || !strings.Contains(e.Summary, "decide it")) {
			t.Errorf("expiring event = %+v", e)
		}
	}
}

func TestRestartDeliversPendingOnce(t *testing.T) {
	path := tempDB(t)
	st := openLite(t, path)
	rc := newReceiver(t)
	var down atomic.Bool // read by the receiver's handler, set by the test
	down.Store(true)
	rc.respond = func(int) (int, time.Duration) {
		if down.Load() {
			return http.StatusServiceUnavailable, 0
		}
		return http.StatusOK, 0
	}
	cfg := fastConfig(rc.target("psa", FormatJSON))
	_, stop := startNotifier(t, cfg, st, rc)
	for i := range 5 {
		putEscalation(t, st, "acme", fmt.Sprintf("e%d", i), "r")
	}
	waitFor(t, 10*time.Second, "5 pending", func() bool {
		c, _ := st.NotifyPendingCounts(context.Background())
		return c["psa"] == 5
	})
	stop()
	st.Close()
	down.Store(false)

	st = openLite(t, path)
	defer st.Close()
	startNotifier(t, cfg, st, rc)
	waitFor(t, 10*time.Second, "5 delivered", func() bool { return len(rc.events()) == 5 })
	time.Sleep(300 * time.Millisecond)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 5 {
		t.Fatalf("got %d events; want 5", len(rc.got))
	}
	for i, e := range rc.got {
		if want := fmt.Sprintf("escalation.opened:acme:e%d", i); e.ID != want || rc.count[e.ID] != 1 {
			t.Errorf("event %d = %s (x%d); want %s once", i, e.ID, rc.count[e.ID], want)
		}
	}
}

func TestWitnessAlert(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	startNotifier(t, fastConfig(rc.target("chat", FormatSlack)), st, rc)
	if err := st.RecordAuditAlert(context.Background(), store.AuditAlert{Client: "acme", Site: "hq", Reason: "checkpoint <!channel> fork", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the alert", func() bool { return len(rc.bodies()) == 1 })
	body := string(rc.bodies()[0])
	if !strings.Contains(body, "Audit witness alert for acme/hq: checkpoint \\u0026lt;!channel\\u0026gt; fork") ||
		!strings.Contains(body, "https://cp.example.com/sites/acme/hq") {
		t.Fatalf("slack body = %s", body)
	}
}

// TestRunStopsCleanly checks Run leaves no goroutine behind once stopped,
// with a delivery in flight to a receiver that does not answer.
func TestRunStopsCleanly(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	rc.respond = func(int) (int, time.Duration) { return http.StatusOK, time.Minute }
	before := goleak.IgnoreCurrent()
	_, stop := startNotifier(t, fastConfig(rc.target("psa", FormatJSON)), st, rc)
	putEscalation(t, st, "acme", "e1", "r")
	waitFor(t, 10*time.Second, "a delivery in flight", func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return rc.requests == 1
	})
	start := time.Now()
	stop()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop took %s", d)
	}
	rows, err := st.NotifyRowsOf(context.Background(), "psa", 10)
	if err != nil || len(rows) != 1 || rows[0].State != store.NotifyPending || !strings.Contains(rows[0].LastError, "stopped") {
		t.Fatalf("rows = %+v, %v; want the cut delivery pending again", rows, err)
	}
	rc.CloseClientConnections()
	rc.Client().CloseIdleConnections()
	goleak.VerifyNone(t, before)
}

// TestLogsHoldNoSecrets fails deliveries to a URL whose path is a token
// and checks neither it nor the HMAC secret reaches the log or the outbox.
func TestLogsHoldNoSecrets(t *testing.T) {
	st := openLite(t, tempDB(t))
	defer st.Close()
	rc := newReceiver(t)
	rc.respond = func(int) (int, time.Duration) { return http.StatusInternalServerError, 0 }
	tg := rc.target("psa", FormatJSON)
	tg.URL = rc.URL + "/services/PATH-TOKEN-123?key=QUERY-TOKEN-456"
	var logs testsupport.Buffer
	cfg := fastConfig(tg)
	n, err := New(cfg, st, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	n.send = NewSender(rc.Client())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx); close(done) }()
	putEscalation(t, st, "acme", "e1", "r")
	waitFor(t, 10*time.Second, "retries logged", func() bool { return strings.Count(logs.String(), "will retry") >= 2 })
	cancel()
	<-done
	rows, _ := st.NotifyRowsOf(context.Background(), "psa", 10)
	all := logs.String()
	for _, r := range rows {
		all += r.LastError + string(r.Body)
	}
	for _, secret := range []string{"PATH-TOKEN-123", "QUERY-TOKEN-456", testSecret} {
		if strings.Contains(all, secret) {
			t.Errorf("%q reached the log or the outbox:\n%s", secret, all)
		}
	}
}
