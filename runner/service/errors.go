package service

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrStopTimeout means the runner did not drain within the stop bound.
	ErrStopTimeout = errors.New("runner did not stop within its bound")
	// ErrNotRunning means Stop was called without a running Start.
	ErrNotRunning = errors.New("runner is not running")
	// ErrUnknownAction means a control action is not one of Actions.
	ErrUnknownAction = errors.New("unknown service action")
)
