package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// ReviewStore is a store with the governance state.
type ReviewStore interface {
	store.Store
	store.Review
}

// OpenReview returns a new, empty store; RunReview closes it.
type OpenReview func(t *testing.T) ReviewStore

// RunReview runs the store.Review contract suite against stores made by open.
func RunReview(t *testing.T, open OpenReview) {
	tests := []contractCase[ReviewStore]{
		{"ItemsReceivedWindowAndCursor", testItemsReceived},
		{"SampleBatchOncePerDay", testSampleBatch},
		{"SamplesGradeAndAccuracy", testGrades},
		{"ProposalApproveReject", testProposals},
		{"ProposalConcurrentApprove", testProposalRace},
		{"QueueSizes", testQueueSizes},
	}
	runCases(t, open, tests)
}

var day0 = time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

func putItem(t *testing.T, s store.Store, kind store.Kind, client, id string, at time.Time) {
	t.Helper()
	if _, err := s.PutItem(ctx(t), store.Item{Kind: kind, Client: client, Site: "hq", ID: id, Payload: []byte(id), ReceivedAt: at}); err != nil {
		t.Fatal(err)
	}
}

func testItemsReceived(t *testing.T, s ReviewStore) {
	c := ctx(t)
	// Three items share one instant: the cursor must order them by kind,
	// client and id.
	same := day0.Add(3 * time.Hour)
	putItem(t, s, store.KindOutcome, "acme", "g2", same)
	putItem(t, s, store.KindOutcome, "acme", "g1", same)
	putItem(t, s, store.KindEscalation, "globex", "e1", same)
	putItem(t, s, store.KindOutcome, "globex", "g3", day0.Add(time.Hour))
	putItem(t, s, store.KindApprovalRequest, "acme", "a1", day0.Add(2*time.Hour))
	putItem(t, s, store.KindOutcome, "acme", "before", day0.Add(-time.Nanosecond))
	putItem(t, s, store.KindOutcome, "acme", "after", day0.Add(24*time.Hour))
	kinds := []store.Kind{store.KindOutcome, store.KindEscalation}
	var got []string
	var after store.ItemCursor
	for range 10 {
		page, err := s.ItemsReceived(c, kinds, day0, day0.Add(24*time.Hour), after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		for _, it := range page {
			got = append(got, string(it.Kind)+"/"+it.Client+"/"+it.ID)
			if string(it.Payload) != it.ID || it.Site != "hq" {
				t.Errorf("item %+v: payload or site lost", it)
			}
		}
		last := page[len(page)-1]
		after = store.ItemCursor{ReceivedAt: last.ReceivedAt, Kind: last.Kind, Client: last.Client, ID: last.ID}
	}
	want := "[outcome/globex/g3 escalation/globex/e1 outcome/acme/g1 outcome/acme/g2]"
	if fmt.Sprint(got) != want {
		t.Errorf("ItemsReceived pages = %v, want %s (window [day, day+24h), kinds outcome+escalation, cursor order)", got, want)
	}
	if _, err := s.ItemsReceived(c, nil, day0, day0.Add(time.Hour), store.ItemCursor{}, 10); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("no kinds: %v, want ErrInvalid", err)
	}
}

func sample(id, client, workflow string, kind store.Kind) store.Sample {
	return store.Sample{ID: id, Day: day0, Kind: kind, Client: client, Site: "hq", ItemID: "item-" + id, GoalID: "goal-" + id,
		Agent: "helper", Workflow: workflow, ReceivedAt: day0.Add(time.Hour)}
}

