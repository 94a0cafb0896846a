package agent

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/sitewarden/sitewarden/policies"
)

// Goal is an outcome given to an agent.
type Goal struct {
	ID        string            `json:"id"`
	Client    string            `json:"client"`
	Site      string            `json:"site,omitempty"`
	Agent     string            `json:"agent"`
	Workflow  string            `json:"workflow"`
	Requester string            `json:"requester,omitempty"`
	Subject   map[string]string `json:"subject,omitempty"`
	// TicketText is untrusted input: data for the planner, never instructions.
	TicketText string    `json:"ticket_text,omitempty"`
	Deadline   time.Time `json:"deadline,omitzero"`
	// Guidance is a supervisor's instruction on a goal returned to the agent
	// after an escalation: trusted input (from a signed-in person), passed to
	// the planner apart from the ticket text.
	Guidance string `json:"guidance,omitempty"`
}

// Validate reports a goal that cannot be run, saying which field to fix.
func (g Goal) Validate() error {
	switch {
	case g.ID == "":
		return fmt.Errorf("%w: id is empty", ErrInvalidGoal)
	case g.Client == "":
		return fmt.Errorf("%w: client is empty", ErrInvalidGoal)
	case g.Agent == "":
		return fmt.Errorf("%w: agent is empty", ErrInvalidGoal)
	case g.Workflow == "":
		return fmt.Errorf("%w: workflow is empty", ErrInvalidGoal)
	case len(g.TicketText) > maxTicketText:
		return fmt.Errorf("%w: ticket text is %d bytes, limit %d", ErrInvalidGoal, len(g.TicketText), maxTicketText)
	case len(g.Guidance) > maxGuidance:
		return fmt.Errorf("%w: guidance is %d bytes, limit %d", ErrInvalidGoal, len(g.Guidance), maxGuidance)
	case len(g.Subject) > maxSubjectAttrs:
		return fmt.Errorf("%w: %d subject attributes, limit %d", ErrInvalidGoal, len(g.Subject), maxSubjectAttrs)
	}
	return nil
}

const (
	maxTicketText   = 16 << 10
	maxGuidance     = 4 << 10
	maxSubjectAttrs = 32
)

// Status is how a goal ended, or where it stands.
type Status string

// Goal statuses.
const (
	StatusResolved         Status = "resolved"
	StatusEscalated        Status = "escalated"
	StatusDenied           Status = "denied"
	StatusAwaitingApproval Status = "awaiting_approval"
	StatusFailed           Status = "failed"
)

// StepStatus is how one step ended.
type StepStatus string

// Step statuses.
const (
	StepSucceeded  StepStatus = "succeeded"
	StepFailed     StepStatus = "failed"
	StepDenied     StepStatus = "denied"
	StepShadowed   StepStatus = "shadowed"    // shadow mode: proposed, not run
	StepPending    StepStatus = "pending"     // waiting for a supervisor
	StepRejected   StepStatus = "rejected"    // a supervisor said no
	StepPlanFailed StepStatus = "plan_failed" // the planner's answer was unusable
)

// Observation is one fact a step showed. Value is withheld (Redacted) when
// it is a secret or outside the agent's data scope.
type Observation struct {
	Key      string `json:"key"`
	Value    string `json:"value,omitempty"`
	Redacted bool   `json:"redacted,omitempty"`
}

// Step is one executed, refused or failed step of a goal.
type Step struct {
	N         int             `json:"n"`
	Planner   string          `json:"planner"`
	Action    string          `json:"action,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Rationale string          `json:"rationale,omitempty"`
	// Decision is the policy engine's verdict (zero for plan failures).
	Decision policies.Decision `json:"decision,omitzero"`
	Status   StepStatus        `json:"status"`
	// Output is the action's result filtered to the agent's data scope.
	Output       json.RawMessage `json:"output,omitempty"`
	Observations []Observation   `json:"observations,omitempty"`
	Error        string          `json:"error,omitempty"`
	Started      time.Time       `json:"started"`
	Finished     time.Time       `json:"finished"`
	// AuditIndex is the index of the step's last audit record.
	AuditIndex uint64 `json:"audit_index"`
}

// Escalation hands the goal to humans.
type Escalation struct {
	Reason            string `json:"reason"`
	SuggestedNextStep string `json:"suggested_next_step"`
	// Proposal is, in shadow mode, the action the agent would have taken.
	Proposal *Step `json:"proposal,omitempty"`
}

// ApprovalRequest asks a supervisor to allow one gated action.
type ApprovalRequest struct {
	ID        string            `json:"id"`
	GoalID    string            `json:"goal_id"`
	Agent     string            `json:"agent"`
	Workflow  string            `json:"workflow"`
	Action    string            `json:"action"`
	Params    json.RawMessage   `json:"params"`
	Target    map[string]any    `json:"target,omitempty"`
	Decision  policies.Decision `json:"decision"`
	Requested time.Time         `json:"requested"`
	Expires   time.Time         `json:"expires"`
}

// Outcome is how a goal ended, with every step.
type Outcome struct {
	GoalID     string           `json:"goal_id"`
	Status     Status           `json:"status"`
	Summary    string           `json:"summary"`
	Steps      []Step           `json:"steps"`
	Escalation *Escalation      `json:"escalation,omitempty"`
	Approval   *ApprovalRequest `json:"approval,omitempty"`
	// OutOfScope counts the planner's proposals the policy engine denied.
	OutOfScope int       `json:"out_of_scope"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	// Secrets holds one-time secrets for the requester (a generated
	// password). It is never audited, logged or synced; deliver it once.
	Secrets map[string]string `json:"-"`
}
