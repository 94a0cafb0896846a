package syncserver

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrNoIdentity means the peer certificate names no site.
	ErrNoIdentity = errors.New("peer certificate names no site")
	// ErrHandshake means the control stream did not open with a valid Hello.
	ErrHandshake = errors.New("sync handshake failed")

	// errMirrorDiffers means mirrored records do not hash to a signed root.
	errMirrorDiffers = errors.New("audit mirror differs from the signed log")
)
