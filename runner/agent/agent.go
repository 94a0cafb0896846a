package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/policies"
	audit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/model"
)

// Policy gives the scope in use. *policies.Engine satisfies it; a swap of
// the scope takes effect at the next step of every goal.
type Policy interface {
	Scope() *policies.Scope
}

// Actions runs plugin operations. Operation returns the operation's
// description (schemas, risk, verification) or an error when no trusted
// plugin declares it. Execute runs one call and honours ctx's deadline.
// An adapter over *pluginhost.Host is HostActions.
type Actions interface {
	Operation(ctx context.Context, action string) (sdk.Operation, error)
	Execute(ctx context.Context, req sdk.Request) (sdk.Result, error)
}

// AuditLog is the site's audit log: Append returns only when the record is
// durable. *runner/audit.Log satisfies it.
type AuditLog interface {
	Append(ctx context.Context, r audit.Record) (uint64, error)
}

// Credentials hands out the credentials one action needs, per call; the
// agent holds none between calls.
type Credentials interface {
	For(ctx context.Context, action string) (sdk.Credentials, error)
}

// Config tunes the agent.
type Config struct {
	// Site names this runner's site in audit records.
	Site string
	// CallTimeout bounds one plugin call (the goal's wall-time budget may
	// bound it further).
	CallTimeout time.Duration
	// ApprovalTTL is how long a supervisor has to decide a gated action.
	ApprovalTTL time.Duration
	// MaxOutputBytes bounds the filtered output kept per step.
	MaxOutputBytes int
	// Fallback tunes the switch from the model to the playbook.
	Fallback model.FallbackConfig
}

// DefaultConfig returns the defaults: 60 s per call, 24 h to approve.
func DefaultConfig() Config {
	return Config{
		CallTimeout:    60 * time.Second,
		ApprovalTTL:    24 * time.Hour,
		MaxOutputBytes: 16 << 10,
		Fallback:       model.DefaultFallbackConfig(),
	}
}

// Validate reports a configuration the agent cannot run with.
func (c Config) Validate() error {
	var errs []error
	if c.CallTimeout <= 0 {
		errs = append(errs, fmt.Errorf("agent: call timeout must be positive, got %s", c.CallTimeout))
	}
	if c.ApprovalTTL <= 0 {
		errs = append(errs, fmt.Errorf("agent: approval TTL must be positive, got %s", c.ApprovalTTL))
	}
	if c.MaxOutputBytes < 256 {
		errs = append(errs, fmt.Errorf("agent: max output bytes must be at least 256, got %d", c.MaxOutputBytes))
	}
	if err := c.Fallback.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("agent: %w", err))
	}
	return errors.Join(errs...)
}

// Deps are the agent's collaborators. Model may be nil (playbook only).
type Deps struct {
	Policy      Policy
	Actions     Actions
	Audit       AuditLog
	Credentials Credentials
	Approvals   Approvals
	Model       model.Planner
	Log         *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Agent runs goals. Safe for concurrent use by several goals.
type Agent struct {
	cfg Config
	d   Deps
}

// New checks cfg and deps and returns an agent.
func New(cfg Config, d Deps) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case d.Policy == nil:
		return nil, errors.New("agent: no policy engine")
	case d.Actions == nil:
		return nil, errors.New("agent: no plugin host")
	case d.Audit == nil:
		return nil, errors.New("agent: no audit log")
	case d.Credentials == nil:
		return nil, errors.New("agent: no credential source")
	case d.Approvals == nil:
		return nil, errors.New("agent: no approval store")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Agent{cfg: cfg, d: d}, nil
}
