package policies

import (
	"sync/atomic"
	"time"
)

// Effect is a decision's verdict.
type Effect string

// Effects. Deny beats needs_approval beats allow.
const (
	Allow         Effect = "allow"
	Deny          Effect = "deny"
	NeedsApproval Effect = "needs_approval"
)

// Request is one proposed action. Target and goal attributes are what the
// conditions see as `target` and `goal` (values: string, bool, int64,
// float64, []any, map[string]any, time.Time). A zero Now means the current
// time.
type Request struct {
	Agent    string
	Workflow string
	Action   string
	Target   map[string]any
	Goal     map[string]any
	Now      time.Time
}

// Decision is the engine's verdict on one request.
type Decision struct {
	// Effect is allow, deny or needs_approval.
	Effect Effect
	// Rule is the ID of the rule that decided, or one of RuleDefaultDeny,
	// RuleModeOff, RuleExpired, RuleNoScope.
	Rule string
	// Reason says in words why, for the audit log and the supervisor.
	Reason string
	// Mode is the agent's mode in the workflow ("" when the agent or the
	// workflow is unknown). In shadow mode nothing may run whatever the
	// effect; use MayRunNow.
	Mode Mode
}

// MayRunNow reports whether the action may run now without a human: the
// effect is allow and the mode is autonomous. (Mode approve already turns
// allow into needs_approval; shadow and off never run.)
func (d Decision) MayRunNow() bool { return d.Effect == Allow && d.Mode == ModeAutonomous }

// Decide returns the verdict on r. Default deny: an unknown agent, workflow
// or action, or an action no allow rule's condition holds for, is denied.
// Any matching deny rule denies (a deny condition that fails to evaluate
// denies too: fail closed); then a matching allow rule with approval
// required gives needs_approval; then a matching allow rule allows. Mode off
// denies; mode approve turns allow into needs_approval; after the bundle's
// expiry everything is denied. Safe for concurrent use.
func (s *Scope) Decide(r Request) Decision {
	if s == nil {
		return Decision{Effect: Deny, Rule: RuleNoScope, Reason: "no scope is loaded; the runner must receive a scope bundle first"}
	}
	r.Now = nowOr(r.Now)
	if exp := s.bundle.ExpiresAt; !exp.IsZero() && !r.Now.Before(exp) {
		return Decision{Effect: Deny, Rule: RuleExpired,
			Reason: "scope bundle v" + uitoa(s.bundle.Version) + " expired at " + exp.UTC().Format(time.RFC3339) + "; agents only escalate until a fresh bundle arrives"}
	}
	a := s.agents[r.Agent]
	if a == nil {
		return Decision{Effect: Deny, Rule: RuleDefaultDeny, Reason: "agent " + r.Agent + " is not defined in the scope of client " + s.client}
	}
	w := a.workflows[r.Workflow]
	if w == nil {
		return Decision{Effect: Deny, Rule: RuleDefaultDeny, Reason: "agent " + r.Agent + " does not handle workflow " + r.Workflow}
	}
	if w.mode == ModeOff {
		return Decision{Effect: Deny, Rule: RuleModeOff, Reason: w.offReason, Mode: ModeOff}
	}
	ar := w.actions[r.Action]
	if ar == nil {
		return Decision{Effect: Deny, Rule: RuleDefaultDeny, Mode: w.mode,
			Reason: "no rule allows " + r.Action + " for agent " + r.Agent + " in workflow " + r.Workflow}
	}
	var act *activation // built on the first condition: unconditional rules allocate nothing
	for _, ru := range ar.deny {
		if ru.prg == nil {
			return Decision{Effect: Deny, Rule: ru.id, Reason: ru.reason, Mode: w.mode}
		}
		if act == nil {
			act = &activation{r: r}
		}
		ok, err := evalBool(ru.prg, act)
		if err != nil {
			return Decision{Effect: Deny, Rule: ru.id, Mode: w.mode,
				Reason: ru.reason + " (its condition could not be evaluated, so the request is denied: " + err.Error() + ")"}
		}
		if ok {
			return Decision{Effect: Deny, Rule: ru.id, Reason: ru.reason, Mode: w.mode}
		}
	}
	for _, ru := range ar.approve {
		if ru.holds(&act, &r) {
			return Decision{Effect: NeedsApproval, Rule: ru.id, Reason: ru.reason, Mode: w.mode}
		}
	}
	for _, ru := range ar.allow {
		if ru.holds(&act, &r) {
			if w.mode == ModeApprove {
				return Decision{Effect: NeedsApproval, Rule: ru.id, Reason: ru.approveMode, Mode: w.mode}
			}
			return Decision{Effect: Allow, Rule: ru.id, Reason: ru.reason, Mode: w.mode}
		}
	}
	return Decision{Effect: Deny, Rule: RuleDefaultDeny, Reason: ar.noMatch, Mode: w.mode}
}

// holds reports whether an allow rule's condition holds; a condition that
// fails to evaluate does not hold.
func (ru *rule) holds(act **activation, r *Request) bool {
	if ru.prg == nil {
		return true
	}
	if *act == nil {
		*act = &activation{r: *r}
	}
	ok, err := evalBool(ru.prg, *act)
	return err == nil && ok
}

func uitoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}

// Engine holds the scope in use. Decide reads it lock-free; Swap replaces it
// atomically, so a decision sees either the old scope or the new one, never
// a mix. The zero Engine has no scope and denies everything.
type Engine struct {
	cur atomic.Pointer[Scope]
}

// NewEngine returns an engine using s (nil: none yet).
func NewEngine(s *Scope) *Engine {
	e := &Engine{}
	e.cur.Store(s)
	return e
}

// Swap puts s in use and returns the scope it replaces.
func (e *Engine) Swap(s *Scope) *Scope { return e.cur.Swap(s) }

// Scope returns the scope in use (nil: none).
func (e *Engine) Scope() *Scope { return e.cur.Load() }

// Decide decides r against the scope in use.
func (e *Engine) Decide(r Request) Decision { return e.cur.Load().Decide(r) }
