package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// FallbackConfig configures a Fallback planner.
type FallbackConfig struct {
	// MaxFailures is how many consecutive failed model steps of one goal
	// make the planner use the playbook for the rest of that goal.
	MaxFailures int
	// MaxGoals bounds how many goals' failure counts are remembered; the
	// oldest is forgotten first.
	MaxGoals int
}

// DefaultFallbackConfig returns MaxFailures 3, MaxGoals 4096.
func DefaultFallbackConfig() FallbackConfig {
	return FallbackConfig{MaxFailures: 3, MaxGoals: 4096}
}

// Validate reports an invalid field.
func (c FallbackConfig) Validate() error {
	if c.MaxFailures < 1 || c.MaxFailures > 100 {
		return fmt.Errorf("fallback config: max failures %d must be in [1, 100]", c.MaxFailures)
	}
	if c.MaxGoals < 1 || c.MaxGoals > 1<<20 {
		return fmt.Errorf("fallback config: max goals %d must be in [1, 1048576]", c.MaxGoals)
	}
	return nil
}

// Fallback plans with a model and falls back to a playbook:
//
//   - with no model configured (Model nil), always;
//   - for a step whose model call finds the server unreachable, without
//     the model, or rejecting the request, at once;
//   - after MaxFailures consecutive failed planning steps (ErrPlanFailed)
//     of the same goal, for the rest of that goal. Until then a failed
//     step is returned as it is, so the agent audits and counts it.
//
// A step the playbook answers carries Meta.Fallback saying why. Safe for
// concurrent use.
type Fallback struct {
	model    Planner
	playbook Planner
	cfg      FallbackConfig
	log      *slog.Logger

	mu       sync.Mutex
	failures map[string]int // goal ID -> consecutive failed model steps
	order    []string       // goal IDs, oldest first, for eviction
}

var _ Planner = (*Fallback)(nil)

// NewFallback returns a Fallback over model (nil: no model configured) and
// playbook (required). A nil logger discards.
func NewFallback(model, playbook Planner, cfg FallbackConfig, log *slog.Logger) (*Fallback, error) {
	if playbook == nil {
		return nil, errors.New("fallback: a playbook planner is required")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fallback{model: model, playbook: playbook, cfg: cfg, log: log, failures: map[string]int{}}, nil
}

// Next asks the model, or the playbook when the rules above say so.
func (f *Fallback) Next(ctx context.Context, s State) (Step, error) {
	if f.model == nil {
		return f.fromPlaybook(ctx, s, "no model configured")
	}
	if n := f.count(s.Goal.ID); n >= f.cfg.MaxFailures {
		return f.fromPlaybook(ctx, s, fmt.Sprintf("model failed %d consecutive planning steps for this goal", n))
	}
	step, err := f.model.Next(ctx, s)
	switch {
	case err == nil:
		f.set(s.Goal.ID, 0)
		return step, nil
	case errors.Is(err, ErrUnreachable), errors.Is(err, ErrModelNotFound), errors.Is(err, ErrRejected):
		f.log.Warn("model unavailable, using the playbook", "goal", s.Goal.ID, "err", err.Error())
		return f.fromPlaybook(ctx, s, "model unavailable: "+err.Error())
	case errors.Is(err, ErrPlanFailed):
		n := f.count(s.Goal.ID) + 1
		f.set(s.Goal.ID, n)
		return Step{}, err
	}
	return Step{}, err
}

// Forget drops what the planner remembers about a finished goal.
func (f *Fallback) Forget(goalID string) { f.set(goalID, 0) }

func (f *Fallback) fromPlaybook(ctx context.Context, s State, why string) (Step, error) {
	step, err := f.playbook.Next(ctx, s)
	if err != nil {
		return Step{}, fmt.Errorf("fallback to playbook (%s): %w", why, err)
	}
	step.Meta.Fallback = why
	return step, nil
}

func (f *Fallback) count(goal string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failures[goal]
}

func (f *Fallback) set(goal string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n == 0 {
		if _, ok := f.failures[goal]; ok {
			delete(f.failures, goal)
			for i, g := range f.order {
				if g == goal {
					f.order = append(f.order[:i], f.order[i+1:]...)
					break
				}
			}
		}
		return
	}
	if _, ok := f.failures[goal]; !ok {
		if len(f.order) >= f.cfg.MaxGoals {
			delete(f.failures, f.order[0])
			f.order = f.order[1:]
		}
		f.order = append(f.order, goal)
	}
	f.failures[goal] = n
}
