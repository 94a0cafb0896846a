//go:build !windows

package audit

// defaultDir is where the runner keeps its audit log on Unix systems.
func defaultDir() string { return "/var/lib/sitewarden/audit" }
