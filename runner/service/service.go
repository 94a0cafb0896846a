package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	stdsync "sync"
	"time"

	"github.com/kardianos/service"
)

// Actions are the control actions Control accepts.
var Actions = []string{"install", "uninstall", "start", "stop", "restart"}

// Config describes the installed service.
type Config struct {
	// Name is the service's name (systemd unit, SCM service name).
	Name        string
	DisplayName string
	Description string
	// Arguments are passed to the executable when the manager starts it.
	Arguments []string
	// UserName runs the service as this account (empty: root / LocalSystem).
	UserName string
	// StopTimeout bounds how long Stop waits for the runner to drain.
	StopTimeout time.Duration
}

// DefaultConfig returns the embedded defaults; configFile is passed to
// 'sitewarden-runner run --config'.
func DefaultConfig(configFile string) Config {
	return Config{
		Name:        "sitewarden-runner",
		DisplayName: "Sitewarden site runner",
		Description: "Runs a client's bounded, supervised agents and syncs with the Sitewarden control plane.",
		Arguments:   []string{"run", "--config", configFile},
		StopTimeout: 10 * time.Second,
	}
}

// Validate checks c.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return errors.New("service config: name is empty")
	case c.StopTimeout <= 0 || c.StopTimeout > 5*time.Minute:
		return fmt.Errorf("service config: stop timeout %s: use a duration up to 5m", c.StopTimeout)
	}
	return nil
}

// RunFunc is the runner's main loop: it runs until ctx ends, then drains
// and returns.
type RunFunc func(ctx context.Context) error

// Program adapts a RunFunc to the service manager's Start and Stop.
type Program struct {
	cfg Config
	run RunFunc
	log *slog.Logger

	mu     stdsync.Mutex
	cancel context.CancelFunc
	done   chan error
}

var _ service.Interface = (*Program)(nil)

// NewProgram returns a program that runs run under cfg's bounds.
func NewProgram(cfg Config, run RunFunc, log *slog.Logger) (*Program, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Program{cfg: cfg, run: run, log: log}, nil
}

// Start implements service.Interface: it starts the loop and returns at once.
func (p *Program) Start(service.Service) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cancel != nil {
		return errors.New("runner already started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.done = cancel, make(chan error, 1)
	go func(done chan<- error) {
		err := p.run(ctx)
		if err != nil && ctx.Err() == nil {
			// The loop failed on its own: say so; the manager's recovery
			// action restarts the service.
			p.log.Error("runner stopped on an error", "err", err.Error())
		}
		done <- err
	}(p.done)
	return nil
}

// Stop implements service.Interface: it cancels the loop and waits for it
// to drain, at most StopTimeout. It never exits the process.
func (p *Program) Stop(service.Service) error {
	p.mu.Lock()
	cancel, done := p.cancel, p.done
	p.cancel = nil
	p.mu.Unlock()
	if cancel == nil {
		return ErrNotRunning
	}
	cancel()
	t := time.NewTimer(p.cfg.StopTimeout)
	defer t.Stop()
	select {
	case err := <-done:
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	case <-t.C:
		p.log.Error("runner did not drain in time; stopping anyway", "bound", p.cfg.StopTimeout.String())
		return fmt.Errorf("%w (%s)", ErrStopTimeout, p.cfg.StopTimeout)
	}
}

// New returns the OS service for p.
func New(cfg Config, p *Program) (service.Service, error) {
	sc := &service.Config{
		Name:        cfg.Name,
		DisplayName: cfg.DisplayName,
		Description: cfg.Description,
		Arguments:   cfg.Arguments,
		UserName:    cfg.UserName,
		Option:      osOptions(),
	}
	s, err := service.New(p, sc)
	if err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	return s, nil
}

// Control runs one of Actions on s.
func Control(s service.Service, action string) error {
	var err error
	switch action {
	case "install":
		err = s.Install()
	case "uninstall":
		err = s.Uninstall()
	case "start":
		err = s.Start()
	case "stop":
		err = s.Stop()
	case "restart":
		err = s.Restart()
	default:
		return fmt.Errorf("%w %q: use one of %v", ErrUnknownAction, action, Actions)
	}
	if err != nil {
		return fmt.Errorf("%s service %s: %w; this needs administrator (root) rights and a service manager (systemd or the Windows SCM)", action, s, err)
	}
	return nil
}

// Status returns the service's state as a word: running, stopped, or
// not-installed.
func Status(s service.Service) (string, error) {
	st, err := s.Status()
	switch {
	case errors.Is(err, service.ErrNotInstalled):
		return "not-installed", nil
	case err != nil:
		return "", fmt.Errorf("status of %s: %w", s, err)
	case st == service.StatusRunning:
		return "running", nil
	case st == service.StatusStopped:
		return "stopped", nil
	default:
		return "unknown", nil
	}
}

// Interactive reports whether the process runs from a terminal rather than
// under a service manager.
func Interactive() bool { return service.Interactive() }

// Manager controls the installed service from the command line.
type Manager struct{ svc service.Service }

// NewManager returns a manager for the service cfg describes.
func NewManager(cfg Config) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	prog := &Program{cfg: cfg, log: slog.New(slog.DiscardHandler), run: func(ctx context.Context) error { <-ctx.Done(); return nil }}
	svc, err := New(cfg, prog)
	if err != nil {
		return nil, err
	}
	return &Manager{svc: svc}, nil
}

// Control runs one of Actions.
func (m *Manager) Control(action string) error { return Control(m.svc, action) }

// Status returns running, stopped or not-installed.
func (m *Manager) Status() (string, error) { return Status(m.svc) }
