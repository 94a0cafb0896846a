package service

import "github.com/kardianos/service"

// useSystemLog is true when running as a Windows service: the Event Log is
// where administrators look, and a service has no console.
func useSystemLog() bool { return !service.Interactive() }
