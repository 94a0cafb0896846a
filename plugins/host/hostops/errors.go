package hostops

import "errors"

var (
	// ErrNoServiceManager: no service manager answers on this machine
	// (e.g. systemd is not PID 1).
	ErrNoServiceManager = errors.New("no service manager is running on this machine")
	// ErrUnknownService: the service manager does not know the service.
	ErrUnknownService = errors.New("unknown service")
	// ErrBadRoot: a cleanup root is not an absolute path to an existing
	// directory, or is a file-system root.
	ErrBadRoot = errors.New("cleanup root refused")
	// ErrUnsupported: the operation is not implemented on this OS.
	ErrUnsupported = errors.New("not supported on this operating system")
)
