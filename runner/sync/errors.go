package sync

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrUnsupportedVersion means the control plane speaks no protocol
	// version this runner speaks.
	ErrUnsupportedVersion = errors.New("no common protocol version with the control plane")
	// ErrProtocol means the control plane sent something the protocol does
	// not allow at that point.
	ErrProtocol = errors.New("sync protocol violation")
	// ErrRefused means the control plane refused an item for good.
	ErrRefused = errors.New("control plane refused the item")
)
