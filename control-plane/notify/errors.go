package notify

import "errors"

var (
	// ErrConfig is returned for a configuration that cannot work; the
	// message names the field and what to do.
	ErrConfig = errors.New("notify config")
	// ErrFilePermissions is returned when the configuration file is
	// readable by group or others: it holds webhook tokens and secrets.
	ErrFilePermissions = errors.New("notify config file is readable by group or others")
	// ErrUnknownTarget is returned for a target name not in the configuration.
	ErrUnknownTarget = errors.New("unknown notify target")
	// ErrBadSignature is returned by Verify for a body whose signature or
	// timestamp does not check out.
	ErrBadSignature = errors.New("bad notification signature")
)
