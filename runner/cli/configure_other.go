//go:build !windows

package cli

import "errors"

// restrictDir: on Unix the package sets the modes (0700 state, 0600 token
// and config); nothing to do here.
func restrictDir(string) error { return nil }

func setServiceRecovery() error {
	return errors.New("--service-recovery is for the Windows service; the systemd unit restarts the runner itself (Restart=on-failure)")
}
