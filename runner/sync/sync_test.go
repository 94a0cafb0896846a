package sync

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

func esc(id string) Item {
	it, err := NewItem(&pb.Escalation{EscalationId: id, Reason: "r"})
	if err != nil {
		panic(err)
	}
	return it
}

func ids(items []Item) string {
	var out []string
	for _, it := range items {
		out = append(out, it.ID)
	}
	return strings.Join(out, ",")
}

func TestDirOutboxOrderDedupeAndReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	o, err := OpenDirOutbox(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "b"} {
		if err := o.Add(ctx, esc(id)); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := NewItem(&pb.Outcome{GoalId: "a"})
	if err := o.Add(ctx, out); err != nil {
		t.Fatal(err)
	}
	if o.Len() != 4 {
		t.Fatalf("Len = %d, want 4 (b deduplicated, outcome a is another item than escalation a)", o.Len())
	}
	got, _ := o.Pending(ctx, 10)
	if ids(got) != "a,b,c,a" || got[3].Type != protocol.FrameOutcome {
		t.Errorf("Pending = %s", ids(got))
	}
	if err := o.Done(ctx, esc("a")); err != nil {
		t.Fatal(err)
	}
	if err := o.Reject(ctx, esc("b"), "FORBIDDEN: not yours"); err != nil {
		t.Fatal(err)
	}
	if err := o.Done(ctx, esc("zzz")); err != nil {
		t.Errorf("Done of an unknown item: %v", err)
	}
	// A crash can leave a temporary file: it is not an item.
	if err := os.WriteFile(filepath.Join(dir, "00000000000000000099.item.tmp"), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	o2, err := OpenDirOutbox(dir, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ = o2.Pending(ctx, 10)
	if ids(got) != "c,a" {
		t.Errorf("after reopen Pending = %s, want c,a", ids(got))
	}
	if err := o2.Add(ctx, esc("d")); err != nil {
		t.Fatal(err)
	}
	got, _ = o2.Pending(ctx, 10)
	if ids(got) != "c,a,d" {
		t.Errorf("new item after reopen: %s, want it last", ids(got))
	}
	reason, err := os.ReadFile(filepath.Join(dir, rejectedDir, "00000000000000000002.item.reason"))
	if err != nil || !strings.Contains(string(reason), "not yours") {
		t.Errorf("rejected item's reason = %q, %v", reason, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "00000000000000000099.item.tmp")); !os.IsNotExist(err) {
		t.Error("temporary file survived reopen")
	}
}

func TestDirOutboxLimits(t *testing.T) {
	o, err := OpenDirOutbox(t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_ = o.Add(ctx, esc("a"))
	_ = o.Add(ctx, esc("b"))
	if err := o.Add(ctx, esc("c")); err == nil || !strings.Contains(err.Error(), "outbox full") {
		t.Errorf("third item in a 2-item outbox: %v", err)
	}
	if err := o.Add(ctx, Item{ID: "", Type: protocol.FrameEscalation}); err == nil {
		t.Error("item without id accepted")
	}
	if err := o.Add(ctx, Item{ID: "x", Type: 99}); err == nil {
		t.Error("item of unknown type accepted")
	}
	if _, err := NewItem(&pb.Heartbeat{}); err == nil {
		t.Error("NewItem accepted a heartbeat")
	}
	if _, err := NewItem(&pb.Escalation{}); err == nil {
		t.Error("NewItem accepted an escalation without id")
	}
}

func FuzzDecodeOutboxItem(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/outbox/*.item")
	if len(seeds) == 0 {
		f.Fatal("no seeds in testdata/outbox")
	}
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		it, err := decodeOutboxItem(b)
		if err != nil {
			return
		}
		if it.ID == "" || !it.Type.Known() {
			t.Fatalf("decoded an invalid item: %+v", it)
		}
	})
}

func TestDirInboxIdempotent(t *testing.T) {
	ctx := context.Background()
	in, err := OpenDirInbox(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	g := func(id string, c uint64) *pb.GoalAssignment {
		return &pb.GoalAssignment{Goal: &pb.Goal{GoalId: id}, Cursor: c}
	}
	for _, a := range []*pb.GoalAssignment{g("g1", 3), g("g2", 7), g("g1", 3), g("old", 5)} {
		if err := in.Apply(ctx, StreamGoals, a.GetCursor(), a); err != nil {
			t.Fatal(err)
		}
	}
	c, err := in.Cursor(ctx, StreamGoals)
	if err != nil || c != 7 {
		t.Errorf("cursor = %d, %v; want 7", c, err)
	}
	ms, err := in.Received(StreamGoals)
	if err != nil || len(ms) != 2 {
		t.Fatalf("received %d, %v; want 2 (re-applied and stale items have no effect)", len(ms), err)
	}
	if ms[0].(*pb.GoalAssignment).GetGoal().GetGoalId() != "g1" || ms[1].(*pb.GoalAssignment).GetGoal().GetGoalId() != "g2" {
		t.Errorf("received out of order: %v", ms)
	}
	if err := in.Apply(ctx, "bogus", 1, g("x", 1)); err == nil {
		t.Error("unknown stream accepted")
	}
}

func TestBackoffBoundsAndJitter(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	lo, hi := 500*time.Millisecond, 2*time.Minute
	seen := map[time.Duration]bool{}
	for n := range 40 {
		want := min(lo<<min(n, 20), hi)
		d := Backoff(n, lo, hi, r)
		if d < want/2 || d > want {
			t.Fatalf("Backoff(%d) = %s, want within [%s, %s]", n, d, want/2, want)
		}
		seen[d] = true
	}
	if len(seen) < 30 {
		t.Errorf("only %d distinct delays in 40 attempts: not jittered", len(seen))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no address":   func(c *Config) { c.Address = "" },
		"backoff":      func(c *Config) { c.BackoffMax = c.BackoffMin / 2 },
		"batch":        func(c *Config) { c.BatchSize = 0 },
		"heartbeat":    func(c *Config) { c.HeartbeatInterval = time.Millisecond },
		"resync":       func(c *Config) { c.ResyncInterval = 0 },
		"dial timeout": func(c *Config) { c.DialTimeout = 0 },
	} {
		c := DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
