package enroll

import (
	"errors"

	"github.com/sitewarden/sitewarden/protocol"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrMalformedToken means the string is not an enrollment token (the
	// protocol package's sentinel: errors.Is matches either name).
	ErrMalformedToken = protocol.ErrMalformedToken
	// ErrTokenExpired means the token's expiry has passed.
	ErrTokenExpired = errors.New("enrollment token expired")
	// ErrTokenRejected means the control plane refused the token (unknown,
	// forged, used, revoked, or a fleet token's site exists); the error text says which.
	ErrTokenRejected = errors.New("control plane refused the enrollment token")
	// ErrNoSiteName means a fleet token needs a site name and none valid
	// was given.
	ErrNoSiteName = errors.New("no site name for a fleet token")
	// ErrWrongCA means the control plane presented a CA other than the one
	// the token pins.
	ErrWrongCA = errors.New("control plane CA does not match the token's pin")
	// ErrUnreachable means no control plane answered at an address (refused,
	// timed out, no route, TLS failed); the error names the address.
	ErrUnreachable = errors.New("cannot reach the control plane")
	// ErrNotEnrolled means the state directory holds no site certificate.
	ErrNotEnrolled = errors.New("runner is not enrolled")
	// ErrBadAuditKey means the state directory's audit key file is
	// unreadable, malformed, not ed25519, or readable by others.
	ErrBadAuditKey = errors.New("bad audit key file")
	// ErrAlreadyEnrolled means the state directory already holds a site
	// certificate.
	ErrAlreadyEnrolled = errors.New("runner is already enrolled")
)
