package audit

import "errors"

// Sentinel errors. Callers match them with errors.Is; VerifyError wraps
// exactly one of them.
var (
	// ErrMalformedRecord means bytes are not a canonical record encoding or a
	// Record breaks a field rule.
	ErrMalformedRecord = errors.New("malformed audit record")
	// ErrSecretInPayload means a record payload holds a secret-named field
	// whose value is not a digest (see SecretDigest).
	ErrSecretInPayload = errors.New("audit payload holds a secret")
	// ErrMalformedCheckpoint means a checkpoint note or body does not parse.
	ErrMalformedCheckpoint = errors.New("malformed checkpoint")
	// ErrBadSignature means a checkpoint is not signed by the expected key.
	ErrBadSignature = errors.New("checkpoint signature does not verify")
	// ErrInconsistent means a proof does not show that one tree extends
	// another, or a computed root differs from a signed one.
	ErrInconsistent = errors.New("audit trees are inconsistent")
	// ErrMalformedKey means a public or private key string does not parse.
	ErrMalformedKey = errors.New("malformed audit key")
	// ErrMalformedExport means an export file breaks its format.
	ErrMalformedExport = errors.New("malformed audit export")
	// ErrTruncatedExport means an export file ends before its end marker.
	ErrTruncatedExport = errors.New("truncated audit export")
	// ErrWrongKey means an export names a different signing key than the one
	// the verifier was given.
	ErrWrongKey = errors.New("audit export is for another key")
	// ErrRecordMismatch means a record's bytes do not hash to the leaf the
	// signed tree holds at its index, or records are missing or out of order.
	ErrRecordMismatch = errors.New("audit record does not match the signed log")
)