func testSampleBatch(t *testing.T, s ReviewStore) {
	c := ctx(t)
	if _, err := s.SampleBatchOf(c, day0); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("batch before drawing: %v, want ErrNotFound", err)
	}
	b := store.SampleBatch{Day: day0, DrawnAt: day0.Add(25 * time.Hour), Candidates: 40}
	if err := s.AddSampleBatch(c, b, []store.Sample{sample("s1", "acme", "account_unlock", store.KindOutcome), sample("s2", "globex", "low_disk_space", store.KindEscalation)}); err != nil {
		t.Fatal(err)
	}
	// A second draw of the same day (another replica) changes nothing.
	if err := s.AddSampleBatch(c, b, []store.Sample{sample("s3", "acme", "account_unlock", store.KindOutcome)}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second batch of a day: %v, want ErrConflict", err)
	}
	if _, err := s.Sample(c, "s3"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("sample of the refused batch: %v, want ErrNotFound (nothing written)", err)
	}
	got, err := s.SampleBatchOf(c, day0)
	if err != nil || got.Samples != 2 || got.Candidates != 40 || !got.Day.Equal(day0) || !got.DrawnAt.Equal(b.DrawnAt) {
		t.Errorf("SampleBatchOf = %+v, %v", got, err)
	}
	// One item is sampled once per day, even under two ids.
	dup := sample("s4", "acme", "account_unlock", store.KindOutcome)
	dup.ItemID, dup.Day = "item-x", day0.Add(24*time.Hour)
	dup2 := dup
	dup2.ID = "s5"
	if err := s.AddSampleBatch(c, store.SampleBatch{Day: dup.Day}, []store.Sample{dup, dup2}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("same item twice in a batch: %v, want ErrConflict", err)
	}
	if _, err := s.SampleBatchOf(c, dup.Day); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("batch of a refused draw: %v, want ErrNotFound (all or nothing)", err)
	}
	sm, err := s.Sample(c, "s2")
	if err != nil || sm.Client != "globex" || sm.Kind != store.KindEscalation || sm.Workflow != "low_disk_space" || sm.GoalID != "goal-s2" ||
		!sm.Day.Equal(day0) || !sm.ReceivedAt.Equal(day0.Add(time.Hour)) || sm.Grade != "" || sm.Agent != "helper" || sm.ItemID != "item-s2" {
		t.Errorf("Sample(s2) = %+v, %v", sm, err)
	}
	if err := s.AddSampleBatch(c, store.SampleBatch{}, nil); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("batch without a day: %v, want ErrInvalid", err)
	}
}

