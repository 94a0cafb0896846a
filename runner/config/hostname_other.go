//go:build !windows

package config

import "os"

// hostName is the machine's host name.
func hostName() (string, error) { return os.Hostname() }
