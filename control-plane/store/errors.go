package store

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrNotFound means the requested row does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict means the write contradicts what is stored (a scope version
	// that is not newer, an audit record that differs from the one held at
	// the same index, a checkpoint that is smaller than the last one).
	ErrConflict = errors.New("conflicts with stored state")
	// ErrTokenUsed means an enrollment token was already consumed.
	ErrTokenUsed = errors.New("enrollment token already used")
	// ErrTokenExpired means an enrollment token's expiry has passed.
	ErrTokenExpired = errors.New("enrollment token expired")
	// ErrTokenRevoked means an enrollment token was revoked.
	ErrTokenRevoked = errors.New("enrollment token revoked")
	// ErrTokenExhausted means a fleet token has enrolled as many sites as
	// it may.
	ErrTokenExhausted = errors.New("fleet token has no uses left")
	// ErrSiteExists means a fleet token was asked to enroll a site that is
	// already enrolled: a fleet token never re-keys an existing site.
	ErrSiteExists = errors.New("site already enrolled")
	// ErrInvalid means the argument is malformed (an empty key, a zero version).
	ErrInvalid = errors.New("invalid argument")
)
