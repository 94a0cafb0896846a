package ldapdir

import (
	"fmt"
	"time"
)

// Config tunes the plugin. The zero value is not valid: start from DefaultConfig.
type Config struct {
	// DialTimeout bounds the TCP connect and TLS handshake.
	DialTimeout time.Duration
	// OpTimeout bounds each LDAP request (the call's context bounds the whole call).
	OpTimeout time.Duration
	// MaxGroups bounds list_groups; more are reported as truncated.
	MaxGroups int
	// PasswordLength is the length of generated passwords when the call does not set one.
	PasswordLength int
	// InsecureAllowPlainLDAP lets credentials with tls=none reach a server
	// without TLS. TEST ONLY: never set by the plugin binary.
	InsecureAllowPlainLDAP bool
	// Now returns the current time (tests set a fixed clock).
	Now func() time.Time
}

// DefaultConfig returns the configuration the plugin binary runs with.
func DefaultConfig() Config {
	return Config{
		DialTimeout:    10 * time.Second,
		OpTimeout:      20 * time.Second,
		MaxGroups:      500,
		PasswordLength: 20,
		Now:            time.Now,
	}
}

// Bounds of generated passwords.
const (
	MinPasswordLength = 16
	MaxPasswordLength = 64
)

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.DialTimeout <= 0:
		return fmt.Errorf("ldapdir config: DialTimeout must be positive, got %v", c.DialTimeout)
	case c.OpTimeout <= 0:
		return fmt.Errorf("ldapdir config: OpTimeout must be positive, got %v", c.OpTimeout)
	case c.MaxGroups < 1 || c.MaxGroups > 10000:
		return fmt.Errorf("ldapdir config: MaxGroups must be 1..10000, got %d", c.MaxGroups)
	case c.PasswordLength < MinPasswordLength || c.PasswordLength > MaxPasswordLength:
		return fmt.Errorf("ldapdir config: PasswordLength must be %d..%d, got %d", MinPasswordLength, MaxPasswordLength, c.PasswordLength)
	case c.Now == nil:
		return fmt.Errorf("ldapdir config: Now must be set (use time.Now)")
	}
	return nil
}
