//go:build !windows

package service

// useSystemLog is false off Windows: systemd's journal collects stderr.
func useSystemLog() bool { return false }
