package cli

import "errors"

// Sentinel errors of the diagnostic commands (scope show, plugins list).
// The returned errors wrap them and say what to do next.
var (
	// ErrNoScope: the site has no cached scope bundle yet (the runner has
	// not fetched one from the control plane).
	ErrNoScope = errors.New("no scope bundle yet")
	// ErrScopeExpired: the cached bundle is past its expiry; agents only
	// escalate until a fresh one arrives.
	ErrScopeExpired = errors.New("scope bundle expired")
	// ErrPluginsFailed: at least one plugin the scope pins cannot run (its
	// binary is missing, differs from its pin, or failed to start), or the
	// scope or credentials it depends on cannot be read.
	ErrPluginsFailed = errors.New("plugin check failed")
)
