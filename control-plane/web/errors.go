package web

import "net/http"

// webError is an error shown to a person with its HTTP status.
type webError struct {
	status int
	msg    string
}

func (e *webError) Error() string { return e.msg }

var (
	errForbidden   = &webError{http.StatusForbidden, "your role may not do this; ask an admin for a role that may (docs/api.md, Roles)"}
	errCrossOrigin = &webError{http.StatusForbidden, "this form was sent from another site; reload the page and send it again"}
	errBadForm     = &webError{http.StatusBadRequest, "the form could not be read (too large?); reload the page and try again"}
	errLoginCSRF   = &webError{http.StatusForbidden, "the login form expired; reload the page and sign in again"}
	errNoClient    = &webError{http.StatusBadRequest, "pick a client first"}
	// errNoGovernance: the samples and scopes pages (samples.go) without
	// the API's governance functions.
	errNoGovernance = &webError{http.StatusServiceUnavailable, "samples and scope proposals are not available on this server"}
)

func badInput(msg string) error { return &webError{http.StatusBadRequest, msg} }
