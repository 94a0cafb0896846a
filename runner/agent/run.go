package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sitewarden/sitewarden/policies"
	audit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/model"
)

// run is one goal in progress. It is owned by one goroutine.
type run struct {
	a       *Agent
	goal    Goal
	scope   *policies.Scope
	wf      *policies.Workflow
	ag      *policies.Agent
	planner model.Planner
	tools   []model.Tool
	out     Outcome
	history []model.Attempt
	facts   []fact
	// secrets are one-time secrets actions returned in this goal.
	secrets map[string]string
	// planned counts planning rounds; acted counts actions run.
	planned, acted int
	deadline       time.Time
	// validatedAt is len(history) when the goal validation last failed.
	validatedAt int
	// approved is the step a supervisor approved, run without asking again.
	approved *approvedStep
	// logBroken is set once the audit log refused a record: nothing runs
	// after that.
	logBroken bool
}

type approvedStep struct {
	action string
	params string
}

// Run works on g until it is resolved, escalated, denied, failed or waits
// for an approval, and returns the outcome with every step. ctx bounds the
// whole run; the scope's wall-time budget and g.Deadline bound it further.
func (a *Agent) Run(ctx context.Context, g Goal) Outcome {
	r := &run{a: a, goal: g, validatedAt: -1, secrets: map[string]string{}}
	r.out = Outcome{GoalID: g.ID, Started: a.d.Now()}
	if err := g.Validate(); err != nil {
		return r.finish(StatusFailed, err.Error())
	}
	received := map[string]any{
		"workflow": g.Workflow, "requester": g.Requester, "subject": g.Subject,
		"ticket_sha256": sha256Hex([]byte(g.TicketText)), "ticket_bytes": len(g.TicketText),
	}
	if g.Guidance != "" {
		received["guidance"] = g.Guidance // a supervisor's words, kept whole
	}
	if _, err := r.audit(ctx, audit.KindGoalReceived, "requester:"+g.Requester, received); err != nil {
		return r.finish(StatusFailed, err.Error())
	}
	if done := r.setup(ctx); done {
		return r.out
	}
	return r.loop(ctx)
}

// setup loads the scope, workflow, tools and planner. It reports true when
// the goal already ended (no scope, unknown workflow, mode off).
func (r *run) setup(ctx context.Context) bool {
	r.scope = r.a.d.Policy.Scope()
	if r.scope == nil {
		r.escalate(ctx, "no scope bundle is loaded on this runner", "check the site's sync status and that a scope was approved for this client")
		return true
	}
	wf, ok := r.scope.Workflow(r.goal.Agent, r.goal.Workflow)
	if !ok || r.scope.Client() != r.goal.Client {
		d := r.scope.Decide(policies.Request{Agent: r.goal.Agent, Workflow: r.goal.Workflow, Now: r.a.d.Now()})
		r.auditDecision(ctx, "", nil, d)
		r.finish(StatusDenied, fmt.Sprintf("agent %q has no workflow %q for client %q in scope v%d", r.goal.Agent, r.goal.Workflow, r.goal.Client, r.scope.Bundle().Version))
		return true
	}
	r.wf = wf
	r.ag, _ = r.scope.Agent(r.goal.Agent)
	if wf.Mode() == policies.ModeOff {
		d := r.scope.Decide(policies.Request{Agent: r.goal.Agent, Workflow: r.goal.Workflow, Now: r.a.d.Now()})
		r.auditDecision(ctx, "", nil, d)
		r.finish(StatusDenied, fmt.Sprintf("agent %q is off for workflow %q", r.goal.Agent, r.goal.Workflow))
		return true
	}
	b := wf.Budget()
	r.deadline = r.out.Started.Add(b.MaxWallTime)
	if !r.goal.Deadline.IsZero() && r.goal.Deadline.Before(r.deadline) {
		r.deadline = r.goal.Deadline
	}
	for _, name := range wf.AllowedActions() {
		op, err := r.a.d.Actions.Operation(ctx, name)
		if err != nil {
			r.a.d.Log.Warn("action not offered to the planner", "goal", r.goal.ID, "action", name, "err", err)
			continue
		}
		r.tools = append(r.tools, model.Tool{Name: op.Name, Description: op.Description, Params: op.ParamsSchema})
	}
	p, err := r.a.planner(r.scope, r.goal)
	if err != nil {
		r.escalate(ctx, "no planner: "+err.Error(), "configure a local model or add a playbook for this workflow to the scope")
		return true
	}
	r.planner = p
	return false
}

