package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// LatestCheckpoint implements Store.
func (s *SQLite) LatestCheckpoint(ctx context.Context, client, site string) (Checkpoint, error) {
	if err := need("latest checkpoint", client, site); err != nil {
		return Checkpoint{}, err
	}
	c := Checkpoint{Client: client, Site: site}
	var size, at int64
	err := s.db.QueryRowContext(ctx, `SELECT size, root, note, cosigned, witnessed_at FROM checkpoints WHERE client = ? AND site = ? ORDER BY size DESC LIMIT 1`,
		client, site).Scan(&size, &c.Root, &c.Note, &c.Cosigned, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, fmt.Errorf("checkpoint of %s/%s: %w", client, site, ErrNotFound)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("latest checkpoint of %s/%s: %w", client, site, err)
	}
	c.Size, c.WitnessedAt = uint64(size), fromNanos(at)
	return c, nil
}

// PutCheckpoint implements Store.
func (s *SQLite) PutCheckpoint(ctx context.Context, c Checkpoint) error {
	if err := need("put checkpoint", c.Client, c.Site); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var size int64
		var root []byte
		err := tx.QueryRowContext(ctx, `SELECT size, root FROM checkpoints WHERE client = ? AND site = ? ORDER BY size DESC LIMIT 1`,
			c.Client, c.Site).Scan(&size, &root)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("put checkpoint %s/%s: %w", c.Client, c.Site, err)
		case uint64(size) > c.Size:
			return fmt.Errorf("put checkpoint %s/%s size %d: %w: size %d is stored", c.Client, c.Site, c.Size, ErrConflict, size)
		case uint64(size) == c.Size && !bytes.Equal(root, c.Root):
			return fmt.Errorf("put checkpoint %s/%s size %d: %w: another root is stored for this size", c.Client, c.Site, c.Size, ErrConflict)
		case uint64(size) == c.Size:
			return nil
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (client, site, size, root, note, cosigned, witnessed_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.Client, c.Site, int64(c.Size), nonNil(c.Root), nonNil(c.Note), nonNil(c.Cosigned), nanos(c.WitnessedAt)); err != nil {
			return fmt.Errorf("put checkpoint %s/%s: %w", c.Client, c.Site, err)
		}
		return nil
	})
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// AppendAudit implements Store.
func (s *SQLite) AppendAudit(ctx context.Context, client, site string, first uint64, records [][]byte) error {
	if err := need("append audit", client, site); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_records WHERE client = ? AND site = ?`, client, site).Scan(&n); err != nil {
			return fmt.Errorf("append audit %s/%s: %w", client, site, err)
		}
		if first > uint64(n) {
			return fmt.Errorf("append audit %s/%s at %d: %w: only %d records held, resend from %d", client, site, first, ErrConflict, n, n)
		}
		for i, rec := range records {
			idx := first + uint64(i)
			if idx < uint64(n) {
				var held []byte
				if err := tx.QueryRowContext(ctx, `SELECT record FROM audit_records WHERE client = ? AND site = ? AND idx = ?`,
					client, site, int64(idx)).Scan(&held); err != nil {
					return fmt.Errorf("append audit %s/%s at %d: %w", client, site, idx, err)
				}
				if !bytes.Equal(held, rec) {
					return fmt.Errorf("append audit %s/%s at %d: %w: a different record is held at this index", client, site, idx, ErrConflict)
				}
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO audit_records (client, site, idx, record) VALUES (?, ?, ?, ?)`,
				client, site, int64(idx), nonNil(rec)); err != nil {
				return fmt.Errorf("append audit %s/%s at %d: %w", client, site, idx, err)
			}
		}
		return nil
	})
}

// AuditRecords implements Store.
func (s *SQLite) AuditRecords(ctx context.Context, client, site string, from uint64, limit int) ([][]byte, error) {
	if err := need("audit records", client, site); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT record FROM audit_records WHERE client = ? AND site = ? AND idx >= ? ORDER BY idx LIMIT ?`,
		client, site, int64(from), checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("audit records of %s/%s: %w", client, site, err)
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var rec []byte
		if err := rows.Scan(&rec); err != nil {
			return nil, fmt.Errorf("audit records of %s/%s: %w", client, site, err)
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// AuditSize implements Store.
func (s *SQLite) AuditSize(ctx context.Context, client, site string) (uint64, error) {
	if err := need("audit size", client, site); err != nil {
		return 0, err
	}
	var n int64
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_records WHERE client = ? AND site = ?`, client, site).Scan(&n); err != nil {
		return 0, fmt.Errorf("audit size of %s/%s: %w", client, site, err)
	}
	return uint64(n), nil
}
