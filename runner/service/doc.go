// Package service runs the site runner under the operating system's service
// manager through kardianos/service: systemd on Linux, the Service Control
// Manager on Windows (with recovery actions: restart on failure). It
// installs, uninstalls, starts, stops, restarts and reports the status of
// the service, and adapts the runner's main loop to the manager's Start and
// Stop: Start returns at once, Stop cancels the loop and waits for it to
// drain within Config.StopTimeout, and nothing here calls os.Exit.
//
// Logs go to stderr as JSON (journald collects them under systemd) and to
// the Windows Event Log when the runner runs as a Windows service.
package service
