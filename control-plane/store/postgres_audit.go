package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// LatestCheckpoint implements Store.
func (p *Postgres) LatestCheckpoint(ctx context.Context, client, site string) (Checkpoint, error) {
	if err := need("latest checkpoint", client, site); err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Client: client, Site: site}
	var size, at int64
	err := p.pool.QueryRow(ctx, `SELECT size, root, note, cosigned, witnessed_at FROM checkpoints WHERE client = $1 AND site = $2 ORDER BY size DESC LIMIT 1`,
		client, site).Scan(&size, &c.Root, &c.Note, &c.Cosigned, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return Checkpoint{}, fmt.Errorf("checkpoint of %s/%s: %w", client, site, ErrNotFound)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("latest checkpoint of %s/%s: %w", client, site, err)
	}
	c.Size, c.WitnessedAt = uint64(size), fromNanos(at)
	return c, nil
}

// PutCheckpoint implements Store.
func (p *Postgres) PutCheckpoint(ctx context.Context, c Checkpoint) error {
	if err := need("put checkpoint", c.Client, c.Site); err != nil {
		return err
	}
	return p.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, "checkpoints", c.Client, c.Site); err != nil {
			return fmt.Errorf("put checkpoint %s/%s: %w", c.Client, c.Site, err)
		}
		var size int64
		var root []byte
		err := tx.QueryRow(ctx, `SELECT size, root FROM checkpoints WHERE client = $1 AND site = $2 ORDER BY size DESC LIMIT 1`,
			c.Client, c.Site).Scan(&size, &root)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return fmt.Errorf("put checkpoint %s/%s: %w", c.Client, c.Site, err)
		case uint64(size) > c.Size:
			return fmt.Errorf("put checkpoint %s/%s size %d: %w: size %d is stored", c.Client, c.Site, c.Size, ErrConflict, size)
		case uint64(size) == c.Size && !bytes.Equal(root, c.Root):
			return fmt.Errorf("put checkpoint %s/%s size %d: %w: another root is stored for this size", c.Client, c.Site, c.Size, ErrConflict)
		case uint64(size) == c.Size:
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO checkpoints (client, site, size, root, note, cosigned, witnessed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			c.Client, c.Site, int64(c.Size), nonNil(c.Root), nonNil(c.Note), nonNil(c.Cosigned), nanos(c.WitnessedAt)); err != nil {
			return fmt.Errorf("put checkpoint %s/%s: %w", c.Client, c.Site, err)
		}
		return nil
	})
}

// AppendAudit implements Store. New records go in with one batch.
func (p *Postgres) AppendAudit(ctx context.Context, client, site string, first uint64, records [][]byte) error {
	if err := need("append audit", client, site); err != nil {
		return err
	}
	return p.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, "audit", client, site); err != nil {
			return fmt.Errorf("append audit %s/%s: %w", client, site, err)
		}
		var n int64
		if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_records WHERE client = $1 AND site = $2`, client, site).Scan(&n); err != nil {
			return fmt.Errorf("append audit %s/%s: %w", client, site, err)
		}
		if first > uint64(n) {
			return fmt.Errorf("append audit %s/%s at %d: %w: only %d records held, resend from %d", client, site, first, ErrConflict, n, n)
		}
		overlap := min(uint64(len(records)), uint64(n)-first)
		if overlap > 0 {
			held, err := p.auditRange(ctx, tx, client, site, first, int(overlap))
			if err != nil {
				return fmt.Errorf("append audit %s/%s at %d: %w", client, site, first, err)
			}
			for i := range held {
				if !bytes.Equal(held[i], records[i]) {
					return fmt.Errorf("append audit %s/%s at %d: %w: a different record is held at this index", client, site, first+uint64(i), ErrConflict)
				}
			}
		}
		var b pgx.Batch
		for i := overlap; i < uint64(len(records)); i++ {
			b.Queue(`INSERT INTO audit_records (client, site, idx, record) VALUES ($1, $2, $3, $4)`, client, site, int64(first+i), nonNil(records[i]))
		}
		if b.Len() == 0 {
			return nil
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("append audit %s/%s at %d: %w", client, site, first+overlap, err)
		}
		return nil
	})
}

type pgQuerier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (p *Postgres) auditRange(ctx context.Context, q pgQuerier, client, site string, from uint64, limit int) ([][]byte, error) {
	rows, err := q.Query(ctx, `SELECT record FROM audit_records WHERE client = $1 AND site = $2 AND idx >= $3 ORDER BY idx LIMIT $4`,
		client, site, int64(from), limit)
	return collect(rows, err, func(r pgx.Rows) ([]byte, error) {
		var rec []byte
		err := r.Scan(&rec)
		return rec, err
	})
}

// AuditRecords implements Store.
func (p *Postgres) AuditRecords(ctx context.Context, client, site string, from uint64, limit int) ([][]byte, error) {
	if err := need("audit records", client, site); err != nil {
		return nil, err
	}
	out, err := p.auditRange(ctx, p.pool, client, site, from, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("audit records of %s/%s: %w", client, site, err)
	}
	return out, nil
}

// AuditSize implements Store.
func (p *Postgres) AuditSize(ctx context.Context, client, site string) (uint64, error) {
	if err := need("audit size", client, site); err != nil {
		return 0, err
	}
	var n int64
	if err := p.pool.QueryRow(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_records WHERE client = $1 AND site = $2`, client, site).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit size of %s/%s: %w", client, site, err)
	}
	return uint64(n), nil
}
