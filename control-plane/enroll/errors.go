package enroll

import (
	"errors"

	"github.com/sitewarden/sitewarden/protocol"
)

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrMalformedToken means a string is not an enrollment token (the
	// protocol package's sentinel: errors.Is matches either name).
	ErrMalformedToken = protocol.ErrMalformedToken
	// ErrUnknownToken means the control plane never issued this token (it was
	// altered, forged, or made by another control plane).
	ErrUnknownToken = errors.New("enrollment token not issued by this control plane")
	// ErrTokenUsed means the token was already consumed.
	ErrTokenUsed = errors.New("enrollment token already used")
	// ErrTokenExpired means the token's expiry has passed.
	ErrTokenExpired = errors.New("enrollment token expired")
	// ErrBadCSR means the certificate request is malformed or unsigned.
	ErrBadCSR = errors.New("bad certificate request")
	// ErrNoIdentity means a certificate carries no Sitewarden site identity.
	ErrNoIdentity = errors.New("certificate names no sitewarden site")
)
