package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Playbook is a scope's fixed plan for one workflow: ordered alternatives,
// each a sequence of actions. It is a plain struct; the agent adapts the
// policy engine's playbooks to it.
type Playbook struct {
	// ID names the playbook in the audit ("playbook:<ID>").
	ID string
	// Workflow is the workflow class it serves, e.g. "account_unlock".
	Workflow string
	// Alternatives are tried in order; the next one starts when a step of
	// the current one fails.
	Alternatives []Alternative
}

// Alternative is one way to reach the goal.
type Alternative struct {
	Name  string
	Steps []PlaybookStep
	// Skipped, when set, says why the alternative cannot serve this goal
	// (an input it needs is absent); it then has no steps, and the planner
	// passes over it and says so in its plan.
	Skipped string
}

// PlaybookStep is one action with its parameters. String values in Params
// may contain placeholders "${subject.KEY}", replaced by the goal's subject
// attribute KEY (a missing attribute makes the step unusable, so the
// alternative is skipped).
type PlaybookStep struct {
	Action string
	Params json.RawMessage
}

// Bounds of a playbook.
const (
	maxAlternatives = 64
	maxPlaybookLen  = 64
)

// PlaybookPlanner proposes steps from playbooks, by the goal's workflow.
// It keeps no state: where a goal stands is derived from State.History.
// Safe for concurrent use.
type PlaybookPlanner struct {
	byWorkflow map[string]Playbook
}

var _ Planner = (*PlaybookPlanner)(nil)

// NewPlaybookPlanner checks the playbooks (IDs set, one per workflow,
// non-empty alternatives and steps, params JSON objects) and returns a
// planner over them.
func NewPlaybookPlanner(pbs []Playbook) (*PlaybookPlanner, error) {
	p := &PlaybookPlanner{byWorkflow: make(map[string]Playbook, len(pbs))}
	for _, pb := range pbs {
		if pb.ID == "" || pb.Workflow == "" {
			return nil, fmt.Errorf("playbook %q for workflow %q: ID and workflow are required", pb.ID, pb.Workflow)
		}
		if _, dup := p.byWorkflow[pb.Workflow]; dup {
			return nil, fmt.Errorf("playbook %q: workflow %q already has a playbook; merge them into one", pb.ID, pb.Workflow)
		}
		if len(pb.Alternatives) == 0 || len(pb.Alternatives) > maxAlternatives {
			return nil, fmt.Errorf("playbook %q: needs 1 to %d alternatives, has %d", pb.ID, maxAlternatives, len(pb.Alternatives))
		}
		for i, alt := range pb.Alternatives {
			if alt.Skipped != "" {
				if len(alt.Steps) != 0 {
					return nil, fmt.Errorf("playbook %q alternative %d: a skipped alternative has no steps", pb.ID, i+1)
				}
				continue
			}
			if len(alt.Steps) == 0 || len(alt.Steps) > maxPlaybookLen {
				return nil, fmt.Errorf("playbook %q alternative %d: needs 1 to %d steps, has %d", pb.ID, i+1, maxPlaybookLen, len(alt.Steps))
			}
			for j, st := range alt.Steps {
				if st.Action == "" {
					return nil, fmt.Errorf("playbook %q alternative %d step %d: action is empty", pb.ID, i+1, j+1)
				}
				params := st.Params
				if len(params) == 0 {
					params = json.RawMessage(`{}`)
				}
				v, err := decodeValue(params)
				if _, ok := v.(map[string]any); err != nil || !ok {
					return nil, fmt.Errorf("playbook %q alternative %d step %d: params must be a JSON object", pb.ID, i+1, j+1)
				}
			}
		}
		p.byWorkflow[pb.Workflow] = pb
	}
	return p, nil
}

// Has reports whether a playbook serves the workflow.
func (p *PlaybookPlanner) Has(workflow string) bool {
	_, ok := p.byWorkflow[workflow]
	return ok
}

