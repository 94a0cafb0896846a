package sync

import (
	"fmt"
	"slices"
	"time"
)

// Config configures the sync client.
type Config struct {
	// Address is the control plane's host:port (UDP).
	Address string
	// Alternates are more replicas of the same control plane (host:port,
	// sharing its CA and store): when a session ends or a dial fails, the
	// client tries the next address of Address, Alternates... at once, and
	// backs off only after every one failed in a row.
	Alternates []string
	// RunnerVersion is sent in Hello and heartbeats.
	RunnerVersion string
	// HeartbeatInterval applies until the control plane's Welcome names one.
	HeartbeatInterval time.Duration
	// DialTimeout bounds connecting and the Hello exchange.
	DialTimeout time.Duration
	// IdleTimeout closes a connection with no traffic.
	IdleTimeout time.Duration
	// StreamTimeout bounds each transfer between frames.
	StreamTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay, which doubles per
	// failed attempt and is jittered (a random point in its upper half).
	BackoffMin time.Duration
	BackoffMax time.Duration
	// ResyncInterval re-fetches everything even without a Notify.
	ResyncInterval time.Duration
	// BatchSize is how many outbox items one stream carries.
	BatchSize int
	// MaxFrame is the frame payload limit (protocol.DefaultMaxFrameSize when 0).
	MaxFrame int
}

// DefaultConfig returns the embedded defaults.
func DefaultConfig() Config {
	return Config{
		Address:           "127.0.0.1:7443",
		RunnerVersion:     "dev",
		HeartbeatInterval: 15 * time.Second,
		DialTimeout:       10 * time.Second,
		IdleTimeout:       60 * time.Second,
		StreamTimeout:     30 * time.Second,
		BackoffMin:        500 * time.Millisecond,
		BackoffMax:        2 * time.Minute,
		ResyncInterval:    5 * time.Minute,
		BatchSize:         64,
	}
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case c.Address == "":
		return fmt.Errorf("sync config: control plane address is empty; set control_plane or enroll first")
	case slices.Contains(c.Alternates, ""):
		return fmt.Errorf("sync config: an alternate control plane address is empty")
	case c.HeartbeatInterval < 100*time.Millisecond:
		return fmt.Errorf("sync config: heartbeat interval %s is below 100ms", c.HeartbeatInterval)
	case c.DialTimeout <= 0 || c.StreamTimeout <= 0 || c.IdleTimeout <= 0:
		return fmt.Errorf("sync config: dial, stream and idle timeouts must be positive")
	case c.BackoffMin <= 0 || c.BackoffMax < c.BackoffMin:
		return fmt.Errorf("sync config: backoff %s-%s: need 0 < min <= max", c.BackoffMin, c.BackoffMax)
	case c.ResyncInterval < time.Second:
		return fmt.Errorf("sync config: resync interval %s is below 1s", c.ResyncInterval)
	case c.BatchSize < 1 || c.BatchSize > 10000:
		return fmt.Errorf("sync config: batch size %d: use 1-10000", c.BatchSize)
	}
	return nil
}