// loop plans and acts until the goal ends.
func (r *run) loop(ctx context.Context) Outcome {
	defer r.a.forget(r.planner, r.goal.ID)
	b := r.wf.Budget()
	for r.out.Status == "" {
		if err := ctx.Err(); err != nil {
			r.escalate(ctx, "stopped before the goal was reached: "+err.Error(), "resubmit the goal when the runner is back")
			break
		}
		if r.planned >= b.MaxSteps {
			r.escalate(ctx, fmt.Sprintf("step budget exhausted (%d of %d steps)", r.planned, b.MaxSteps), r.suggestion())
			break
		}
		if !r.a.d.Now().Before(r.deadline) {
			r.escalate(ctx, fmt.Sprintf("wall-time budget exhausted (%s)", b.MaxWallTime), r.suggestion())
			break
		}
		r.planned++
		st, err := r.planner.Next(ctx, r.state())
		if err != nil {
			r.planFailed(ctx, err)
			continue
		}
		if _, err := r.audit(ctx, audit.KindPlanStep, st.Meta.Planner, planPayload(st)); err != nil {
			r.finish(StatusFailed, err.Error())
			break
		}
		switch st.Kind {
		case model.StepEscalate:
			r.escalate(ctx, "the planner found no in-scope path left: "+st.Rationale, r.suggestion())
		case model.StepDone:
			r.done(ctx, st)
		case model.StepAction:
			r.act(ctx, st)
		default:
			r.planFailed(ctx, fmt.Errorf("%w: step kind %v", model.ErrPlanFailed, st.Kind))
		}
	}
	return r.out
}

// planFailed records an unusable planning step. A proposal of an action
// that was not offered is decided (and so denied, audited and counted) like
// any other out-of-scope proposal. A planner that cannot plan at all (no
// model and no playbook) ends the goal with an escalation.
func (r *run) planFailed(ctx context.Context, err error) {
	var pe *model.PlanError
	if errors.As(err, &pe) && pe.Kind == model.FailOutOfScope && pe.Proposed != "" {
		if _, aerr := r.audit(ctx, audit.KindPlanStep, pe.Meta.Planner, planPayload(model.Step{Meta: pe.Meta, Rationale: err.Error()})); aerr != nil {
			r.finish(StatusFailed, aerr.Error())
			return
		}
		r.act(ctx, model.Step{Kind: model.StepAction, Action: pe.Proposed, Params: json.RawMessage(`{}`), Rationale: pe.Detail, Meta: pe.Meta})
		return
	}
	now := r.a.d.Now()
	payload := map[string]any{"error": err.Error()}
	planner := "planner"
	if pe != nil {
		payload = planPayload(model.Step{Meta: pe.Meta, Rationale: err.Error()})
		if pe.Meta.Planner != "" {
			planner = pe.Meta.Planner
		}
	}
	idx, aerr := r.audit(ctx, audit.KindPlanStep, planner, payload)
	if aerr != nil {
		r.finish(StatusFailed, aerr.Error())
		return
	}
	r.out.Steps = append(r.out.Steps, Step{N: len(r.out.Steps) + 1, Planner: planner, Status: StepPlanFailed,
		Error: err.Error(), Started: now, Finished: now, AuditIndex: idx})
	r.history = append(r.history, model.Attempt{Result: model.ResultInvalid, Note: truncate(err.Error(), 512)})
	if !errors.Is(err, model.ErrPlanFailed) {
		r.escalate(ctx, "planning failed: "+err.Error(), "check the local model and the scope's playbook for this workflow")
	}
}

// done handles the planner's claim that the goal is reached: the goal's
// validation decides.
func (r *run) done(ctx context.Context, st model.Step) {
	if r.validatedAt == len(r.history) {
		r.escalate(ctx, "the planner claims the goal is reached but its validation fails", r.suggestion())
		return
	}
	ok, summary := r.validateGoal(ctx)
	if ok {
		r.finish(StatusResolved, summary)
		return
	}
	r.validatedAt = len(r.history)
}

