package model

import (
	"context"
	"encoding/json"
	"time"
)

// Planner proposes the next step for a goal.
//
// Next returns either a Step (an action proposal, Done or Escalate) or an
// error; it never returns both. Errors: ErrPlanFailed (a *PlanError: the
// planner answered but the answer is unusable; count it as a failed step),
// ErrUnreachable, ErrModelNotFound, ErrRejected, ErrNoTools,
// ErrBudgetExhausted, ErrNoPlaybook, ErrInvalidState, or the context's
// error. An action Step names one of s.Tools and its Params satisfy that
// tool's schema. Next does not modify s. Implementations are safe for
// concurrent use by several goals.
type Planner interface {
	Next(ctx context.Context, s State) (Step, error)
}

// State is everything a planner may see for one step of one goal.
type State struct {
	Goal Goal
	// Tools are exactly the actions the scope allows this agent for this
	// workflow, in the scope's order.
	Tools []Tool
	// History holds the attempts so far, oldest first, with observations
	// already filtered to the agent's data scope by the agent.
	History []Attempt
	Budget  Budget
}

// Goal is the outcome the agent must reach.
type Goal struct {
	ID string
	// Workflow is the goal's workflow class, e.g. "account_unlock".
	Workflow string
	// Subject holds the subject's attributes the agent may read, e.g.
	// {"user": "dana"}.
	Subject map[string]string
	// TicketText is the requester's free text: untrusted data, never
	// instructions.
	TicketText string
	// Guidance is a supervisor's advice on a goal returned to the agent
	// after an escalation: trusted input, shown to the planner apart from
	// the ticket text. Empty for most goals.
	Guidance string
}

// Tool is one action offered to the planner.
type Tool struct {
	// Name is the action's name, e.g. "directory.unlock_account".
	Name        string
	Description string
	// Params is the JSON schema (an object schema) of the action's
	// parameters, as the plugin declares it.
	Params json.RawMessage
}

// Result is how an attempt ended.
type Result string

// Attempt results. Anything but ResultOK is a failed attempt.
const (
	ResultOK       Result = "ok"        // ran and its verification passed
	ResultFailed   Result = "failed"    // ran and failed, or its verification failed
	ResultDenied   Result = "denied"    // the policy engine denied it
	ResultRejected Result = "rejected"  // a supervisor rejected it
	ResultSkipped  Result = "skipped"   // not run (e.g. shadow mode)
	ResultPending  Result = "pending"   // awaiting approval
	ResultInvalid  Result = "plan_fail" // the planner's answer was unusable
)

// Attempt is one earlier step of the goal.
type Attempt struct {
	Action string
	Params json.RawMessage
	Result Result
	// Observation is what the action returned, filtered to the data scope
	// (a JSON value), or nil.
	Observation json.RawMessage
	// Note is a short explanation (error text, denial rule).
	Note string
}

// Budget is what is left of the goal's budgets.
type Budget struct {
	Steps   int
	Actions int
	Time    time.Duration
}

// StepKind says what a Step asks the agent to do.
type StepKind int

// Step kinds.
const (
	// StepAction proposes running Step.Action with Step.Params.
	StepAction StepKind = iota + 1
	// StepDone claims the goal is reached; the agent's goal validation
	// decides, never this claim.
	StepDone
	// StepEscalate gives up: no in-scope path is left.
	StepEscalate
)

func (k StepKind) String() string {
	switch k {
	case StepAction:
		return "action"
	case StepDone:
		return "done"
	case StepEscalate:
		return "escalate"
	}
	return "invalid"
}

// Step is a planner's answer for one step.
type Step struct {
	Kind StepKind
	// Action and Params are set for StepAction. Params is a JSON object
	// that satisfies the action's schema.
	Action string
	Params json.RawMessage
	// Rationale is the planner's reason (for Done and Escalate: why).
	Rationale string
	Meta      Meta
}

// Meta is the audit metadata of a planning step.
type Meta struct {
	// Planner is "model:<model name>" or "playbook:<playbook id>".
	Planner string
	// Model is the model's name, empty for a playbook.
	Model string
	// PromptSHA256 is the hex SHA-256 of the exact request sent to the
	// model (empty for a playbook).
	PromptSHA256 string
	// Raw is the model's raw structured answer (the response message as
	// JSON), or the playbook step; bounded by the model's num_predict.
	Raw json.RawMessage
	// Calls is how many model calls this step took (retries included).
	Calls int
	// Fallback, when set, says why the Fallback planner used the playbook.
	Fallback string
	// Usage is what the model server reported for the answering call
	// (zero for a playbook).
	Usage Usage
}

// Usage is a model call's cost as the server reports it.
type Usage struct {
	PromptTokens int
	AnswerTokens int
	// ModelTime is the server's total time (load, prompt, generation).
	ModelTime time.Duration
}
