package model

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
)

// TestPlannerContract runs the Planner contract against every
// implementation.
func TestPlannerContract(t *testing.T) {
	pb, err := NewPlaybookPlanner([]Playbook{testPlaybook()})
	if err != nil {
		t.Fatal(err)
	}
	answers := make([]reply, 32)
	for i := range answers {
		answers[i] = okToolCall("directory.reset_password", `{"user":"dana","notify":false}`)
	}
	s := newStandIn(t, answers...)
	model := standInPlanner(t, s, nil)
	withModel, err := NewFallback(model, pb, DefaultFallbackConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	withoutModel, err := NewFallback(nil, pb, DefaultFallbackConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]Planner{
		"ollama":           model,
		"playbook":         pb,
		"fallback":         withModel,
		"fallback-nomodel": withoutModel,
	} {
		t.Run(name, func(t *testing.T) { plannerContract(t, p) })
	}
}

func plannerContract(t *testing.T, p Planner) {
	t.Run("valid step, state untouched", func(t *testing.T) {
		st := testState()
		st.History = []Attempt{{Action: "directory.unlock_account", Params: []byte(`{"user":"dana"}`), Result: ResultFailed, Note: "account disabled"}}
		before := testState()
		before.History = []Attempt{{Action: "directory.unlock_account", Params: []byte(`{"user":"dana"}`), Result: ResultFailed, Note: "account disabled"}}
		step, err := p.Next(t.Context(), st)
		if err != nil {
			t.Fatal(err)
		}
		checkStep(t, step, st)
		if step.Meta.Planner == "" || len(step.Meta.Raw) == 0 {
			t.Errorf("step lacks audit metadata: %+v", step.Meta)
		}
		if !reflect.DeepEqual(st, before) {
			t.Error("Next modified the state")
		}
	})
	t.Run("budget exhausted", func(t *testing.T) {
		st := testState()
		st.Budget.Steps = 0
		if _, err := p.Next(t.Context(), st); !errors.Is(err, ErrBudgetExhausted) {
			t.Errorf("err = %v, want ErrBudgetExhausted", err)
		}
	})
	t.Run("canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := p.Next(ctx, testState()); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	})
	t.Run("concurrent goals", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for i := range 4 {
			wg.Go(func() {
				st := testState()
				st.Goal.ID = string(rune('a' + i))
				_, err := p.Next(t.Context(), st)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// checkStep asserts a step's contract: an action is one of the offered
// tools with params that satisfy its schema.
func checkStep(t *testing.T, step Step, st State) {
	t.Helper()
	switch step.Kind {
	case StepDone, StepEscalate:
		return
	case StepAction:
	default:
		t.Fatalf("step kind %v", step.Kind)
	}
	tools, err := compileTools(st.Tools)
	if err != nil {
		t.Fatal(err)
	}
	tl, ok := tools[step.Action]
	if !ok {
		t.Fatalf("action %q was not offered", step.Action)
	}
	v, err := decodeValue(step.Params)
	if err != nil {
		t.Fatal(err)
	}
	if err := tl.params.validate(v); err != nil {
		t.Fatalf("params %s: %v", step.Params, err)
	}
}