// state is what the planner sees: tools, filtered history, what is left.
func (r *run) state() model.State {
	b := r.wf.Budget()
	subject := make(map[string]string, len(r.goal.Subject))
	for k, v := range r.goal.Subject {
		subject[k] = v
	}
	return model.State{
		Goal:    model.Goal{ID: r.goal.ID, Workflow: r.goal.Workflow, Subject: subject, TicketText: r.goal.TicketText, Guidance: r.goal.Guidance},
		Tools:   r.tools,
		History: r.history,
		Budget: model.Budget{
			Steps:   b.MaxSteps - r.planned + 1,
			Actions: b.MaxActions - r.acted,
			Time:    r.deadline.Sub(r.a.d.Now()),
		},
	}
}

// goalAttrs is the goal as the policy engine sees it.
func (r *run) goalAttrs() map[string]any {
	m := make(map[string]any, len(r.goal.Subject)+3)
	for k, v := range r.goal.Subject {
		m[k] = v
	}
	m["id"] = r.goal.ID
	m["workflow"] = r.goal.Workflow
	m["requester"] = r.goal.Requester
	return m
}

// suggestion is the escalation's suggested next step: the last thing that
// failed, and what the agent would try next.
func (r *run) suggestion() string {
	for i := len(r.out.Steps) - 1; i >= 0; i-- {
		s := r.out.Steps[i]
		switch s.Status {
		case StepFailed:
			return fmt.Sprintf("%s failed (%s); do it by hand or fix the cause, then resolve the escalation", s.Action, s.Error)
		case StepDenied:
			return fmt.Sprintf("%s was denied by rule %s; if it is right, do it by hand or widen the scope through a reviewed change", s.Action, s.Decision.Rule)
		}
	}
	return "review the goal and the attempts, then resolve it by hand"
}

func (r *run) escalate(ctx context.Context, reason, next string) {
	r.out.Escalation = &Escalation{Reason: reason, SuggestedNextStep: next}
	if _, err := r.audit(ctx, audit.KindEscalation, "agent:"+r.goal.Agent, map[string]any{
		"reason": reason, "suggested_next_step": next, "steps": len(r.out.Steps), "out_of_scope": r.out.OutOfScope,
	}); err != nil {
		r.finish(StatusFailed, "escalation not recorded: "+err.Error())
		return
	}
	r.finish(StatusEscalated, reason)
}

// finish ends the goal and records its outcome (best effort: a goal that
// ends because the log failed cannot record that in the log).
func (r *run) finish(s Status, summary string) Outcome {
	r.out.Status, r.out.Summary, r.out.Finished = s, summary, r.a.d.Now()
	if len(r.secrets) > 0 && s == StatusResolved {
		r.out.Secrets = r.secrets
	}
	if !r.logBroken {
		_, _ = r.audit(context.WithoutCancel(context.Background()), audit.KindGoalOutcome, "agent:"+r.goal.Agent,
			map[string]any{"status": string(s), "summary": summary, "steps": len(r.out.Steps), "out_of_scope": r.out.OutOfScope})
	}
	return r.out
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func planPayload(st model.Step) map[string]any {
	p := map[string]any{"kind": st.Kind.String(), "planner": st.Meta.Planner, "rationale": truncate(st.Rationale, 1024)}
	if st.Action != "" {
		p["action"] = st.Action
		p["params"] = json.RawMessage(st.Params)
	}
	if st.Meta.Model != "" {
		p["model"] = st.Meta.Model
		p["prompt_sha256"] = st.Meta.PromptSHA256
		p["calls"] = st.Meta.Calls
	}
	if len(st.Meta.Raw) > 0 && len(st.Meta.Raw) <= 32<<10 && json.Valid(st.Meta.Raw) {
		p["answer"] = json.RawMessage(st.Meta.Raw)
	}
	if st.Meta.Fallback != "" {
		p["fallback"] = st.Meta.Fallback
	}
	return p
}
