package goals

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
	"github.com/sitewarden/sitewarden/runner/agent"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// fakeAgent stands in for the agent: these tests check the feeding, not
// the loop (runner/agent and e2e test that).
type fakeAgent struct {
	mu      sync.Mutex
	runs    []agent.Goal
	resumed []agent.ApprovalDecision
	result  func(agent.Goal) agent.Outcome
}

func (f *fakeAgent) Run(_ context.Context, g agent.Goal) agent.Outcome {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runs = append(f.runs, g)
	return f.result(g)
}

func (f *fakeAgent) Resume(_ context.Context, d agent.ApprovalDecision) (agent.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resumed = append(f.resumed, d)
	if d.ApprovalID != "apr-1" {
		return agent.Outcome{}, agent.ErrNoApproval
	}
	return agent.Outcome{GoalID: "g-wait", Status: agent.StatusResolved}, nil
}

type memOutbox struct{ items []rsync.Item }

func (m *memOutbox) Add(_ context.Context, it rsync.Item) error {
	m.items = append(m.items, it)
	return nil
}

func (m *memOutbox) kinds() string {
	var out []string
	for _, it := range m.items {
		out = append(out, it.Type.String()+":"+it.ID)
	}
	return strings.Join(out, " ")
}

func setup(t *testing.T) (*Worker, *fakeAgent, *rsync.DirInbox, *memOutbox, string) {
	t.Helper()
	dir := t.TempDir()
	in, err := rsync.OpenDirInbox(filepath.Join(dir, "inbox"))
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{result: func(g agent.Goal) agent.Outcome {
		switch g.Subject["user"] {
		case "wait":
			return agent.Outcome{GoalID: g.ID, Status: agent.StatusAwaitingApproval,
				Approval: &agent.ApprovalRequest{ID: "apr-1", GoalID: g.ID, Action: "directory.reset_password", Requested: time.Now(), Expires: time.Now().Add(time.Hour)}}
		case "stuck":
			return agent.Outcome{GoalID: g.ID, Status: agent.StatusEscalated, Escalation: &agent.Escalation{Reason: "no path", SuggestedNextStep: "do it by hand"}}
		}
		return agent.Outcome{GoalID: g.ID, Status: agent.StatusResolved, Secrets: map[string]string{"password": "one-time-pw"}}
	}}
	out := &memOutbox{}
	cfg := DefaultConfig()
	cfg.Dir, cfg.Client, cfg.Site = filepath.Join(dir, "goals"), "acme", "hq"
	w, err := New(cfg, a, in, out, nil)
	if err != nil {
		t.Fatal(err)
	}
	return w, a, in, out, cfg.Dir
}

func assign(t *testing.T, in *rsync.DirInbox, cursor uint64, id, client, user string) {
	t.Helper()
	err := in.Apply(context.Background(), rsync.StreamGoals, cursor, &pb.GoalAssignment{Cursor: cursor,
		Goal: &pb.Goal{GoalId: id, ClientId: client, Agent: "account-helper", Workflow: "account_unlock", Subject: map[string]string{"user": user}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAssignedGoalsRunOnceAndPublish(t *testing.T) {
	w, a, in, out, _ := setup(t)
	kicks := 0
	w.OnPublish(func() { kicks++ })
	assign(t, in, 1, "g-ok", "acme", "dana")
	assign(t, in, 2, "g-stuck", "acme", "stuck")
	assign(t, in, 3, "g-other", "globex", "dana")
	assign(t, in, 4, "g-wait", "acme", "wait")
	ctx := context.Background()
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(ctx); err != nil { // nothing new: nothing runs twice
		t.Fatal(err)
	}
	if len(a.runs) != 3 {
		t.Fatalf("agent ran %d goals, want 3 (the other client's goal must not run)", len(a.runs))
	}
	want := "outcome:g-ok escalation:esc-g-stuck outcome:g-stuck outcome:g-other approval-request:apr-1"
	if got := out.kinds(); got != want {
		t.Errorf("outbox %s\nwant   %s", got, want)
	}
	for _, it := range out.items {
		if strings.Contains(string(it.Payload), "one-time-pw") {
			t.Error("a one-time secret went to the outbox")
		}
	}
	var o pb.Outcome
	_ = proto.Unmarshal(out.items[3].Payload, &o)
	if o.GetStatus() != pb.OutcomeStatus_OUTCOME_STATUS_DENIED || !strings.Contains(o.GetSummary(), `serves client "acme"`) {
		t.Errorf("other client's goal: %v %q", o.GetStatus(), o.GetSummary())
	}
	if kicks != 4 {
		t.Errorf("%d kicks, want one per published goal", kicks)
	}

	// The supervisor's decision arrives: the paused goal resumes.
	err := in.Apply(ctx, rsync.StreamApprovals, 1, &pb.ApprovalDecision{ApprovalId: "apr-1", Verdict: pb.Verdict_VERDICT_APPROVED, DecidedBy: "sam", DecidedAt: timestamppb.Now()})
	if err != nil {
		t.Fatal(err)
	}
	_ = in.Apply(ctx, rsync.StreamApprovals, 2, &pb.ApprovalDecision{ApprovalId: "apr-unknown", Verdict: pb.Verdict_VERDICT_DENIED})
	if err := w.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.resumed) != 2 || !a.resumed[0].Approved || a.resumed[0].By != "sam" {
		t.Fatalf("resumed %+v", a.resumed)
	}
	if last := out.items[len(out.items)-1]; last.Type != protocol.FrameOutcome || last.ID != "g-wait" {
		t.Errorf("after approval the outbox ends with %s:%s", last.Type, last.ID)
	}
}

func TestLocalSubmission(t *testing.T) {
	w, _, _, out, dir := setup(t)
	g := agent.Goal{ID: "local-1", Client: "acme", Agent: "account-helper", Workflow: "account_unlock", Subject: map[string]string{"user": "dana"}}
	if err := Submit(dir, g); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spool", "bad-1.json"), []byte(`{"id":"bad-1","colour":"blue"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := w.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, secrets, err := Wait(ctx, dir, "local-1", 10*time.Millisecond)
	if err != nil || res.Status != agent.StatusResolved || secrets["password"] != "one-time-pw" {
		t.Fatalf("Wait = %+v, %v, %v", res, secrets, err)
	}
	if _, again, _ := Wait(ctx, dir, "local-1", 10*time.Millisecond); again != nil {
		t.Error("the one-time secret can be read twice")
	}
	if raw, _ := os.ReadFile(filepath.Join(dir, "outcomes", "local-1.json")); strings.Contains(string(raw), "one-time-pw") {
		t.Error("the outcome file holds the secret")
	}
	bad, _, err := Wait(ctx, dir, "bad-1", 10*time.Millisecond)
	if err != nil || bad.Status != agent.StatusFailed || !strings.Contains(bad.Summary, "colour") {
		t.Errorf("malformed submission: %+v, %v", bad, err)
	}
	if err := Submit(dir, g); err == nil || !strings.Contains(err.Error(), "already has an outcome") {
		t.Errorf("resubmitting: %v", err)
	}
	g.ID = "../escape"
	if err := Submit(dir, g); err == nil {
		t.Error("a path in the goal id was accepted")
	}
	if len(out.items) != 1 {
		t.Errorf("outbox has %d items, want the one outcome", len(out.items))
	}
	short, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	if _, _, err := Wait(short, dir, "never", 10*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no outcome yet") {
		t.Errorf("Wait for a missing goal: %v", err)
	}
}
