// Package eval runs a scenario corpus against a planner and measures it:
// resolution rate, correct-escalation rate, out-of-scope proposal rate and
// mean steps per goal ('make eval'). Each scenario scripts the world the
// planner acts on (what each action returns, what the policy would deny,
// how the goal is validated), so the same corpus measures a playbook, the
// scripted stand-in and whatever model an Ollama server serves. Today it
// exercises the planner alone; the agent loop extends it.
package eval
