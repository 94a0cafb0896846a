package model

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestPlaybookProgression(t *testing.T) {
	pb := testPlaybook()
	pb.Alternatives = append(pb.Alternatives, Alternative{Name: "unlock+reset", Steps: []PlaybookStep{
		{Action: "directory.unlock_account", Params: json.RawMessage(`{"user":"${subject.user}"}`)},
		{Action: "directory.reset_password", Params: json.RawMessage(`{"user":"${subject.user}"}`)},
	}})
	p, err := NewPlaybookPlanner([]Playbook{pb})
	if err != nil {
		t.Fatal(err)
	}
	unlock := func(r Result) Attempt { return Attempt{Action: "directory.unlock_account", Result: r} }
	reset := func(r Result) Attempt { return Attempt{Action: "directory.reset_password", Result: r} }
	for _, tc := range []struct {
		name    string
		history []Attempt
		tools   []Tool
		kind    StepKind
		action  string
		params  string
		inWhy   string
	}{
		{name: "first step", kind: StepAction, action: "directory.unlock_account", params: `{"user":"dana"}`},
		{name: "first alternative done", history: []Attempt{unlock(ResultOK)}, kind: StepDone},
		{name: "failure moves to the next alternative", history: []Attempt{unlock(ResultFailed)}, kind: StepAction, action: "directory.reset_password", params: `{"notify":true,"user":"dana"}`},
		{name: "denied counts as failed", history: []Attempt{unlock(ResultDenied)}, kind: StepAction, action: "directory.reset_password"},
		{name: "pending stays", history: []Attempt{unlock(ResultPending)}, kind: StepAction, action: "directory.unlock_account"},
		{name: "other planners' attempts are ignored", history: []Attempt{{Action: "host.restart_service", Result: ResultFailed}}, kind: StepAction, action: "directory.unlock_account"},
		{name: "third alternative, second step", history: []Attempt{unlock(ResultFailed), reset(ResultFailed), unlock(ResultOK)}, kind: StepAction, action: "directory.reset_password", params: `{"user":"dana"}`},
		{name: "all failed: escalate", history: []Attempt{unlock(ResultFailed), reset(ResultFailed), unlock(ResultOK), reset(ResultFailed)}, kind: StepEscalate, inWhy: "no alternative left"},
		{name: "not offered: skipped", tools: testTools[1:2], kind: StepAction, action: "directory.reset_password"},
		{name: "nothing offered: escalate", tools: testTools[2:], kind: StepEscalate, inWhy: "not offered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := testState()
			st.History = tc.history
			if tc.tools != nil {
				st.Tools = tc.tools
			}
			step, err := p.Next(t.Context(), st)
			if err != nil {
				t.Fatal(err)
			}
			if step.Kind != tc.kind || step.Action != tc.action || (tc.params != "" && string(step.Params) != tc.params) {
				t.Fatalf("step = %v %s %s, want %v %s %s", step.Kind, step.Action, step.Params, tc.kind, tc.action, tc.params)
			}
			if !strings.Contains(step.Rationale, tc.inWhy) {
				t.Errorf("rationale %q lacks %q", step.Rationale, tc.inWhy)
			}
			if step.Meta.Planner != "playbook:unlock-v1" || !json.Valid(step.Meta.Raw) || step.Meta.PromptSHA256 != "" {
				t.Errorf("meta = %+v", step.Meta)
			}
		})
	}
}

func TestPlaybookPlaceholders(t *testing.T) {
	p, err := NewPlaybookPlanner([]Playbook{testPlaybook()})
	if err != nil {
		t.Fatal(err)
	}
	st := testState()
	st.Goal.Subject = map[string]string{"user": `da"na`}
	step, err := p.Next(t.Context(), st)
	if err != nil || string(step.Params) != `{"user":"da\"na"}` {
		t.Fatalf("step params = %s, err = %v; want the subject JSON-escaped", step.Params, err)
	}
	st.Goal.Subject = nil
	step, err = p.Next(t.Context(), st)
	if err != nil || step.Kind != StepEscalate || !strings.Contains(step.Rationale, `no attribute "user"`) {
		t.Fatalf("step = %+v, err = %v; want escalation naming the missing attribute", step, err)
	}
}

