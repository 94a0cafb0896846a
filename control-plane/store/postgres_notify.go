package store

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// ChangesChannel is the PostgreSQL NOTIFY channel of Change messages.
const ChangesChannel = "sitewarden_changes"

// Topics of a Change: the same words the sync protocol's Notify uses.
const (
	TopicScope     = "scope"
	TopicGoals     = "goals"
	TopicApprovals = "approvals"
)

// Change says that a client's topic has a new version: a scope version
// (Site empty: every site of the client), or a goal or decision of one
// site (Version is its cursor). It carries no payload: a replica holding
// the site's connection pushes a Notify and the site fetches from its
// cursor. Origin names the process that wrote it (Postgres.Origin).
type Change struct {
	Origin  string `json:"o"`
	Client  string `json:"c"`
	Site    string `json:"s,omitempty"`
	Topic   string `json:"t"`
	Version uint64 `json:"v"`
}

// maxChangePayload bounds a decoded notification (PostgreSQL's own limit
// is 8000 bytes).
const maxChangePayload = 8000

// DecodeChange parses a Change notification payload.
func DecodeChange(payload []byte) (Change, error) {
	var c Change
	if len(payload) > maxChangePayload {
		return c, fmt.Errorf("change: %w: %d bytes", ErrInvalid, len(payload))
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return Change{}, fmt.Errorf("change: %w: %v", ErrInvalid, err)
	}
	if c.Client == "" || c.Topic == "" {
		return Change{}, fmt.Errorf("change: %w: client and topic are required", ErrInvalid)
	}
	return c, nil
}

// ListenChanges calls fn with every Change written by another process
// (every replica and every CLI sharing the database), until ctx ends; it
// then returns nil. A lost connection is re-established with backoff
// (100 ms doubling to 5 s); changes committed while it was down are not
// replayed (sites catch up on their next fetch: see docs/scaling.md).
// onListening, when not nil, is called each time the listener is
// subscribed. fn runs on the listener's goroutine: keep it short.
func (p *Postgres) ListenChanges(ctx context.Context, log *slog.Logger, onListening func(), fn func(Change)) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.listenOnce(ctx, log, func() {
			delay = 100 * time.Millisecond
			if onListening != nil {
				onListening()
			}
		}, fn)
		if ctx.Err() != nil {
			break
		}
		log.Warn("change listener lost its PostgreSQL connection; reconnecting", "retry_in", delay.String(), "err", err.Error())
		select {
		case <-ctx.Done():
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
	return nil
}

func (p *Postgres) listenOnce(ctx context.Context, log *slog.Logger, up func(), fn func(Change)) error {
	// A connection of its own, outside the pool: it carries a LISTEN and
	// waits on it for as long as the process runs.
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	conn, err := pgx.ConnectConfig(dctx, p.pool.Config().ConnConfig.Copy())
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{ChangesChannel}.Sanitize()); err != nil {
		return err
	}
	up()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		c, err := DecodeChange([]byte(n.Payload))
		if err != nil {
			log.Warn("change notification ignored", "err", err.Error())
			continue
		}
		if c.Origin == p.origin {
			continue
		}
		fn(c)
	}
}

// RunOnce implements Once with a PostgreSQL session advisory lock (held
// while fn runs, released if this process dies) and the job_runs table
// (a period is done once fn returned nil there).
func (p *Postgres) RunOnce(ctx context.Context, name string, period time.Time, fn func(context.Context) error) (bool, error) {
	if err := need("run once", name); err != nil {
		return false, err
	}
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("run once %s: %w", name, err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, advisoryKey("job", name)).Scan(&got); err != nil {
		return false, fmt.Errorf("run once %s: %w", name, err)
	}
	if !got {
		return false, nil
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `SELECT pg_advisory_unlock($1)`, advisoryKey("job", name)); err != nil {
			// An unreleased session lock would block the job everywhere:
			// drop the connection, which releases it.
			_ = conn.Hijack().Close(uctx)
		}
	}()
	var done int
	if err := conn.QueryRow(ctx, `SELECT COUNT(*) FROM job_runs WHERE name = $1 AND period = $2`, name, nanos(period)).Scan(&done); err != nil {
		return false, fmt.Errorf("run once %s: %w", name, err)
	}
	if done > 0 {
		return false, nil
	}
	if err := fn(ctx); err != nil {
		return true, fmt.Errorf("run once %s: %w", name, err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO job_runs (name, period, holder, done_at) VALUES ($1, $2, $3, $4)`,
		name, nanos(period), p.origin, time.Now().UnixNano()); err != nil {
		return true, fmt.Errorf("run once %s: ran, but recording it failed (it may run again): %w", name, err)
	}
	return true, nil
}
