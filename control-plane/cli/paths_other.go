//go:build !windows

package cli

func defaultStateDir() string { return "/var/lib/sitewarden/control-plane" }
