// Package agent runs goals: the goal-directed loop at the heart of
// Sitewarden. For each step it asks a planner (runner/model) for the next
// action, has the policy engine (policies) decide it, applies the agent's
// mode and approval gates, runs the action through the plugin host with a
// deadline, checks the action's effect with its verification operation,
// and records what it saw. The goal's own validation decides that it is
// resolved; the planner's claim never does. When no in-scope path is left
// or a budget runs out, it escalates with everything it saw and tried.
//
// Every step is appended to the audit log before it takes effect; if the
// log cannot be written, nothing runs (fail closed). Secrets returned by an
// action (a generated password) live only in the goal's memory: the audit
// keeps their digest, the planner and the logs never see them, and the
// requester gets them once in Outcome.Secrets.
//
// A needs-approval decision persists the paused goal (Approvals) and ends
// Run with StatusAwaitingApproval; Resume continues it when the decision
// arrives, also after a runner restart.
package agent
