package model

import (
	"errors"
	"fmt"
)

var (
	// ErrPlanFailed marks a failed planning step: the model answered, but
	// the answer was malformed, partial, truncated, schema-violating or
	// proposed an action that was not offered. Every such error is a
	// *PlanError. The agent counts it as a failed step and asks again (or
	// the Fallback planner switches to the playbook); it never executes it.
	ErrPlanFailed = errors.New("model: planning step failed")

	// ErrUnreachable means the model server could not be reached or kept
	// failing (connection refused, timeout, 5xx) after the configured
	// retries. Check that 'ollama serve' runs at the configured host.
	ErrUnreachable = errors.New("model: model server unreachable")

	// ErrModelNotFound means the server does not have the configured model;
	// run 'ollama pull <model>' or 'ollama create <model>' on the site.
	ErrModelNotFound = errors.New("model: model not found on the server")

	// ErrRejected means the server rejected the request (HTTP 4xx other
	// than 404); the request or the configuration needs fixing.
	ErrRejected = errors.New("model: request rejected by the model server")

	// ErrNoTools means the state offers no action, so there is nothing to
	// plan; the agent should escalate.
	ErrNoTools = errors.New("model: no actions offered")

	// ErrBudgetExhausted means State.Budget leaves no step; the agent
	// escalates instead of planning.
	ErrBudgetExhausted = errors.New("model: step budget exhausted")

	// ErrNoPlaybook means no playbook exists for the goal's workflow; add
	// one to the scope or escalate.
	ErrNoPlaybook = errors.New("model: no playbook for this workflow")

	// ErrInvalidState means the state handed to Next is unusable (e.g. a
	// tool with an invalid or unsupported parameter schema). It is a
	// programming or scope error, not a model failure.
	ErrInvalidState = errors.New("model: invalid planner state")
)

// FailureKind says why a planning step failed.
type FailureKind string

// Failure kinds of a [PlanError].
const (
	// FailIncomplete: the server answered done:false (e.g. "token repeat
	// limit reached") or done_reason "length" (num_predict hit).
	FailIncomplete FailureKind = "incomplete"
	// FailMalformed: the answer is not the JSON object asked for.
	FailMalformed FailureKind = "malformed"
	// FailSchema: the answer's parameters violate the action's schema.
	FailSchema FailureKind = "schema_violation"
	// FailOutOfScope: the answer names an action that was not offered.
	// PlanError.Proposed names it so the agent can audit and count it.
	FailOutOfScope FailureKind = "out_of_scope"
	// FailEmpty: the answer has neither content nor tool call.
	FailEmpty FailureKind = "empty"
)

// PlanError is a failed planning step. It matches ErrPlanFailed with
// errors.Is. Meta carries the audit metadata of the failed call (planner,
// model, prompt hash, raw answer), so a failure is audited like a success.
type PlanError struct {
	Kind FailureKind
	// Detail is a short, human-readable reason (never contains secrets:
	// the model only ever saw filtered data).
	Detail string
	// Proposed is the action the model named, for FailOutOfScope and
	// FailSchema.
	Proposed string
	Meta     Meta
}

func (e *PlanError) Error() string {
	if e.Proposed != "" {
		return fmt.Sprintf("model: planning step failed (%s, action %q): %s", e.Kind, e.Proposed, e.Detail)
	}
	return fmt.Sprintf("model: planning step failed (%s): %s", e.Kind, e.Detail)
}

// Is makes errors.Is(err, ErrPlanFailed) true.
func (e *PlanError) Is(target error) bool { return target == ErrPlanFailed }
