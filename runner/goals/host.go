package goals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/runner/pluginhost"
)

// ScopeSource gives the scope in use. *sync.ScopeCache satisfies it.
type ScopeSource interface {
	Current() (s *policies.Scope, expired bool)
}

// Policy adapts a ScopeSource to agent.Policy. An expired scope is still
// returned: its Decide denies every action after the expiry, so agents only
// escalate.
type Policy struct{ Source ScopeSource }

// Scope returns the scope in use, or nil before the first bundle.
func (p Policy) Scope() *policies.Scope {
	s, _ := p.Source.Current()
	return s
}

// ScopedHost runs plugins pinned by the scope in use: when a new scope
// version arrives, the next call starts a fresh plugin host with the new
// catalog's pins and stops the old one. Safe for concurrent use.
type ScopedHost struct {
	base   pluginhost.Config
	log    *slog.Logger
	policy Policy

	mu      sync.Mutex
	version uint64
	host    *pluginhost.Host
	closed  bool
}

// NewScopedHost returns a host that takes its pins from p's scope; base
// sets everything else.
func NewScopedHost(base pluginhost.Config, p Policy, log *slog.Logger) *ScopedHost {
	return &ScopedHost{base: base, policy: p, log: log}
}

func (s *ScopedHost) current() (*pluginhost.Host, error) {
	sc := s.policy.Scope()
	if sc == nil {
		return nil, errors.New("no scope bundle yet: no plugin is trusted")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("plugin host closed")
	}
	v := sc.Bundle().Version
	if s.host != nil && v == s.version {
		return s.host, nil
	}
	cfg := s.base
	cfg.Pins = map[string]string{}
	for _, p := range sc.Catalog() {
		cfg.Pins[p.Name] = p.SHA256
	}
	h, err := pluginhost.New(cfg, s.log)
	if err != nil {
		return nil, fmt.Errorf("plugin host for scope v%d: %w", v, err)
	}
	if s.host != nil {
		_ = s.host.Close()
	}
	s.host, s.version = h, v
	return h, nil
}

// Describe implements agent.PluginHost.
func (s *ScopedHost) Describe(ctx context.Context, plugin string) (sdk.Info, error) {
	h, err := s.current()
	if err != nil {
		return sdk.Info{}, err
	}
	return h.Describe(ctx, plugin)
}

// Execute implements agent.PluginHost.
func (s *ScopedHost) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	h, err := s.current()
	if err != nil {
		return sdk.Result{}, err
	}
	return h.Execute(ctx, req)
}

// PluginStatus reports the plugins the scope in use pins (nil before the
// first scope) and starts, in the background and once per scope version,
// those not running yet, so that one that cannot run (a missing
// credential, a pin mismatch) shows in the runner's health before an
// action needs it. It never waits for a plugin to start.
func (s *ScopedHost) PluginStatus() []pluginhost.Status {
	h, err := s.current()
	if err != nil {
		return nil
	}
	h.Preflight()
	return h.Status()
}

// Close stops every plugin.
func (s *ScopedHost) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	if s.host == nil {
		return nil
	}
	return s.host.Close()
}
