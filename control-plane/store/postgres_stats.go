package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// Stats and Review on PostgreSQL run the portable SQLite code through the
// adapting connector (postgres_shared.go).
var (
	_ Stats  = (*Postgres)(nil)
	_ Review = (*Postgres)(nil)
)

// RefreshStats implements the shared Stats code.
func (p *Postgres) RefreshStats(ctx context.Context, max int) (int, error) {
	var n int
	err := retrySerializable(ctx, func() (err error) { n, err = p.shared.RefreshStats(ctx, max); return err })
	return n, err
}

// RecordAuditAlert implements the shared Stats code.
func (p *Postgres) RecordAuditAlert(ctx context.Context, a AuditAlert) error {
	return retrySerializable(ctx, func() error { return p.shared.RecordAuditAlert(ctx, a) })
}

// AddSampleBatch implements the shared Review code.
func (p *Postgres) AddSampleBatch(ctx context.Context, b SampleBatch, samples []Sample) error {
	return retrySerializable(ctx, func() error { return p.shared.AddSampleBatch(ctx, b, samples) })
}

// GradeSample implements the shared Review code.
func (p *Postgres) GradeSample(ctx context.Context, id string, g Grade, by, note string, now time.Time) error {
	return retrySerializable(ctx, func() error { return p.shared.GradeSample(ctx, id, g, by, note, now) })
}

// CreateProposal implements the shared Review code.
func (p *Postgres) CreateProposal(ctx context.Context, sp ScopeProposal) error {
	return retrySerializable(ctx, func() error { return p.shared.CreateProposal(ctx, sp) })
}

// ApproveProposal implements the shared Review code (which publishes the
// scope Change).
func (p *Postgres) ApproveProposal(ctx context.Context, id, approver, note string, v ScopeVersion, now time.Time) error {
	return retrySerializable(ctx, func() error { return p.shared.ApproveProposal(ctx, id, approver, note, v, now) })
}

// RejectProposal implements the shared Review code.
func (p *Postgres) RejectProposal(ctx context.Context, id, by, note string, now time.Time) error {
	return retrySerializable(ctx, func() error { return p.shared.RejectProposal(ctx, id, by, note, now) })
}

// retrySerializable runs fn again (up to 5 times, with a short growing
// pause) while it fails with a serialization failure: two replicas' writes
// met, one was rolled back, and running it again sees the other's result.
func retrySerializable(ctx context.Context, fn func() error) error {
	var err error
	for i := range 5 {
		if err = fn(); !isSerialization(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(i+1) * 5 * time.Millisecond):
		}
	}
	return err
}

func isSerialization(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
