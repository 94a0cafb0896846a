package api

import (
	"errors"
	"net/http"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// Error is an API error as sent to clients:
// {"error": {"code": "...", "message": "...", "hint": "..."}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func apiErr(status int, code, msg, hint string) *Error {
	return &Error{Status: status, Code: code, Message: msg, Hint: hint}
}

var (
	errForbidden  = apiErr(http.StatusForbidden, "forbidden", "your role may not do this", "ask an admin for a role that may, see docs/api.md")
	errNotFound   = apiErr(http.StatusNotFound, "not_found", "no such object", "check the client and id; list them first")
	errClientReq  = apiErr(http.StatusBadRequest, "client_required", "this list needs a client", "pass ?client=NAME")
	errBadPage    = apiErr(http.StatusBadRequest, "bad_page", "limit or page_token is malformed", "use limit 1-500 and the next_page_token of the previous page")
	errTooLarge   = apiErr(http.StatusRequestEntityTooLarge, "body_too_large", "request body is too large", "send at most 64 KiB")
	errNoSuchPath = apiErr(http.StatusNotFound, "no_route", "no such endpoint", "see docs/api.md for the endpoints")
)

// Errors of the samples and scope proposal endpoints (review*.go).
var (
	errNoGovernance = apiErr(http.StatusServiceUnavailable, "not_configured", "samples and scope proposals are not configured on this server", "start the control plane with 'sitewarden server'")
	errSecondPerson = apiErr(http.StatusForbidden, "second_person_required", "the proposer may not approve their own scope change", "ask another governance lead or admin to approve it")
	errTestsFailed  = apiErr(http.StatusConflict, "tests_failed", "the proposal's policy tests failed", "fix the scope or its tests and propose again (sitewarden scope test runs them locally)")
	errNotPending   = apiErr(http.StatusConflict, "not_pending", "the proposal was decided already", "list the client's history: sitewarden scope history --client C")
	errNoSamples    = apiErr(http.StatusNotFound, "no_samples", "no ungraded samples", "every sample is graded; the next day's sample is drawn after midnight UTC")
	errNoteTooLong  = apiErr(http.StatusBadRequest, "invalid", "note too long", "keep it under 4 KiB")
)

// toError maps a Go error to an API error.
func toError(err error) *Error {
	var ae *Error
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.Is(err, auth.ErrUnauthenticated):
		return apiErr(http.StatusUnauthorized, "unauthenticated", "not signed in", "log in (POST /api/v1/session) or send Authorization: Bearer <api token>")
	case errors.Is(err, auth.ErrCSRF):
		return apiErr(http.StatusForbidden, "csrf", auth.ErrCSRF.Error(), "send the csrf_token from the login response in X-CSRF-Token")
	case errors.Is(err, auth.ErrBadCredentials):
		return apiErr(http.StatusUnauthorized, "bad_credentials", auth.ErrBadCredentials.Error(), "check the account name and password")
	case errors.Is(err, auth.ErrRateLimited):
		return apiErr(http.StatusTooManyRequests, "rate_limited", auth.ErrRateLimited.Error(), "wait 15 minutes")
	case errors.Is(err, auth.ErrSetup), errors.Is(err, auth.ErrWeakPassword), errors.Is(err, auth.ErrInvalidRole):
		return apiErr(http.StatusBadRequest, "invalid", err.Error(), "")
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	case errors.Is(err, store.ErrConflict):
		return apiErr(http.StatusConflict, "conflict", err.Error(), "reload the object and try again")
	case errors.Is(err, store.ErrInvalid):
		return apiErr(http.StatusBadRequest, "invalid", err.Error(), "")
	}
	return apiErr(http.StatusInternalServerError, "internal", "internal error", "the control plane log has details")
}
