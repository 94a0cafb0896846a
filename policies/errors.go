package policies

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them (or one
// of protocol's ErrBundle* sentinels) and say what to change.
var (
	// ErrInvalidScope: a scope document does not decode, or breaks a rule of
	// the language. The message names file, line and what to change.
	ErrInvalidScope = errors.New("invalid scope")
	// ErrInvalidTest: a policy test file does not decode or names an unknown
	// effect.
	ErrInvalidTest = errors.New("invalid policy test")
	// ErrTestsFailed: RunTests ran and at least one case failed.
	ErrTestsFailed = errors.New("policy tests failed")
	// ErrTemplate: a playbook or validation step could not be rendered for a
	// goal (a goal attribute it names is missing).
	ErrTemplate = errors.New("cannot render playbook step")
	// ErrInvalidConfig: Config.Validate found an out-of-range limit.
	ErrInvalidConfig = errors.New("invalid policy config")
)
