package pluginhost

import (
	"context"
	"errors"
	"slices"
)

// The states Status reports, as the runner's health message
// (protocol PluginStatus.state) carries them.
const (
	// StateReady: the plugin is running and its last call did not break it.
	StateReady = "ready"
	// StateStopped: not running: never started yet, or the host closed.
	StateStopped = "stopped"
	// StateCrashed: the plugin failed to start, crashed or hung; it is
	// restarted on next use.
	StateCrashed = "crashed"
	// StateRefused: the host will not run the plugin as installed and
	// configured: its binary is missing or does not match its pin, or its
	// section of the credentials file lacks a required key. Retrying does
	// not help; LastError says what to fix.
	StateRefused = "refused"
)

// Status is one pinned plugin's state. LastError never holds a secret:
// it is the host's own error (credential key names, never values).
type Status struct {
	Name      string
	Version   string // "" until it has started once
	State     string
	LastError string
}

func startFailureState(err error) string {
	if errors.Is(err, ErrPinMismatch) || errors.Is(err, ErrNotFound) || errors.Is(err, ErrMissingCredentials) {
		return StateRefused
	}
	return StateCrashed
}

// Status reports every plugin the host's pins name, sorted by name: a
// plugin not used yet is stopped. It starts nothing (see Preflight) and
// never waits on a start or a call: a plugin that is starting reports its
// state before the start.
func (h *Host) Status() []Status {
	names := make([]string, 0, len(h.cfg.Pins))
	for n := range h.cfg.Pins {
		names = append(names, n)
	}
	slices.Sort(names)
	h.mu.Lock()
	ins := make([]*instance, len(names))
	for i, n := range names {
		ins[i] = h.plugins[n]
	}
	h.mu.Unlock()
	out := make([]Status, len(names))
	for i, n := range names {
		out[i] = Status{Name: n, State: StateStopped}
		if ins[i] != nil {
			out[i] = ins[i].snapshot()
		}
	}
	return out
}

// Preflight starts, in the background and once per host, every pinned
// plugin that is not running, so that a plugin that cannot run (missing
// credential, pin mismatch, broken binary) shows in Status before an
// action needs it rather than when the action fails. It returns at once;
// Close stops it and waits for it. Each start is bounded by StartTimeout.
func (h *Host) Preflight() {
	h.preflight.Do(func() {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		h.preflightCancel = cancel
		h.wg.Add(1)
		h.mu.Unlock()
		go func() {
			defer h.wg.Done()
			defer cancel()
			for _, s := range h.Status() {
				in, err := h.instance(s.Name)
				if err != nil {
					return // closed
				}
				_, _ = in.get(ctx) // the outcome lands in the instance's status
			}
		}()
	})
}
