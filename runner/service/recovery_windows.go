package service

import (
	"fmt"
	"time"

	"golang.org/x/sys/windows/svc/mgr"
)

// Recovery actions of the Windows service: restart 5 s after each of the
// first three failures in a day (the count resets after ResetPeriod).
const (
	recoveryDelay = 5 * time.Second
	resetPeriod   = 24 * time.Hour
)

// SetRecovery sets the recovery actions of the installed service name (the
// 'sc failure' equivalent). kardianos/service sets them when
// 'sitewarden-runner install' registers the service; the MSI registers it
// itself and has the runner call this ('configure --service-recovery'),
// since wixl offers no ServiceConfig element. Needs administrator rights.
func SetRecovery(name string) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("service recovery: connect to the service manager: %w; run as an administrator", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("service recovery: open %s: %w; is it installed?", name, err)
	}
	defer s.Close()
	restart := mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: recoveryDelay}
	if err := s.SetRecoveryActions([]mgr.RecoveryAction{restart, restart, restart}, uint32(resetPeriod/time.Second)); err != nil {
		return fmt.Errorf("service recovery: %s: %w", name, err)
	}
	// Failures that end with a non-zero exit code count too, not only crashes.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); err != nil {
		return fmt.Errorf("service recovery: %s: %w", name, err)
	}
	return nil
}
