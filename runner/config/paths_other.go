//go:build !windows

package config

// DefaultConfigDir is /etc/sitewarden.
func DefaultConfigDir() string { return "/etc/sitewarden" }

// DefaultStateDir is /var/lib/sitewarden.
func DefaultStateDir() string { return "/var/lib/sitewarden" }
