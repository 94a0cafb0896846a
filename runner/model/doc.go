// Package model plans an agent's next step: the Planner interface the agent
// loop (runner/agent) calls once per step, and its implementations.
//
//   - [Ollama] asks a local model served by Ollama (the only package that
//     imports github.com/ollama/ollama/api). The model sees exactly the
//     actions the scope offers, as tools with their JSON-schema parameters,
//     and must answer through a JSON-schema-constrained format. Malformed,
//     partial, truncated or schema-violating answers are failed planning
//     steps ([ErrPlanFailed], [*PlanError]) and never become actions.
//   - [PlaybookPlanner] walks the scope's ordered alternative action
//     sequences for the workflow; it needs no model.
//   - [Fallback] uses the model and falls back to the playbook when no model
//     is configured or reachable, or after N consecutive model failures.
//
// The ticket text of a goal is untrusted data: the prompt carries it
// JSON-encoded inside a delimited data block that it cannot close, and the
// system prompt says it is never instructions. Whatever a planner proposes
// still passes through the policy engine before it runs; a planner never
// widens scope.
//
// State.History holds observations already filtered to the agent's data
// scope: secrets never reach a planner.
package model
