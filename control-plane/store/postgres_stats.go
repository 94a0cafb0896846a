package store

import (
	"context"
	"errors"
	"fmt"
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

// Clients implements the shared Stats code.
func (p *Postgres) Clients(ctx context.Context) ([]string, error) {
	return p.shared.Clients(ctx)
}

// SiteCounts implements the shared Stats code.
func (p *Postgres) SiteCounts(ctx context.Context, client string, onlineSince time.Time) (SiteCounts, error) {
	return p.shared.SiteCounts(ctx, client, onlineSince)
}

// SiteRows implements the shared Stats code.
func (p *Postgres) SiteRows(ctx context.Context, client string, offset, limit int) ([]SiteRow, error) {
	return p.shared.SiteRows(ctx, client, offset, limit)
}

// GoalCounts implements the shared Stats code.
func (p *Postgres) GoalCounts(ctx context.Context, f GoalFilter, by GroupBy) ([]GoalCount, error) {
	return p.shared.GoalCounts(ctx, f, by)
}

// EscalationQueue implements the shared Stats code.
func (p *Postgres) EscalationQueue(ctx context.Context, f EscalationFilter, offset, limit int) ([]EscalationRow, error) {
	return p.shared.EscalationQueue(ctx, f, offset, limit)
}

// CountEscalations implements the shared Stats code.
func (p *Postgres) CountEscalations(ctx context.Context, f EscalationFilter) (int, error) {
	return p.shared.CountEscalations(ctx, f)
}

// ApprovalQueue implements the shared Stats code.
func (p *Postgres) ApprovalQueue(ctx context.Context, f ApprovalFilter, offset, limit int) ([]ApprovalRow, error) {
	return p.shared.ApprovalQueue(ctx, f, offset, limit)
}

// AuditSearch implements the shared Stats code.
func (p *Postgres) AuditSearch(ctx context.Context, f AuditFilter, offset, limit int) ([]AuditHit, error) {
	return p.shared.AuditSearch(ctx, f, offset, limit)
}

// AuditRange implements the shared Stats code.
func (p *Postgres) AuditRange(ctx context.Context, client, site string, from, to time.Time) (uint64, uint64, error) {
	return p.shared.AuditRange(ctx, client, site, from, to)
}

// RecordAuditAlert implements the shared Stats code.
func (p *Postgres) RecordAuditAlert(ctx context.Context, a AuditAlert) error {
	return retrySerializable(ctx, func() error { return p.shared.RecordAuditAlert(ctx, a) })
}

// AuditAlerts implements the shared Stats code.
func (p *Postgres) AuditAlerts(ctx context.Context, client string, limit int) ([]AuditAlert, error) {
	return p.shared.AuditAlerts(ctx, client, limit)
}

// ItemsReceived implements the shared Review code.
func (p *Postgres) ItemsReceived(ctx context.Context, kinds []Kind, from, to time.Time, after ItemCursor, limit int) ([]Item, error) {
	return p.shared.ItemsReceived(ctx, kinds, from, to, after, limit)
}

// AddSampleBatch implements the shared Review code.
func (p *Postgres) AddSampleBatch(ctx context.Context, b SampleBatch, samples []Sample) error {
	return retrySerializable(ctx, func() error { return p.shared.AddSampleBatch(ctx, b, samples) })
}

// SampleBatchOf implements the shared Review code.
func (p *Postgres) SampleBatchOf(ctx context.Context, day time.Time) (SampleBatch, error) {
	return p.shared.SampleBatchOf(ctx, day)
}

// Sample implements the shared Review code.
func (p *Postgres) Sample(ctx context.Context, id string) (Sample, error) {
	return p.shared.Sample(ctx, id)
}

// Samples implements the shared Review code.
func (p *Postgres) Samples(ctx context.Context, f SampleFilter, offset, limit int) ([]Sample, error) {
	return p.shared.Samples(ctx, f, offset, limit)
}

// GradeSample implements the shared Review code.
func (p *Postgres) GradeSample(ctx context.Context, id string, g Grade, by, note string, now time.Time) error {
	return retrySerializable(ctx, func() error { return p.shared.GradeSample(ctx, id, g, by, note, now) })
}

// Accuracy implements the shared Review code.
func (p *Postgres) Accuracy(ctx context.Context, client string, from, to time.Time) ([]Accuracy, error) {
	return p.shared.Accuracy(ctx, client, from, to)
}

// CreateProposal implements the shared Review code.
func (p *Postgres) CreateProposal(ctx context.Context, sp ScopeProposal) error {
	return retrySerializable(ctx, func() error { return p.shared.CreateProposal(ctx, sp) })
}

// Proposal implements the shared Review code.
func (p *Postgres) Proposal(ctx context.Context, id string) (ScopeProposal, error) {
	return p.shared.Proposal(ctx, id)
}

// Proposals implements the shared Review code.
func (p *Postgres) Proposals(ctx context.Context, client string, status ProposalStatus, offset, limit int) ([]ScopeProposal, error) {
	return p.shared.Proposals(ctx, client, status, offset, limit)
}

// ApproveProposal implements Review; the approved version also publishes a scope
// Change (after the commit: the shared code owns the transaction).
func (p *Postgres) ApproveProposal(ctx context.Context, id, approver, note string, v ScopeVersion, now time.Time) error {
	if err := retrySerializable(ctx, func() error { return p.shared.ApproveProposal(ctx, id, approver, note, v, now) }); err != nil {
		return err
	}
	if err := p.notifyNow(ctx, Change{Client: v.Client, Topic: TopicScope, Version: v.Version}); err != nil {
		return fmt.Errorf("scope v%d of %s approved; notifying replicas failed (their sites learn of it within seconds anyway): %w", v.Version, v.Client, err)
	}
	return nil
}

// RejectProposal implements the shared Review code.
func (p *Postgres) RejectProposal(ctx context.Context, id, by, note string, now time.Time) error {
	return retrySerializable(ctx, func() error { return p.shared.RejectProposal(ctx, id, by, note, now) })
}

// ScopeVersions implements the shared Review code.
func (p *Postgres) ScopeVersions(ctx context.Context, client string, offset, limit int) ([]ScopeVersion, error) {
	return p.shared.ScopeVersions(ctx, client, offset, limit)
}

// ScopeVersionOf implements the shared Review code.
func (p *Postgres) ScopeVersionOf(ctx context.Context, client string, version uint64) (ScopeVersion, error) {
	return p.shared.ScopeVersionOf(ctx, client, version)
}

// QueueSizes implements the shared Review code.
func (p *Postgres) QueueSizes(ctx context.Context) (QueueSizes, error) {
	return p.shared.QueueSizes(ctx)
}

// notifyNow publishes a Change outside a transaction.
func (p *Postgres) notifyNow(ctx context.Context, c Change) error {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit it is a no-op
	if err := p.publish(ctx, tx, c); err != nil {
		return err
	}
	return tx.Commit(ctx)
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
