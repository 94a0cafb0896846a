package model

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestFallback(t *testing.T) {
	pb, err := NewPlaybookPlanner([]Playbook{testPlaybook()})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("no model configured", func(t *testing.T) {
		f, err := NewFallback(nil, pb, DefaultFallbackConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		step, err := f.Next(t.Context(), testState())
		if err != nil || step.Meta.Planner != "playbook:unlock-v1" || step.Meta.Fallback != "no model configured" {
			t.Fatalf("step = %+v, err = %v", step, err)
		}
	})
	t.Run("unreachable model", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Host, cfg.Model, cfg.Retries, cfg.Timeout = "http://"+closedAddr(t), "m", 1, time.Second
		cfg.RetryBackoff = time.Millisecond
		model, err := NewOllama(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		f, err := NewFallback(model, pb, DefaultFallbackConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		step, err := f.Next(t.Context(), testState())
		if err != nil || step.Action != "directory.unlock_account" || !strings.Contains(step.Meta.Fallback, "unreachable") {
			t.Fatalf("step = %+v, err = %v; want the playbook's step", step, err)
		}
	})
	t.Run("model rejects the request", func(t *testing.T) {
		s := newStandIn(t, reply{status: 400, body: `{"error":"invalid format"}`})
		f, err := NewFallback(standInPlanner(t, s, nil), pb, DefaultFallbackConfig(), nil)
		if err != nil {
			t.Fatal(err)
		}
		step, err := f.Next(t.Context(), testState())
		if err != nil || step.Meta.Planner != "playbook:unlock-v1" || !strings.Contains(step.Meta.Fallback, "rejected") {
			t.Fatalf("step = %+v, err = %v; want the playbook's step", step, err)
		}
	})
	t.Run("consecutive failures", func(t *testing.T) {
		// Two malformed answers, one good one, then three malformed ones:
		// the good answer resets the count, the third failure in a row
		// switches the goal to the playbook for good.
		s := newStandIn(t,
			okContent("nonsense"), okContent("nonsense"),
			okToolCall("directory.unlock_account", `{"user":"dana"}`),
			okContent("nonsense"), okContent("nonsense"), okContent("nonsense"),
		)
		f, err := NewFallback(standInPlanner(t, s, nil), pb, FallbackConfig{MaxFailures: 3, MaxGoals: 8}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var trace []string
		for range 8 {
			step, err := f.Next(t.Context(), testState())
			switch {
			case errors.Is(err, ErrPlanFailed):
				trace = append(trace, "fail")
			case err != nil:
				t.Fatal(err)
			default:
				trace = append(trace, strings.SplitN(step.Meta.Planner, ":", 2)[0])
			}
		}
		want := "fail fail model fail fail fail playbook playbook"
		if got := strings.Join(trace, " "); got != want {
			t.Fatalf("trace = %s, want %s", got, want)
		}
		if n := len(s.requests()); n != 6 {
			t.Errorf("model called %d times, want 6", n)
		}
		// Another goal still uses the model.
		other := testState()
		other.Goal.ID = "g-2"
		if _, err := f.Next(t.Context(), other); err != nil || len(s.requests()) == 6 {
			t.Errorf("goal g-2 did not go to the model first: err = %v", err)
		}
	})
	t.Run("bounded memory", func(t *testing.T) {
		failing := plannerFunc(func(context.Context, State) (Step, error) { return Step{}, &PlanError{Kind: FailMalformed} })
		f, err := NewFallback(failing, pb, FallbackConfig{MaxFailures: 1, MaxGoals: 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			st := testState()
			st.Goal.ID = fmt.Sprint(i)
			_, _ = f.Next(t.Context(), st)
		}
		if len(f.failures) != 2 || len(f.order) != 2 {
			t.Fatalf("remembers %d goals, want 2", len(f.failures))
		}
	})
}

type plannerFunc func(context.Context, State) (Step, error)

func (f plannerFunc) Next(ctx context.Context, s State) (Step, error) { return f(ctx, s) }
