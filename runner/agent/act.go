package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/policies"
	audit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/model"
)

// goalSecretPrefix names, in a call's credentials, a secret an earlier
// action of the same goal returned: a verification of a password reset
// gets the new password as Credentials["goal_secret.password"].
const goalSecretPrefix = sdk.GoalSecretPrefix

// act decides, gates, runs and verifies one proposed action.
func (r *run) act(ctx context.Context, st model.Step) {
	started := r.a.d.Now()
	params := decodeObject(st.Params)
	target := r.target(params)
	d := r.scope.Decide(policies.Request{
		Agent: r.goal.Agent, Workflow: r.goal.Workflow, Action: st.Action,
		Target: target, Goal: r.goalAttrs(), Now: started,
	})
	idx, err := r.auditDecision(ctx, st.Action, st.Params, d)
	if err != nil {
		r.finish(StatusFailed, err.Error())
		return
	}
	step := Step{N: len(r.out.Steps) + 1, Planner: st.Meta.Planner, Action: st.Action, Params: st.Params,
		Rationale: truncate(st.Rationale, 1024), Decision: d, Started: started, AuditIndex: idx}

	switch {
	case d.Rule == policies.RuleExpired:
		r.record(step, StepDenied, d.Reason, nil)
		r.escalate(ctx, "the scope bundle expired: agents only escalate until a fresh one arrives", "restore the site's link to the control plane so it can fetch the current scope")
		return
	case d.Effect == policies.Deny:
		r.out.OutOfScope++
		r.record(step, StepDenied, fmt.Sprintf("denied by rule %s: %s", d.Rule, d.Reason), nil)
		return
	}
	op, err := r.a.d.Actions.Operation(ctx, st.Action)
	if err != nil {
		r.record(step, StepFailed, err.Error(), nil)
		return
	}
	if d.Mode == policies.ModeShadow && (op.Risk != sdk.RiskRead || d.Effect != policies.Allow) {
		r.record(step, StepShadowed, "shadow mode: proposed, not run", nil)
		proposal := r.out.Steps[len(r.out.Steps)-1]
		r.escalate(ctx, "shadow mode: the agent proposes an action for a person to review",
			fmt.Sprintf("review the proposal %s %s; run it by hand if it is right", st.Action, st.Params))
		if r.out.Escalation != nil {
			r.out.Escalation.Proposal = &proposal
		}
		return
	}
	if d.Effect == policies.NeedsApproval && !r.consumeApproval(st) {
		r.pause(ctx, step, target)
		return
	}
	if b := r.wf.Budget(); r.acted >= b.MaxActions {
		r.record(step, StepFailed, "action budget exhausted", nil)
		r.escalate(ctx, fmt.Sprintf("action budget exhausted (%d of %d actions)", r.acted, b.MaxActions), r.suggestion())
		return
	}
	r.acted++
	res, out, err := r.call(ctx, op, st.Params, nil, "action")
	if r.logBroken {
		r.finish(StatusFailed, err.Error())
		return
	}
	if err != nil {
		r.record(step, StepFailed, err.Error(), nil)
		return
	}
	for k, v := range res.Secrets {
		r.secrets[k] = v
	}
	r.facts = append(r.facts, fact{Action: st.Action, Params: params, Output: out})
	step.Observations = r.observations(st.Action, res.Observations)
	if ok, why := r.verify(ctx, op, params, res.Secrets); !ok {
		if r.logBroken {
			r.finish(StatusFailed, why)
			return
		}
		r.record(step, StepFailed, "verification failed: "+why, out)
		return
	}
	r.record(step, StepSucceeded, "", out)
}

// record appends a finished step to the outcome and the planner's history.
func (r *run) record(step Step, status StepStatus, note string, output map[string]any) {
	step.Status, step.Error, step.Finished = status, note, r.a.d.Now()
	var filtered map[string]any
	if output != nil {
		var withheld []string
		filtered, withheld = r.filterOutput(step.Action, output)
		step.Output = boundedJSON(filtered, r.a.cfg.MaxOutputBytes)
		for _, k := range withheld {
			step.Observations = append(step.Observations, Observation{Key: k, Redacted: true})
		}
	}
	r.out.Steps = append(r.out.Steps, step)
	att := model.Attempt{Action: step.Action, Params: step.Params, Result: attemptResult(status), Note: truncate(note, 512)}
	if filtered != nil {
		att.Observation = step.Output
	}
	r.history = append(r.history, att)
}

func attemptResult(s StepStatus) model.Result {
	switch s {
	case StepSucceeded:
		return model.ResultOK
	case StepDenied:
		return model.ResultDenied
	case StepShadowed:
		return model.ResultSkipped
	case StepPending:
		return model.ResultPending
	case StepRejected:
		return model.ResultRejected
	case StepPlanFailed:
		return model.ResultInvalid
	}
	return model.ResultFailed
}

