package syncserver

import (
	"fmt"
	"time"
)

// Config configures the sync server.
type Config struct {
	// Listen is the UDP address to listen on.
	Listen string
	// HeartbeatInterval is what Welcome tells runners; a control stream
	// silent for three intervals is closed.
	HeartbeatInterval time.Duration
	// IdleTimeout closes a QUIC connection with no traffic at all.
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the TLS handshake and the Hello exchange.
	HandshakeTimeout time.Duration
	// StreamTimeout bounds each transfer stream between frames.
	StreamTimeout time.Duration
	// MaxStreams is the number of concurrent streams a site may open.
	MaxStreams int64
	// MaxFrame is the frame payload limit (protocol.DefaultMaxFrameSize when 0).
	MaxFrame int
	// FetchLimit bounds the goals or decisions one fetch returns.
	FetchLimit int
	// RetryAbove is the number of connection attempts per second above
	// which new peers must prove their address (QUIC Retry) first.
	RetryAbove int
	// ScopeWatchInterval is how often the store is checked for scope
	// versions published by another process (such as 'sitewarden scope
	// apply'), to notify the client's connected sites; 0 disables it.
	ScopeWatchInterval time.Duration
}

// DefaultConfig returns the embedded defaults.
func DefaultConfig() Config {
	return Config{
		Listen:            "127.0.0.1:7443",
		HeartbeatInterval: 15 * time.Second,
		IdleTimeout:       60 * time.Second,
		HandshakeTimeout:  10 * time.Second,
		StreamTimeout:     30 * time.Second,
		MaxStreams:        16,
		FetchLimit:        100,
		RetryAbove:        200,
		// One query per connected client per interval.
		ScopeWatchInterval: 2 * time.Second,
	}
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case c.Listen == "":
		return fmt.Errorf("sync config: listen address is empty")
	case c.HeartbeatInterval < 100*time.Millisecond:
		return fmt.Errorf("sync config: heartbeat interval %s is below 100ms", c.HeartbeatInterval)
	case c.IdleTimeout < c.HeartbeatInterval:
		return fmt.Errorf("sync config: idle timeout %s is below the heartbeat interval %s", c.IdleTimeout, c.HeartbeatInterval)
	case c.HandshakeTimeout <= 0 || c.StreamTimeout <= 0:
		return fmt.Errorf("sync config: handshake and stream timeouts must be positive")
	case c.MaxStreams < 2:
		return fmt.Errorf("sync config: max streams %d: need at least 2 (control and one transfer)", c.MaxStreams)
	case c.FetchLimit < 1 || c.FetchLimit > 10000:
		return fmt.Errorf("sync config: fetch limit %d: use 1-10000", c.FetchLimit)
	case c.RetryAbove < 0:
		return fmt.Errorf("sync config: retry threshold %d is negative", c.RetryAbove)
	case c.ScopeWatchInterval < 0:
		return fmt.Errorf("sync config: scope watch interval %s is negative", c.ScopeWatchInterval)
	}
	return nil
}
