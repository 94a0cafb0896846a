// Package goals feeds the agent: it takes goals assigned by the control
// plane (the sync inbox) and goals submitted on the site
// ('sitewarden-runner goal submit', through a spool directory), runs each
// through the agent, applies supervisors' approval decisions to paused
// goals, and puts what supervisors need (outcomes, escalations, approval
// requests) in the sync outbox.
//
// Delivery is at least once: a goal's cursor moves only after its results
// are in the outbox, so a crash in between runs the goal again on restart.
// The outbox and the control plane drop the duplicate by its stable ID.
//
// The spool directory is the local submission interface (it works the
// same on Windows and Linux, and its access is the state directory's):
//
//	<dir>/spool/<goal-id>.json     a submitted agent.Goal
//	<dir>/outcomes/<goal-id>.json  its outcome (no secrets)
//	<dir>/outcomes/<goal-id>.secret one-time secrets for the requester (0600;
//	                                the submitter reads and deletes it)
package goals
