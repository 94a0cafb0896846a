package auth

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrUnauthenticated means no valid session or token came with a request.
	ErrUnauthenticated = errors.New("not signed in: log in again or pass a valid API token (--token or SITEWARDEN_TOKEN)")
	// ErrBadCredentials means the account name or password is wrong (which
	// one is not said).
	ErrBadCredentials = errors.New("wrong account name or password")
	// ErrRateLimited means too many failed logins from this address or for
	// this account; wait before trying again.
	ErrRateLimited = errors.New("too many failed logins; wait a few minutes before trying again")
	// ErrCSRF means a cookie-authenticated request that changes state lacked
	// the session's CSRF token.
	ErrCSRF = errors.New("missing or wrong X-CSRF-Token header; send the csrf_token from the login response")
	// ErrSetup means a setup link is unknown, used or expired.
	ErrSetup = errors.New("setup link is invalid, used or expired; ask an admin for a new one")
	// ErrWeakPassword means a new password is too short.
	ErrWeakPassword = errors.New("password too short: use at least 12 characters")
	// ErrInvalidRole means a role name is not one of the defined roles.
	ErrInvalidRole = errors.New("unknown role: use admin, governance_lead, supervisor, operations_engineer or client_viewer")
)
