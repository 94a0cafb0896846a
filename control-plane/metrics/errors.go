package metrics

import "errors"

// ErrExposed means a metrics address other than loopback was given without
// a token: set one, or listen on 127.0.0.1.
var ErrExposed = errors.New("metrics: a metrics address other than loopback needs a token")
