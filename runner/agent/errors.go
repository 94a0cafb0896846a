package agent

import "errors"

// Sentinel errors.
var (
	// ErrNoApproval means Resume was given an approval ID no goal waits for.
	ErrNoApproval = errors.New("no goal waits for this approval")
	// ErrInvalidGoal means a goal lacks a required field.
	ErrInvalidGoal = errors.New("invalid goal")
	// ErrAuditUnavailable means the audit log refused a record, so the step
	// it announced did not run.
	ErrAuditUnavailable = errors.New("audit log unavailable")
)
