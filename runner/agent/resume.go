package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	audit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/model"
)

// ApprovalDecision is a supervisor's answer to an ApprovalRequest.
type ApprovalDecision struct {
	ApprovalID string    `json:"approval_id"`
	Approved   bool      `json:"approved"`
	By         string    `json:"by"`
	Reason     string    `json:"reason,omitempty"`
	At         time.Time `json:"at"`
}

// StepApproved marks a paused step a supervisor approved; the step that
// ran it follows.
const StepApproved StepStatus = "approved"

// pause persists the goal and ends Run with StatusAwaitingApproval.
func (r *run) pause(ctx context.Context, step Step, target map[string]any) {
	now := r.a.d.Now()
	req := ApprovalRequest{
		ID: newID("apr-"), GoalID: r.goal.ID, Agent: r.goal.Agent, Workflow: r.goal.Workflow,
		Action: step.Action, Params: step.Params, Target: redactSecrets(target), Decision: step.Decision,
		Requested: now, Expires: now.Add(r.a.cfg.ApprovalTTL),
	}
	idx, err := r.audit(ctx, audit.KindApprovalRequested, "agent:"+r.goal.Agent, map[string]any{
		"approval_id": req.ID, "action": req.Action, "params": req.Params, "rule": step.Decision.Rule,
		"reason": step.Decision.Reason, "expires": req.Expires,
	})
	if err != nil {
		r.finish(StatusFailed, err.Error())
		return
	}
	step.AuditIndex = idx
	r.record(step, StepPending, "waiting for a supervisor's approval "+req.ID, nil)
	p := Pending{
		Request: req, Goal: r.goal, Steps: r.out.Steps, History: r.history, Facts: r.facts,
		Planned: r.planned, Acted: r.acted, OutOfScope: r.out.OutOfScope, Started: r.out.Started,
		Remaining: r.deadline.Sub(now), ValidatedAt: r.validatedAt,
	}
	if err := r.a.d.Approvals.Save(ctx, p); err != nil {
		r.escalate(ctx, "could not keep the approval request: "+err.Error(), "check the runner's state directory; then resubmit the goal")
		return
	}
	r.out.Approval = &req
	r.finish(StatusAwaitingApproval, fmt.Sprintf("%s waits for approval %s (rule %s) until %s",
		req.Action, req.ID, step.Decision.Rule, req.Expires.UTC().Format(time.RFC3339)))
}

// consumeApproval reports whether st is the step a supervisor approved,
// and uses the approval up.
func (r *run) consumeApproval(st model.Step) bool {
	if r.approved == nil || r.approved.action != st.Action || r.approved.params != canonicalJSON(st.Params) {
		return false
	}
	r.approved = nil
	return true
}

func canonicalJSON(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return string(raw)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Pending lists the approval requests goals wait for.
func (a *Agent) Pending(ctx context.Context) ([]ApprovalRequest, error) {
	return a.d.Approvals.List(ctx)
}

// Resume continues the goal waiting for d.ApprovalID: an approved action
// runs (if the policy in force still allows it) and the goal goes on; a
// denied or expired one ends the goal with an escalation. It returns an
// error wrapping ErrNoApproval when no goal waits for that ID.
func (a *Agent) Resume(ctx context.Context, d ApprovalDecision) (Outcome, error) {
	p, err := a.d.Approvals.Load(ctx, d.ApprovalID)
	if err != nil {
		return Outcome{}, err
	}
	now := a.d.Now()
	r := &run{
		a: a, goal: p.Goal, history: p.History, facts: p.Facts, planned: p.Planned, acted: p.Acted,
		validatedAt: p.ValidatedAt, secrets: map[string]string{},
		out: Outcome{GoalID: p.Goal.ID, Steps: p.Steps, OutOfScope: p.OutOfScope, Started: p.Started},
	}
	expired := !now.Before(p.Request.Expires)
	if _, err := r.audit(ctx, audit.KindApprovalDecided, "supervisor:"+d.By, map[string]any{
		"approval_id": d.ApprovalID, "approved": d.Approved && !expired, "expired": expired, "reason": d.Reason,
	}); err != nil {
		return r.finish(StatusFailed, err.Error()), nil
	}
	if err := a.d.Approvals.Delete(ctx, d.ApprovalID); err != nil {
		return r.finish(StatusFailed, err.Error()), nil
	}
	last := len(r.out.Steps) - 1
	// Drop the pending attempt from the planner's history: what follows
	// replaces it.
	if i := len(r.history) - 1; i >= 0 && r.history[i].Result == model.ResultPending {
		r.history = slices.Delete(r.history, i, i+1)
	}
	if r.setup(ctx) {
		return r.out, nil
	}
	r.deadline = now.Add(p.Remaining)
	switch {
	case expired:
		r.out.Steps[last].Status = StepRejected
		r.out.Steps[last].Error = "approval expired at " + p.Request.Expires.UTC().Format(time.RFC3339)
		r.history = append(r.history, model.Attempt{Action: p.Request.Action, Params: p.Request.Params, Result: model.ResultRejected, Note: "approval expired"})
		r.escalate(ctx, fmt.Sprintf("approval %s for %s expired unanswered", d.ApprovalID, p.Request.Action), "decide the action by hand or resubmit the goal")
		return r.out, nil
	case !d.Approved:
		r.out.Steps[last].Status = StepRejected
		r.out.Steps[last].Error = fmt.Sprintf("denied by %s: %s", d.By, d.Reason)
		r.history = append(r.history, model.Attempt{Action: p.Request.Action, Params: p.Request.Params, Result: model.ResultRejected, Note: "a supervisor denied it"})
		r.escalate(ctx, fmt.Sprintf("%s denied %s: %s", d.By, p.Request.Action, d.Reason), "follow the supervisor's reason; resolve the goal by hand")
		return r.out, nil
	}
	r.out.Steps[last].Status = StepApproved
	r.out.Steps[last].Error = ""
	r.approved = &approvedStep{action: p.Request.Action, params: canonicalJSON(p.Request.Params)}
	r.act(ctx, model.Step{Kind: model.StepAction, Action: p.Request.Action, Params: p.Request.Params,
		Rationale: "approved by " + d.By, Meta: model.Meta{Planner: r.out.Steps[last].Planner}})
	if r.out.Status != "" {
		return r.out, nil
	}
	return r.loop(ctx), nil
}
