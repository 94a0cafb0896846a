package ldapdir

import "errors"

// Sentinel errors. Execute wraps them with what to do next; test with errors.Is.
var (
	// ErrBadCredentials: the per-call credentials are missing a key or hold an invalid value.
	ErrBadCredentials = errors.New("invalid directory credentials")
	// ErrPlainLDAP: the target would be reached without TLS. Use ldaps:// or ldap:// with StartTLS.
	ErrPlainLDAP = errors.New("plain LDAP without TLS is refused")
	// ErrServiceBind: the service account could not bind.
	ErrServiceBind = errors.New("service account bind failed")
	// ErrUserNotFound: no account matches under base_dn.
	ErrUserNotFound = errors.New("user not found")
	// ErrAmbiguousUser: more than one account matches.
	ErrAmbiguousUser = errors.New("more than one user matches")
	// ErrOutsideBase: a DN lies outside base_dn.
	ErrOutsideBase = errors.New("DN is outside base_dn")
	// ErrPrivilegedUser: the account is a member of a group the caller asked to protect.
	ErrPrivilegedUser = errors.New("user is a member of a protected group")
	// ErrAccountDisabled: the account is disabled (administratively locked); unlock does not enable it.
	ErrAccountDisabled = errors.New("account is disabled")
	// ErrBadParams: the params do not decode (the SDK validates the schema first).
	ErrBadParams = errors.New("invalid params")
	// ErrUnknownOperation: the plugin does not offer the operation.
	ErrUnknownOperation = errors.New("unknown operation")
	// ErrDirectory: the directory refused or failed an operation.
	ErrDirectory = errors.New("directory operation failed")
)