// call runs one operation with the credentials it needs (plus goal secrets
// for verifications), announcing it durably first. It returns the raw
// result and its decoded output.
func (r *run) call(ctx context.Context, op sdk.Operation, params json.RawMessage, secrets map[string]string, why string) (sdk.Result, map[string]any, error) {
	creds, err := r.a.d.Credentials.For(ctx, op.Name)
	if err != nil {
		return sdk.Result{}, nil, fmt.Errorf("credentials for %s: %w", op.Name, err)
	}
	creds = maps.Clone(creds)
	if creds == nil {
		creds = sdk.Credentials{}
	}
	for k, v := range secrets {
		creds[goalSecretPrefix+k] = v
	}
	if _, err := r.audit(ctx, audit.KindActionStart, "agent:"+r.goal.Agent, map[string]any{
		"action": op.Name, "params": params, "risk": string(op.Risk), "call": why,
	}); err != nil {
		return sdk.Result{}, nil, err
	}
	timeout := min(r.a.cfg.CallTimeout, r.deadline.Sub(r.a.d.Now()))
	if timeout <= 0 {
		timeout = time.Millisecond
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	began := time.Now()
	res, callErr := r.a.d.Actions.Execute(cctx, sdk.Request{Operation: op.Name, Params: params, Credentials: creds})
	cancel()
	out := decodeObject(res.Output)
	payload := map[string]any{"action": op.Name, "call": why, "ok": callErr == nil, "duration_ms": time.Since(began).Milliseconds()}
	if callErr != nil {
		payload["error"] = truncate(callErr.Error(), 1024)
	} else {
		payload["output"] = redactSecrets(out)
		if d := secretDigests(res.Secrets); d != nil {
			payload["secret_digests"] = d
		}
	}
	if _, err := r.audit(ctx, audit.KindActionResult, "plugin:"+dataKind(op.Name), payload); err != nil {
		return res, out, err
	}
	return res, out, callErr
}

// redactSecrets withholds secret-named fields (plugins must never put
// secrets in Output; this is the second line): a string becomes its digest,
// as the audit log requires, anything else is dropped.
func redactSecrets(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !secretName(k) {
			out[k] = m[k]
			continue
		}
		if s, ok := m[k].(string); ok {
			out[k] = audit.SecretDigest([]byte(s))
		}
	}
	return out
}

// verify runs the action's verification operation, if it names one, with
// the action's params that the verifier accepts and the secrets the action
// returned. ok is false with a reason when the effect is not there.
func (r *run) verify(ctx context.Context, op sdk.Operation, params map[string]any, secrets map[string]string) (bool, string) {
	if op.VerifiedBy == "" {
		return true, ""
	}
	vop, err := r.a.d.Actions.Operation(ctx, op.VerifiedBy)
	if err != nil {
		return false, fmt.Sprintf("verifier %s: %v", op.VerifiedBy, err)
	}
	vparams, _ := json.Marshal(acceptedParams(vop, params))
	_, out, err := r.call(ctx, vop, vparams, secrets, "verify "+op.Name)
	ok, why := err == nil, ""
	if err != nil {
		why = err.Error()
	} else if ok, why = expectMet(op.VerifyExpect, out); !ok {
		why = fmt.Sprintf("%s: %s", vop.Name, why)
	}
	if r.logBroken {
		return false, why
	}
	if _, err := r.audit(ctx, audit.KindValidation, "agent:"+r.goal.Agent, map[string]any{
		"action": op.Name, "verified_by": vop.Name, "ok": ok, "reason": why,
	}); err != nil {
		return false, err.Error()
	}
	return ok, why
}

// validateGoal runs the scope's validation for the workflow: the only
// thing that can resolve a goal.
func (r *run) validateGoal(ctx context.Context) (bool, string) {
	v, ok, err := r.scope.Validation(r.goal.Workflow, r.goalAttrs())
	if !ok || err != nil {
		why := "the scope names no validation for this workflow"
		if err != nil {
			why = err.Error()
		}
		r.escalate(ctx, "cannot confirm the goal: "+why, "confirm the outcome by hand and add a validation to the scope")
		return false, why
	}
	op, err := r.a.d.Actions.Operation(ctx, v.Action)
	if err != nil {
		r.escalate(ctx, "cannot confirm the goal: "+err.Error(), "check the plugin catalog in the scope")
		return false, err.Error()
	}
	params := make(map[string]any, len(v.Params))
	for k, val := range v.Params {
		params[k] = val
	}
	raw, _ := json.Marshal(params)
	started := r.a.d.Now()
	_, out, err := r.call(ctx, op, raw, r.secrets, "validate goal")
	if r.logBroken {
		r.finish(StatusFailed, err.Error())
		return false, err.Error()
	}
	good, why := err == nil, ""
	if err != nil {
		why = err.Error()
	} else {
		good, why = expectMet(v.Expect, out)
	}
	idx, aerr := r.audit(ctx, audit.KindValidation, "agent:"+r.goal.Agent, map[string]any{
		"goal_validation": v.Action, "ok": good, "reason": why,
	})
	if aerr != nil {
		r.finish(StatusFailed, aerr.Error())
		return false, aerr.Error()
	}
	step := Step{N: len(r.out.Steps) + 1, Planner: "validation", Action: v.Action, Params: raw, Started: started, AuditIndex: idx}
	if !good {
		r.record(step, StepFailed, "goal validation failed: "+why, out)
		return false, why
	}
	r.record(step, StepSucceeded, "", out)
	return true, fmt.Sprintf("%s confirmed by %s", r.goal.Workflow, v.Action)
}

// acceptedParams keeps the params the operation's schema declares.
func acceptedParams(op sdk.Operation, params map[string]any) map[string]any {
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	_ = json.Unmarshal(op.ParamsSchema, &schema)
	out := map[string]any{}
	for k, v := range params {
		if _, ok := schema.Properties[k]; ok {
			out[k] = v
		}
	}
	return out
}

// expectMet checks that out holds every expected top-level value.
func expectMet(expect map[string]any, out map[string]any) (bool, string) {
	for _, k := range slices.Sorted(maps.Keys(expect)) {
		got, ok := out[k]
		if !ok {
			return false, fmt.Sprintf("result lacks %q", k)
		}
		if fmt.Sprint(got) != fmt.Sprint(expect[k]) {
			return false, fmt.Sprintf("%s is %v, want %v", k, got, expect[k])
		}
	}
	return true, ""
}