func testGrades(t *testing.T, s ReviewStore) {
	c := ctx(t)
	day1 := day0.Add(24 * time.Hour)
	late := sample("s9", "acme", "account_unlock", store.KindOutcome)
	late.Day, late.ItemID = day1, "item-late"
	if err := s.AddSampleBatch(c, store.SampleBatch{Day: day0}, []store.Sample{
		sample("s1", "acme", "account_unlock", store.KindOutcome), sample("s2", "acme", "account_unlock", store.KindEscalation),
		sample("s3", "acme", "password_reset", store.KindOutcome), sample("s4", "globex", "low_disk_space", store.KindOutcome),
		sample("s5", "acme", "account_unlock", store.KindApprovalRequest),
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSampleBatch(c, store.SampleBatch{Day: day1}, []store.Sample{late}); err != nil {
		t.Fatal(err)
	}
	if err := s.GradeSample(c, "s1", "great", "ann", "", t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("bad grade: %v, want ErrInvalid", err)
	}
	if err := s.GradeSample(c, "nope", store.GradeCorrect, "ann", "", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown sample: %v, want ErrNotFound", err)
	}
	for _, g := range []struct {
		id    string
		grade store.Grade
	}{{"s1", store.GradeIncorrect}, {"s2", store.GradeUnsafe}, {"s4", store.GradeCorrect}, {"s9", store.GradeCorrect}} {
		if err := s.GradeSample(c, g.id, g.grade, "ann", "note "+g.id, t0); err != nil {
			t.Fatal(err)
		}
	}
	// The grader corrects their own grade; another person may not overwrite it.
	if err := s.GradeSample(c, "s1", store.GradeCorrect, "ann", "on second look fine", t0.Add(time.Minute)); err != nil {
		t.Errorf("regrade by the grader: %v", err)
	}
	if err := s.GradeSample(c, "s1", store.GradeUnsafe, "bob", "", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("regrade by another: %v, want ErrConflict", err)
	}
	sm, err := s.Sample(c, "s1")
	if err != nil || sm.Grade != store.GradeCorrect || sm.GradedBy != "ann" || sm.Note != "on second look fine" || !sm.GradedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("graded sample = %+v, %v", sm, err)
	}
	ids := func(f store.SampleFilter, off, lim int) string {
		t.Helper()
		l, err := s.Samples(c, f, off, lim)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range l {
			out = append(out, x.ID)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		f        store.SampleFilter
		off, lim int
		want     string
	}{
		{store.SampleFilter{}, 0, 0, "[s1 s2 s5 s3 s4 s9]"},
		{store.SampleFilter{}, 1, 2, "[s2 s5]"},
		{store.SampleFilter{Graded: "no"}, 0, 0, "[s5 s3]"},
		{store.SampleFilter{Graded: "yes", Client: "acme"}, 0, 0, "[s1 s2 s9]"},
		{store.SampleFilter{Workflow: "low_disk_space"}, 0, 0, "[s4]"},
		{store.SampleFilter{Day: day1}, 0, 0, "[s9]"},
	} {
		if got := ids(tc.f, tc.off, tc.lim); got != tc.want {
			t.Errorf("Samples(%+v, %d, %d) = %s, want %s", tc.f, tc.off, tc.lim, got, tc.want)
		}
	}
	if _, err := s.Samples(c, store.SampleFilter{Graded: "maybe"}, 0, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("graded=maybe: %v, want ErrInvalid", err)
	}
	acc, err := s.Accuracy(c, "", time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := "[{acme account_unlock 2 0 1 1} {acme password_reset 0 0 0 1} {globex low_disk_space 1 0 0 0}]"
	if fmt.Sprint(acc) != want {
		t.Errorf("Accuracy(all) = %v, want %s", acc, want)
	}
	if acc[0].Graded() != 3 || acc[0].Rate() != 2.0/3 || acc[1].Rate() != 0 {
		t.Errorf("Graded/Rate of %v wrong", acc[0])
	}
	acc, err = s.Accuracy(c, "acme", day0, day1)
	if err != nil || fmt.Sprint(acc) != "[{acme account_unlock 1 0 1 1} {acme password_reset 0 0 0 1}]" {
		t.Errorf("Accuracy(acme, day0) = %v, %v", acc, err)
	}
}

func proposal(id, client, proposer string, base uint64, at time.Time) store.ScopeProposal {
	return store.ScopeProposal{ID: id, Client: client, BaseVersion: base, Proposer: proposer, ProposedAt: at, Note: "why " + id,
		Files: []store.ScopeFile{{Name: "scope.yaml", Text: "client: " + client + "\n"}, {Name: "scope_test.yaml", Text: "tests: []\n"}},
		Diff:  []byte(`[{"mark":"WIDENS"}]`), Widens: 1, Narrows: 2, TestsRun: 7, TestsFailed: 1, TestReport: "7 cases, 1 failed\n"}
}

func testProposals(t *testing.T, s ReviewStore) {
	c := ctx(t)
	if err := s.CreateProposal(c, proposal("p1", "acme", "ann", 0, t0)); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProposal(c, proposal("p1", "acme", "ann", 0, t0)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate proposal: %v, want ErrConflict", err)
	}
	noFiles := proposal("p0", "acme", "ann", 0, t0)
	noFiles.Files = nil
	if err := s.CreateProposal(c, noFiles); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("proposal without files: %v, want ErrInvalid", err)
	}
	if err := s.CreateProposal(c, proposal("p2", "acme", "bob", 0, t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProposal(c, proposal("p3", "globex", "ann", 0, t0.Add(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	p, err := s.Proposal(c, "p1")
	want := proposal("p1", "acme", "ann", 0, t0)
	want.Status = store.ProposalPending
	if err != nil || fmt.Sprint(p) != fmt.Sprint(want) {
		t.Errorf("Proposal(p1) =\n%+v, %v\nwant\n%+v", p, err, want)
	}
	if _, err := s.Proposal(c, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown proposal: %v, want ErrNotFound", err)
	}
	v1 := store.ScopeVersion{Client: "acme", Version: 1, Bundle: []byte("b1"), CreatedAt: t0.Add(time.Hour)}
	if err := s.ApproveProposal(c, "p1", "ann", "", v1, t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("approval by the proposer: %v, want ErrInvalid", err)
	}
	if err := s.ApproveProposal(c, "p1", "cat", "", store.ScopeVersion{Client: "globex", Version: 1}, t0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("approval with another client's version: %v, want ErrInvalid", err)
	}
	if err := s.ApproveProposal(c, "p1", "cat", "", store.ScopeVersion{Client: "acme", Version: 2}, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("approval skipping a version: %v, want ErrConflict", err)
	}
	if _, err := s.LatestScope(c, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("refused approvals stored a scope: %v", err)
	}
	if err := s.ApproveProposal(c, "p1", "cat", "looks right", v1, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.ApproveProposal(c, "p1", "dan", "", store.ScopeVersion{Client: "acme", Version: 2}, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second approval: %v, want ErrConflict", err)
	}
	if err := s.RejectProposal(c, "p1", "dan", "", t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("reject after approval: %v, want ErrConflict", err)
	}
	latest, err := s.LatestScope(c, "acme")
	if err != nil || latest.Version != 1 || string(latest.Bundle) != "b1" {
		t.Errorf("LatestScope after approval = %+v, %v; want v1", latest, err)
	}
	p, err = s.Proposal(c, "p1")
	if err != nil || p.Status != store.ProposalApproved || p.DecidedBy != "cat" || p.DecisionNote != "looks right" || p.Version != 1 || !p.DecidedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("approved proposal = %+v, %v", p, err)
	}
	// p2 was made against version 0; the client is at 1 now.
	if err := s.ApproveProposal(c, "p2", "cat", "", store.ScopeVersion{Client: "acme", Version: 2}, t0); !errors.Is(err, store.ErrConflict) {
		t.Errorf("approval of a stale proposal: %v, want ErrConflict", err)
	}
	if err := s.RejectProposal(c, "p2", "cat", "stale", t0.Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	p, err = s.Proposal(c, "p2")
	if err != nil || p.Status != store.ProposalRejected || p.DecidedBy != "cat" || p.DecisionNote != "stale" || p.Version != 0 {
		t.Errorf("rejected proposal = %+v, %v", p, err)
	}
	if err := s.RejectProposal(c, "nope", "cat", "", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("reject unknown: %v, want ErrNotFound", err)
	}
	list := func(client string, st store.ProposalStatus, off, lim int) string {
		t.Helper()
		l, err := s.Proposals(c, client, st, off, lim)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, x := range l {
			out = append(out, x.ID)
		}
		return fmt.Sprint(out)
	}
	for _, tc := range []struct {
		client   string
		st       store.ProposalStatus
		off, lim int
		want     string
	}{
		{"", "", 0, 0, "[p3 p2 p1]"},
		{"acme", "", 0, 0, "[p2 p1]"},
		{"", store.ProposalPending, 0, 0, "[p3]"},
		{"", "", 1, 1, "[p2]"},
	} {
		if got := list(tc.client, tc.st, tc.off, tc.lim); got != tc.want {
			t.Errorf("Proposals(%q, %q, %d, %d) = %s, want %s", tc.client, tc.st, tc.off, tc.lim, got, tc.want)
		}
	}
	if err := s.PutScope(c, store.ScopeVersion{Client: "acme", Version: 2, Bundle: []byte("b2"), CreatedAt: t0.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	vs, err := s.ScopeVersions(c, "acme", 0, 0)
	if err != nil || len(vs) != 2 || vs[0].Version != 2 || vs[1].Version != 1 || string(vs[1].Bundle) != "b1" || !vs[1].CreatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("ScopeVersions = %+v, %v; want v2, v1", vs, err)
	}
	if vs, err := s.ScopeVersions(c, "acme", 1, 5); err != nil || len(vs) != 1 || vs[0].Version != 1 {
		t.Errorf("ScopeVersions page 2 = %+v, %v", vs, err)
	}
	if v, err := s.ScopeVersionOf(c, "acme", 1); err != nil || string(v.Bundle) != "b1" {
		t.Errorf("ScopeVersionOf(acme, 1) = %+v, %v", v, err)
	}
	if _, err := s.ScopeVersionOf(c, "acme", 9); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ScopeVersionOf(acme, 9): %v, want ErrNotFound", err)
	}
}

func testProposalRace(t *testing.T, s ReviewStore) {
	c := ctx(t)
	if err := s.CreateProposal(c, proposal("p1", "acme", "ann", 0, t0)); err != nil {
		t.Fatal(err)
	}
	won := raceWins(t, 4, store.ErrConflict, "concurrent approval", func(i int) error {
		return s.ApproveProposal(c, "p1", fmt.Sprintf("lead%d", i), "", store.ScopeVersion{Client: "acme", Version: 1, Bundle: []byte{byte(i)}, CreatedAt: t0}, t0)
	})
	if won != 1 {
		t.Errorf("%d concurrent approvals succeeded, want exactly 1", won)
	}
	p, err := s.Proposal(c, "p1")
	v, err2 := s.LatestScope(c, "acme")
	if err != nil || err2 != nil || p.DecidedBy != fmt.Sprintf("lead%d", v.Bundle[0]) {
		t.Errorf("approver %q and stored bundle %v disagree (%v, %v)", p.DecidedBy, v.Bundle, err, err2)
	}
}

func testQueueSizes(t *testing.T, s ReviewStore) {
	c := ctx(t)
	q, err := s.QueueSizes(c)
	if err != nil || q != (store.QueueSizes{}) {
		t.Fatalf("QueueSizes of an empty store = %+v, %v", q, err)
	}
	putItem(t, s, store.KindEscalation, "acme", "e1", t0)
	putItem(t, s, store.KindEscalation, "acme", "e2", t0)
	putItem(t, s, store.KindEscalation, "globex", "e1", t0)
	putItem(t, s, store.KindApprovalRequest, "acme", "a1", t0)
	putItem(t, s, store.KindApprovalRequest, "acme", "a2", t0)
	putItem(t, s, store.KindOutcome, "acme", "g1", t0)
	if err := s.ClaimEscalation(c, "acme", "e2", "ann", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveEscalation(c, "acme", "e1", "ann", "done", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddDecision(c, store.Decision{Client: "acme", Site: "hq", ApprovalID: "a1", Payload: []byte("d")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSampleBatch(c, store.SampleBatch{Day: day0}, []store.Sample{sample("s1", "acme", "w", store.KindOutcome), sample("s2", "acme", "w", store.KindEscalation)}); err != nil {
		t.Fatal(err)
	}
	if err := s.GradeSample(c, "s1", store.GradeCorrect, "ann", "", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateProposal(c, proposal("p1", "acme", "ann", 0, t0)); err != nil {
		t.Fatal(err)
	}
	q, err = s.QueueSizes(c)
	want := store.QueueSizes{OpenEscalations: 2, PendingApprovals: 1, UngradedSamples: 1, PendingProposals: 1}
	if err != nil || q != want {
		t.Errorf("QueueSizes = %+v, %v; want %+v", q, err, want)
	}
}
