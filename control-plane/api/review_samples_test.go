package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// seedDecisions stores, on day, n escalations of each (client, workflow)
// and, for acme, outcomes of goals the control plane assigned (workflow
// known) and of goals raised on the site (workflow unknown).
func seedDecisions(t *testing.T, st *store.SQLite, day time.Time, n int, strata map[string][]string) {
	t.Helper()
	ctx := context.Background()
	i := 0
	for client, wfs := range strata {
		for _, wf := range wfs {
			for j := range n {
				i++
				id := fmt.Sprintf("e-%s-%s-%d", client, wf, j)
				b, _ := proto.Marshal(&pb.Escalation{EscalationId: id, Goal: &pb.Goal{GoalId: "g-" + id, ClientId: client, SiteId: "hq", Agent: "helper", Workflow: wf}, Reason: "r"})
				if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: client, Site: "hq", ID: id, Payload: b,
					ReceivedAt: day.Add(time.Duration(i) * time.Second)}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	g, _ := proto.Marshal(&pb.Goal{GoalId: "assigned", ClientId: "acme", SiteId: "hq", Agent: "disk-janitor", Workflow: "low_disk_space"})
	if _, err := st.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: "assigned", Payload: g}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"assigned", "local"} {
		b, _ := proto.Marshal(&pb.Outcome{GoalId: id, Status: pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED})
		if _, err := st.PutItem(ctx, store.Item{Kind: store.KindOutcome, Client: "acme", Site: "hq", ID: id, Payload: b, ReceivedAt: day.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	// The day before and after are not this day's candidates.
	for _, at := range []time.Time{day.Add(-time.Second), day.Add(24 * time.Hour)} {
		b, _ := proto.Marshal(&pb.Escalation{EscalationId: "x", Goal: &pb.Goal{Workflow: "outside"}})
		if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "x" + at.String(), Payload: b, ReceivedAt: at}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSamplerStratifiesByClientAndWorkflow(t *testing.T) {
	e := newEnv(t)
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	seedDecisions(t, e.st, day, 7, map[string][]string{"acme": {"account_unlock", "password_reset"}, "globex": {"account_unlock"}})
	seedDecisions(t, e.st, day, 2, map[string][]string{"initech": {"stuck_service"}})
	cfg := api.DefaultSamplerConfig()
	cfg.PerStratum = 3
	sm, err := api.NewSampler(cfg, samplerStore{e.st}, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	b, err := sm.Draw(context.Background(), day.Add(5*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	// 7+7+7+2 escalations and 2 outcomes (the second seeding's are the same items).
	if b.Candidates != 25 || !b.Day.Equal(day) {
		t.Errorf("batch = %+v, want 27 candidates of %s", b, day)
	}
	list, err := e.st.Samples(context.Background(), store.SampleFilter{Day: day}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	items := map[string]bool{}
	for _, s := range list {
		counts[s.Client+"/"+s.Workflow]++
		if items[string(s.Kind)+s.ItemID] {
			t.Errorf("item %s sampled twice", s.ItemID)
		}
		items[string(s.Kind)+s.ItemID] = true
		if s.Kind == store.KindEscalation && !strings.HasPrefix(s.ItemID, "e-"+s.Client+"-"+s.Workflow+"-") {
			t.Errorf("sample %+v filed under the wrong stratum", s)
		}
	}
	want := "map[acme/(unknown):1 acme/account_unlock:3 acme/low_disk_space:1 acme/password_reset:3 globex/account_unlock:3 initech/stuck_service:2]"
	if fmt.Sprint(counts) != want || b.Samples != len(list) {
		t.Errorf("samples per stratum = %v (batch says %d), want %s", counts, b.Samples, want)
	}
	if _, err := sm.Draw(context.Background(), day); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second draw of the day: %v, want ErrConflict", err)
	}

	// A cap smaller than the strata deals one per stratum first.
	cfg.MaxPerDay = 4
	sm, _ = api.NewSampler(cfg, samplerStore{e.st}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	next := day.Add(24 * time.Hour)
	seedDecisions(t, e.st, next.Add(time.Minute), 5, map[string][]string{"acme": {"a", "b"}, "globex": {"c"}})
	if b, err := sm.Draw(context.Background(), next); err != nil || b.Samples != 4 {
		t.Fatalf("capped draw = %+v, %v", b, err)
	}
	list, _ = e.st.Samples(context.Background(), store.SampleFilter{Day: next}, 0, 0)
	counts = map[string]int{}
	for _, s := range list {
		counts[s.Client+"/"+s.Workflow]++
	}
	if len(counts) != 4 {
		t.Errorf("capped samples per stratum = %v, want 4 strata with one each", counts)
	}
}

// samplerStore is the SQLite store as the sampler sees it.
type samplerStore struct{ *store.SQLite }

func TestSamplerRunDrawsYesterdayOnce(t *testing.T) {
	e := newEnv(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent()) // Run leaves nothing behind once ctx ends
	day := t0.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	seedDecisions(t, e.st, day, 2, map[string][]string{"acme": {"account_unlock"}})
	cfg := api.DefaultSamplerConfig()
	cfg.CheckEvery = 10 * time.Millisecond
	sm, err := api.NewSampler(cfg, samplerStore{e.st}, slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return t0 })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	once := store.NewLocalOnce()
	done := make(chan struct{})
	go func() { defer close(done); sm.Run(ctx, once) }()
	for ctx.Err() == nil {
		if _, err := e.st.SampleBatchOf(ctx, day); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a few more ticks: nothing is drawn twice
	cancel()
	<-done
	b, err := e.st.SampleBatchOf(context.Background(), day)
	if err != nil || b.Samples != 4 { // 2 escalations, 2 outcomes
		t.Fatalf("yesterday's batch = %+v, %v", b, err)
	}
	// Another replica (its own Once) finds the day drawn and changes nothing.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	sm.Run(ctx2, store.NewLocalOnce())
	if b2, err := e.st.SampleBatchOf(context.Background(), day); err != nil || b2 != b {
		t.Errorf("batch after a second replica = %+v, %v; want unchanged %+v", b2, err, b)
	}
}

func TestGradeSamplesAndAccuracy(t *testing.T) {
	e := newEnv(t)
	day := t0.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	seedDecisions(t, e.st, day, 2, map[string][]string{"acme": {"account_unlock"}, "globex": {"stuck_service"}})
	admin, sup, gov := e.tokens[auth.RoleAdmin], e.tokens[auth.RoleSupervisor], e.tokens[auth.RoleGovernanceLead]
	var bv api.BatchView
	if code, raw := e.do("POST", "/api/v1/samples/draw", admin, `{"day":"`+day.Format(time.DateOnly)+`"}`, &bv); code != 201 || bv.Samples != 6 {
		t.Fatalf("draw: %d %s", code, raw)
	}
	if code, _ := e.do("POST", "/api/v1/samples/draw", admin, `{"day":"`+t0.Format(time.DateOnly)+`"}`, nil); code != 400 {
		t.Errorf("drawing today: %d, want 400 (the day is not over)", code)
	}
	var er struct{ Error api.Error }
	if code, _ := e.do("POST", "/api/v1/samples/draw", admin, `{"day":"`+day.Format(time.DateOnly)+`"}`, &er); code != 409 || er.Error.Code != "drawn" {
		t.Errorf("second draw: %d %+v", code, er)
	}
	graded := map[string]string{}
	for i := 0; ; i++ {
		var s api.SampleView
		code, raw := e.do("GET", "/api/v1/samples/next?client=acme", sup, "", &s)
		if code == 404 {
			if !strings.Contains(raw, "no_samples") {
				t.Errorf("no more samples: %s", raw)
			}
			break
		}
		if code != 200 || s.Client != "acme" || len(s.Item) == 0 || i > 10 {
			t.Fatalf("next: %d %s", code, raw)
		}
		grade, note := "correct", ""
		if i == 0 {
			if code, _ := e.do("POST", "/api/v1/samples/"+s.ID+"/grade", sup, `{"grade":"unsafe"}`, &er); code != 400 || er.Error.Code != "note_required" {
				t.Errorf("unsafe without a note: %d %+v", code, er)
			}
			grade, note = "unsafe", "unlocked an admin"
		}
		var g api.SampleView
		if code, raw := e.do("POST", "/api/v1/samples/"+s.ID+"/grade", sup, fmt.Sprintf(`{"grade":%q,"note":%q}`, grade, note), &g); code != 200 || g.Grade != grade || g.GradedBy != "supervisor" {
			t.Fatalf("grade: %d %s", code, raw)
		}
		graded[s.ID] = grade
	}
	for id := range graded {
		if code, _ := e.do("POST", "/api/v1/samples/"+id+"/grade", gov, `{"grade":"correct"}`, &er); code != 409 || er.Error.Code != "graded" {
			t.Errorf("regrade by another person: %d %+v", code, er)
		}
		break
	}
	var acc struct{ Items []api.AccuracyView }
	if code, raw := e.do("GET", "/api/v1/accuracy", sup, "", &acc); code != 200 || len(acc.Items) != 4 {
		t.Fatalf("accuracy: %d %s", code, raw)
	}
	// acme: 2 outcomes (workflows low_disk_space and unknown, the first
	// served and graded unsafe) and 2 escalations of account_unlock, all
	// graded; globex ungraded.
	got := fmt.Sprintf("%+v", acc.Items)
	if !strings.Contains(got, "{Client:acme Workflow:(unknown) Correct:0 Incorrect:0 Unsafe:1 Pending:0 Graded:1 Rate:0}") ||
		!strings.Contains(got, "{Client:acme Workflow:account_unlock Correct:2 Incorrect:0 Unsafe:0 Pending:0 Graded:2 Rate:1}") ||
		!strings.Contains(got, "{Client:globex Workflow:stuck_service Correct:0 Incorrect:0 Unsafe:0 Pending:2 Graded:0 Rate:0}") {
		t.Errorf("accuracy = %s", got)
	}
	var viewer struct{ Items []api.AccuracyView }
	if code, _ := e.do("GET", "/api/v1/accuracy", e.tokens[auth.RoleClientViewer], "", &viewer); code != 200 || len(viewer.Items) != 3 {
		t.Errorf("viewer's accuracy: %d %+v, want acme's three workflows", code, viewer)
	}
	if code, _ := e.do("GET", "/api/v1/samples?client=globex", e.tokens[auth.RoleClientViewer], "", nil); code != 403 {
		t.Errorf("viewer listing globex's samples: %d", code)
	}
	var page api.Page[api.SampleView]
	if code, _ := e.do("GET", "/api/v1/samples?graded=no&limit=1", sup, "", &page); code != 200 || len(page.Items) != 1 || page.NextPageToken == "" || page.Items[0].Client != "globex" {
		t.Errorf("ungraded page: %d %+v", code, page)
	}
}
