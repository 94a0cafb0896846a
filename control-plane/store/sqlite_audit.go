package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
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
	return s.lockedTx(ctx, advisoryKey("checkpoints", c.Client, c.Site), func(tx *sql.Tx) error {
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

// auditBatch bounds the rows of one INSERT (4 arguments a row: well under
// SQLite's and PostgreSQL's argument limits).
const auditBatch = 200

// AppendAudit implements Store. The records held in the overlap are read
// with one query; new ones go in with one INSERT per auditBatch rows.
func (s *SQLite) AppendAudit(ctx context.Context, client, site string, first uint64, records [][]byte) error {
	if err := need("append audit", client, site); err != nil {
		return err
	}
	return s.lockedTx(ctx, advisoryKey("audit", client, site), func(tx *sql.Tx) error {
		n, err := auditSize(ctx, tx, client, site)
		if err != nil {
			return fmt.Errorf("append audit %s/%s: %w", client, site, err)
		}
		if first > n {
			return fmt.Errorf("append audit %s/%s at %d: %w: only %d records held, resend from %d", client, site, first, ErrConflict, n, n)
		}
		overlap := min(uint64(len(records)), n-first)
		if overlap > 0 {
			held, err := auditRange(ctx, tx, client, site, first, int(overlap))
			if err != nil {
				return fmt.Errorf("append audit %s/%s at %d: %w", client, site, first, err)
			}
			for i := range held {
				if !bytes.Equal(held[i], records[i]) {
					return fmt.Errorf("append audit %s/%s at %d: %w: a different record is held at this index", client, site, first+uint64(i), ErrConflict)
				}
			}
		}
		for lo := overlap; lo < uint64(len(records)); lo += auditBatch {
			hi := min(lo+auditBatch, uint64(len(records)))
			q := `INSERT INTO audit_records (client, site, idx, record) VALUES (?, ?, ?, ?)` + strings.Repeat(`, (?, ?, ?, ?)`, int(hi-lo-1))
			args := make([]any, 0, 4*(hi-lo))
			for i := lo; i < hi; i++ {
				args = append(args, client, site, int64(first+i), nonNil(records[i]))
			}
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("append audit %s/%s at %d: %w", client, site, first+lo, err)
			}
		}
		return nil
	})
}

type rowsQuerier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func auditRange(ctx context.Context, q rowsQuerier, client, site string, from uint64, limit int) ([][]byte, error) {
	rows, err := q.QueryContext(ctx, `SELECT record FROM audit_records WHERE client = ? AND site = ? AND idx >= ? ORDER BY idx LIMIT ?`,
		client, site, int64(from), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var rec []byte
		if err := rows.Scan(&rec); err != nil {
			return nil, err
		}
		out = append(out, rec)
	}
	return out, rows.Err()
}

// auditSize is one more than the largest index held (records are held
// from index 0 with no gap, AppendAudit sees to it).
func auditSize(ctx context.Context, q querier, client, site string) (uint64, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_records WHERE client = ? AND site = ?`, client, site).Scan(&n)
	return uint64(n), err
}

// AuditRecords implements Store.
func (s *SQLite) AuditRecords(ctx context.Context, client, site string, from uint64, limit int) ([][]byte, error) {
	if err := need("audit records", client, site); err != nil {
		return nil, err
	}
	out, err := auditRange(ctx, s.db, client, site, from, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("audit records of %s/%s: %w", client, site, err)
	}
	return out, nil
}

// AuditSize implements Store.
func (s *SQLite) AuditSize(ctx context.Context, client, site string) (uint64, error) {
	if err := need("audit size", client, site); err != nil {
		return 0, err
	}
	n, err := auditSize(ctx, s.db, client, site)
	if err != nil {
		return 0, fmt.Errorf("audit size of %s/%s: %w", client, site, err)
	}
	return n, nil
}