// Next derives where the goal stands from its history and proposes the
// next step:
//
//   - Attempts are matched, in order, against the current alternative's
//     next step (same action). A matching ResultOK advances the step; any
//     other result abandons the alternative. Attempts that do not match
//     (another planner's) are ignored; a pending attempt (awaiting
//     approval) keeps the alternative on that step.
//   - An alternative marked Skipped (its inputs are absent), whose next
//     action is not offered, or whose params do not satisfy the action's
//     schema, is skipped; the proposed step's rationale and Meta.Raw
//     ("skipped") say which and why.
//   - When an alternative has run all its steps, the answer is Done (the
//     agent's goal validation decides); when none is left, Escalate.
func (p *PlaybookPlanner) Next(ctx context.Context, s State) (Step, error) {
	if err := ctx.Err(); err != nil {
		return Step{}, err
	}
	pb, ok := p.byWorkflow[s.Goal.Workflow]
	if !ok {
		return Step{}, fmt.Errorf("%w %q; add one to the scope", ErrNoPlaybook, s.Goal.Workflow)
	}
	if s.Budget.Steps <= 0 {
		return Step{}, ErrBudgetExhausted
	}
	tools, err := compileTools(s.Tools)
	if err != nil && !errors.Is(err, ErrNoTools) {
		return Step{}, err
	}
	meta := Meta{Planner: "playbook:" + pb.ID}

	alt, pos := 0, 0
	var skipped []string
	for _, a := range s.History {
		for alt < len(pb.Alternatives) && pb.Alternatives[alt].Skipped != "" {
			alt++
		}
		if alt >= len(pb.Alternatives) {
			break
		}
		cur := pb.Alternatives[alt]
		if a.Action != cur.Steps[pos].Action {
			continue
		}
		switch {
		case a.Result == ResultOK:
			pos++
			if pos == len(cur.Steps) {
				raw, _ := json.Marshal(map[string]any{"alternative": altName(cur, alt), "completed": true})
				meta.Raw = raw
				return Step{Kind: StepDone, Rationale: fmt.Sprintf("alternative %q completed", altName(cur, alt)), Meta: meta}, nil
			}
		case a.Result == ResultPending:
			// Still waiting for approval: stay on this step.
		default:
			alt, pos = alt+1, 0
		}
	}
	for ; alt < len(pb.Alternatives); alt, pos = alt+1, 0 {
		cur := pb.Alternatives[alt]
		if cur.Skipped != "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", altName(cur, alt), cur.Skipped))
			continue
		}
		st := cur.Steps[pos]
		params, why := p.usable(st, s, tools)
		if why != "" {
			skipped = append(skipped, fmt.Sprintf("%s: %s", altName(cur, alt), why))
			continue
		}
		plan := map[string]any{"alternative": altName(cur, alt), "step": pos + 1, "action": st.Action, "params": params}
		rationale := fmt.Sprintf("playbook %s, alternative %q, step %d of %d", pb.ID, altName(cur, alt), pos+1, len(cur.Steps))
		if len(skipped) > 0 {
			plan["skipped"] = skipped
			rationale += " (skipped " + strings.Join(skipped, "; ") + ")"
		}
		raw, _ := json.Marshal(plan)
		meta.Raw = raw
		return Step{
			Kind:      StepAction,
			Action:    st.Action,
			Params:    params,
			Rationale: rationale,
			Meta:      meta,
		}, nil
	}
	reason := fmt.Sprintf("playbook %s: no alternative left (%d tried", pb.ID, len(pb.Alternatives))
	if len(skipped) > 0 {
		reason += "; skipped " + strings.Join(skipped, "; ")
	}
	reason += ")"
	raw, _ := json.Marshal(map[string]any{"escalate": reason})
	meta.Raw = raw
	return Step{Kind: StepEscalate, Rationale: reason, Meta: meta}, nil
}

func altName(a Alternative, i int) string {
	if a.Name != "" {
		return a.Name
	}
	return fmt.Sprintf("#%d", i+1)
}

// usable fills a step's placeholders and checks it against the offered
// tools; why is non-empty when the step cannot be proposed.
func (p *PlaybookPlanner) usable(st PlaybookStep, s State, tools map[string]*compiledTool) (json.RawMessage, string) {
	t, ok := tools[st.Action]
	if !ok {
		return nil, fmt.Sprintf("action %s not offered", st.Action)
	}
	params := st.Params
	if len(params) == 0 {
		params = json.RawMessage(`{}`)
	}
	v, err := decodeValue(params)
	if err != nil {
		return nil, "params: " + err.Error()
	}
	v, err = fill(v, s.Goal.Subject)
	if err != nil {
		return nil, err.Error()
	}
	if err := t.params.validate(v); err != nil {
		return nil, "params " + err.Error()
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, err.Error()
	}
	return bytes.TrimSpace(out), ""
}

// fill replaces "${subject.KEY}" in string values.
func fill(v any, subject map[string]string) (any, error) {
	switch v := v.(type) {
	case string:
		var b strings.Builder
		rest := v
		for {
			i := strings.Index(rest, "${subject.")
			if i < 0 {
				b.WriteString(rest)
				return b.String(), nil
			}
			j := strings.IndexByte(rest[i:], '}')
			if j < 0 {
				return nil, fmt.Errorf("unterminated placeholder in %q", v)
			}
			key := rest[i+len("${subject.") : i+j]
			val, ok := subject[key]
			if !ok {
				return nil, fmt.Errorf("subject has no attribute %q", key)
			}
			b.WriteString(rest[:i])
			b.WriteString(val)
			rest = rest[i+j+1:]
		}
	case map[string]any:
		for k, e := range v {
			f, err := fill(e, subject)
			if err != nil {
				return nil, err
			}
			v[k] = f
		}
	case []any:
		for i, e := range v {
			f, err := fill(e, subject)
			if err != nil {
				return nil, err
			}
			v[i] = f
		}
	}
	return v, nil
}
