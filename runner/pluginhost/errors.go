package pluginhost

import "errors"

// Sentinel errors. Errors from the plugin itself are the sdk package's
// (sdk.ErrActionFailed, sdk.ErrInvalidParams, sdk.ErrUnknownOperation,
// sdk.ErrInvalidResult) and pass through wrapped.
var (
	// ErrNotPinned: the scope's catalog has no SHA-256 pin for the plugin, so
	// it is never started. Add the plugin to the catalog.
	ErrNotPinned = errors.New("plugin has no pin in the catalog")
	// ErrNotFound: no binary for the plugin in the plugin directory.
	ErrNotFound = errors.New("plugin binary not found")
	// ErrPinMismatch: the binary's SHA-256 differs from its pin. It was not
	// started. Reinstall the plugin or update the catalog.
	ErrPinMismatch = errors.New("plugin binary does not match its pinned SHA-256")
	// ErrStart: the plugin could not be started or failed its handshake or
	// its description check; it has been killed.
	ErrStart = errors.New("plugin failed to start")
	// ErrMissingCredentials: the plugin declares a required credential key
	// that its section of the runner's credentials file lacks; it was
	// stopped at start, before any call. Add the key and restart the
	// runner. Returned wrapped together with ErrStart.
	ErrMissingCredentials = errors.New("plugin is missing required credentials")
	// ErrCrashed: the plugin process died or broke its channel during the
	// call. It is restarted, after a backoff, on next use.
	ErrCrashed = errors.New("plugin crashed")
	// ErrHung: the plugin did not answer by its deadline plus the kill grace
	// and was killed. It is restarted, after a backoff, on next use.
	ErrHung = errors.New("plugin did not answer by its deadline and was killed")
	// ErrBusy: the call's context ended while waiting for a free slot under
	// the plugin's concurrency limit or for its restart backoff.
	ErrBusy = errors.New("plugin busy")
	// ErrClosed: the host has been closed.
	ErrClosed = errors.New("plugin host closed")
	// ErrUnsupported: the platform cannot contain plugins.
	ErrUnsupported = errors.New("plugins are not supported on this platform")
)