func TestPlaybookErrors(t *testing.T) {
	p, err := NewPlaybookPlanner([]Playbook{testPlaybook()})
	if err != nil {
		t.Fatal(err)
	}
	st := testState()
	st.Goal.Workflow = "disk_cleanup"
	if _, err := p.Next(t.Context(), st); !errors.Is(err, ErrNoPlaybook) {
		t.Errorf("unknown workflow: err = %v", err)
	}
	for name, pbs := range map[string][]Playbook{
		"no id":          {{Workflow: "w", Alternatives: testPlaybook().Alternatives}},
		"duplicate":      {testPlaybook(), testPlaybook()},
		"no alternative": {{ID: "x", Workflow: "w"}},
		"empty steps":    {{ID: "x", Workflow: "w", Alternatives: []Alternative{{}}}},
		"params array":   {{ID: "x", Workflow: "w", Alternatives: []Alternative{{Steps: []PlaybookStep{{Action: "a", Params: json.RawMessage(`[]`)}}}}}},
	} {
		if _, err := NewPlaybookPlanner(pbs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestPlaybookSkipsAlternativeWithoutInputs checks an alternative whose
// inputs the goal lacks (Skipped, as the scope renders it) is passed over,
// the others still serve the goal, and the plan says what was skipped.
func TestPlaybookSkipsAlternativeWithoutInputs(t *testing.T) {
	pb := testPlaybook()
	pb.Alternatives = append([]Alternative{{Name: "unlock-by-mail", Skipped: `the goal has no attribute "mail"`}}, pb.Alternatives...)
	p, err := NewPlaybookPlanner([]Playbook{pb})
	if err != nil {
		t.Fatal(err)
	}
	st := testState()
	step, err := p.Next(t.Context(), st)
	if err != nil || step.Kind != StepAction || step.Action != "directory.unlock_account" {
		t.Fatalf("step = %+v, %v; want the first usable alternative's step", step, err)
	}
	if !strings.Contains(step.Rationale, `skipped unlock-by-mail: the goal has no attribute "mail"`) {
		t.Errorf("rationale %q does not say the mail alternative was skipped", step.Rationale)
	}
	var plan struct{ Skipped []string }
	if err := json.Unmarshal(step.Meta.Raw, &plan); err != nil || len(plan.Skipped) != 1 || !strings.Contains(plan.Skipped[0], "mail") {
		t.Errorf("plan %s: want the skipped alternative listed", step.Meta.Raw)
	}
	st.History = []Attempt{{Action: "directory.unlock_account", Result: ResultOK}}
	if step, err = p.Next(t.Context(), st); err != nil || step.Kind != StepDone {
		t.Fatalf("after the unlock: %+v, %v; want done", step, err)
	}
	// Only skipped alternatives: escalate, saying why.
	only := Playbook{ID: "mail-only", Workflow: "account_unlock", Alternatives: []Alternative{{Name: "by-mail", Skipped: `the goal has no attribute "mail"`}}}
	p, err = NewPlaybookPlanner([]Playbook{only})
	if err != nil {
		t.Fatal(err)
	}
	if step, err = p.Next(t.Context(), testState()); err != nil || step.Kind != StepEscalate || !strings.Contains(step.Rationale, `no attribute "mail"`) {
		t.Fatalf("only skipped: %+v, %v; want an escalation naming the missing attribute", step, err)
	}
	if _, err := NewPlaybookPlanner([]Playbook{{ID: "x", Workflow: "w", Alternatives: []Alternative{{Name: "a", Skipped: "why",
		Steps: []PlaybookStep{{Action: "a.b"}}}}}}); err == nil {
		t.Error("a skipped alternative with steps was accepted")
	}
}
