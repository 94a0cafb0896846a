package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

var _ Review = (*SQLite)(nil)

// ItemsReceived implements Review.
func (s *SQLite) ItemsReceived(ctx context.Context, kinds []Kind, from, to time.Time, after ItemCursor, limit int) ([]Item, error) {
	if len(kinds) == 0 {
		return nil, fmt.Errorf("items received: %w: no kinds", ErrInvalid)
	}
	args := []any{nanos(from), nanos(to)}
	marks := make([]string, len(kinds))
	for i, k := range kinds {
		if !k.Valid() {
			return nil, fmt.Errorf("items received: %w: kind %q", ErrInvalid, k)
		}
		marks[i] = "?"
		args = append(args, string(k))
	}
	q := `SELECT kind, client, site, id, payload, received_at FROM items
		WHERE received_at >= ? AND received_at < ? AND kind IN (` + strings.Join(marks, ", ") + `)`
	if after != (ItemCursor{}) {
		at := nanos(after.ReceivedAt)
		q += ` AND (received_at > ? OR (received_at = ? AND (kind > ? OR (kind = ? AND (client > ? OR (client = ? AND id > ?))))))`
		args = append(args, at, at, string(after.Kind), string(after.Kind), after.Client, after.Client, after.ID)
	}
	q += ` ORDER BY received_at, kind, client, id LIMIT ?`
	args = append(args, checkLimit(limit))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("items received: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		var kind string
		var at int64
		if err := rows.Scan(&kind, &it.Client, &it.Site, &it.ID, &it.Payload, &at); err != nil {
			return nil, fmt.Errorf("items received: %w", err)
		}
		it.Kind, it.ReceivedAt = Kind(kind), fromNanos(at)
		out = append(out, it)
	}
	return out, rows.Err()
}

// AddSampleBatch implements Review.
func (s *SQLite) AddSampleBatch(ctx context.Context, b SampleBatch, samples []Sample) error {
	if b.Day.IsZero() {
		return fmt.Errorf("add sample batch: %w: no day", ErrInvalid)
	}
	day := nanos(b.Day)
	for _, sm := range samples {
		if err := need("add sample", sm.ID, string(sm.Kind), sm.Client, sm.Site, sm.ItemID); err != nil {
			return err
		}
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sample_batches (day, drawn_at, candidates, samples) VALUES (?, ?, ?, ?)`,
			day, nanos(b.DrawnAt), b.Candidates, len(samples))
		if isConstraint(err) {
			return fmt.Errorf("add sample batch %s: %w: that day is drawn already", b.Day.UTC().Format(time.DateOnly), ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("add sample batch: %w", err)
		}
		for _, sm := range samples {
			_, err := tx.ExecContext(ctx, `INSERT INTO samples (id, day, kind, client, site, item_id, goal_id, agent, workflow, received_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				sm.ID, day, string(sm.Kind), sm.Client, sm.Site, sm.ItemID, sm.GoalID, sm.Agent, sm.Workflow, nanos(sm.ReceivedAt))
			if isConstraint(err) {
				return fmt.Errorf("add sample %s: %w: id or item sampled twice", sm.ID, ErrConflict)
			}
			if err != nil {
				return fmt.Errorf("add sample %s: %w", sm.ID, err)
			}
		}
		return nil
	})
}

// SampleBatchOf implements Review.
func (s *SQLite) SampleBatchOf(ctx context.Context, day time.Time) (SampleBatch, error) {
	var d, drawn int64
	var b SampleBatch
	err := s.db.QueryRowContext(ctx, `SELECT day, drawn_at, candidates, samples FROM sample_batches WHERE day = ?`, nanos(day)).
		Scan(&d, &drawn, &b.Candidates, &b.Samples)
	if errors.Is(err, sql.ErrNoRows) {
		return SampleBatch{}, fmt.Errorf("sample batch %s: %w", day.UTC().Format(time.DateOnly), ErrNotFound)
	}
	if err != nil {
		return SampleBatch{}, fmt.Errorf("sample batch: %w", err)
	}
	b.Day, b.DrawnAt = fromNanos(d), fromNanos(drawn)
	return b, nil
}

const sampleCols = `id, day, kind, client, site, item_id, goal_id, agent, workflow, received_at, grade, graded_by, graded_at, note`

func scanSample(r scanner) (Sample, error) {
	var sm Sample
	var day, recv, graded int64
	var kind, grade string
	if err := r.Scan(&sm.ID, &day, &kind, &sm.Client, &sm.Site, &sm.ItemID, &sm.GoalID, &sm.Agent, &sm.Workflow, &recv,
		&grade, &sm.GradedBy, &graded, &sm.Note); err != nil {
		return Sample{}, err
	}
	sm.Day, sm.Kind, sm.ReceivedAt, sm.Grade, sm.GradedAt = fromNanos(day), Kind(kind), fromNanos(recv), Grade(grade), fromNanos(graded)
	return sm, nil
}

// Sample implements Review.
func (s *SQLite) Sample(ctx context.Context, id string) (Sample, error) {
	if err := need("get sample", id); err != nil {
		return Sample{}, err
	}
	sm, err := scanSample(s.db.QueryRowContext(ctx, `SELECT `+sampleCols+` FROM samples WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Sample{}, fmt.Errorf("sample %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return Sample{}, fmt.Errorf("get sample %s: %w", id, err)
	}
	return sm, nil
}

// Samples implements Review.
func (s *SQLite) Samples(ctx context.Context, f SampleFilter, offset, limit int) ([]Sample, error) {
	var where []string
	var args []any
	if f.Client != "" {
		where, args = append(where, "client = ?"), append(args, f.Client)
	}
	if f.Workflow != "" {
		where, args = append(where, "workflow = ?"), append(args, f.Workflow)
	}
	if !f.Day.IsZero() {
		where, args = append(where, "day = ?"), append(args, nanos(f.Day))
	}
	switch f.Graded {
	case "":
	case "yes":
		where = append(where, "grade <> ''")
	case "no":
		where = append(where, "grade = ''")
	default:
		return nil, fmt.Errorf("list samples: %w: graded %q, want yes, no or empty", ErrInvalid, f.Graded)
	}
	q := `SELECT ` + sampleCols + ` FROM samples`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	q += ` ORDER BY day, client, workflow, id LIMIT ? OFFSET ?`
	rows, err := s.db.QueryContext(ctx, q, append(args, checkLimit(limit), max(offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("list samples: %w", err)
	}
	defer rows.Close()
	var out []Sample
	for rows.Next() {
		sm, err := scanSample(rows)
		if err != nil {
			return nil, fmt.Errorf("list samples: %w", err)
		}
		out = append(out, sm)
	}
	return out, rows.Err()
}

// GradeSample implements Review.
func (s *SQLite) GradeSample(ctx context.Context, id string, g Grade, by, note string, now time.Time) error {
	if err := need("grade sample", id, by); err != nil {
		return err
	}
	if !g.Valid() {
		return fmt.Errorf("grade sample %s: %w: grade %q, want correct, incorrect or unsafe", id, ErrInvalid, g)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var prev string
		err := tx.QueryRowContext(ctx, `SELECT graded_by FROM samples WHERE id = ?`, id).Scan(&prev)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sample %s: %w", id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("grade sample %s: %w", id, err)
		}
		if prev != "" && prev != by {
			return fmt.Errorf("grade sample %s: %w: graded by %s", id, ErrConflict, prev)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE samples SET grade = ?, graded_by = ?, graded_at = ?, note = ? WHERE id = ?`,
			string(g), by, nanos(now), note, id); err != nil {
			return fmt.Errorf("grade sample %s: %w", id, err)
		}
		return nil
	})
}

// Accuracy implements Review.
func (s *SQLite) Accuracy(ctx context.Context, client string, from, to time.Time) ([]Accuracy, error) {
	q := `SELECT client, workflow,
		SUM(CASE WHEN grade = 'correct' THEN 1 ELSE 0 END),
		SUM(CASE WHEN grade = 'incorrect' THEN 1 ELSE 0 END),
		SUM(CASE WHEN grade = 'unsafe' THEN 1 ELSE 0 END),
		SUM(CASE WHEN grade = '' THEN 1 ELSE 0 END)
		FROM samples WHERE 1 = 1`
	var args []any
	if client != "" {
		q, args = q+` AND client = ?`, append(args, client)
	}
	if !from.IsZero() {
		q, args = q+` AND day >= ?`, append(args, nanos(from))
	}
	if !to.IsZero() {
		q, args = q+` AND day < ?`, append(args, nanos(to))
	}
	rows, err := s.db.QueryContext(ctx, q+` GROUP BY client, workflow ORDER BY client, workflow`, args...)
	if err != nil {
		return nil, fmt.Errorf("accuracy: %w", err)
	}
	defer rows.Close()
	var out []Accuracy
	for rows.Next() {
		var a Accuracy
		if err := rows.Scan(&a.Client, &a.Workflow, &a.Correct, &a.Incorrect, &a.Unsafe, &a.Pending); err != nil {
			return nil, fmt.Errorf("accuracy: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

const proposalCols = `id, client, base_version, files, proposer, proposed_at, note, diff, widens, narrows,
	tests_run, tests_failed, test_report, status, decided_by, decided_at, decision_note, version`

func scanProposal(r scanner) (ScopeProposal, error) {
	var p ScopeProposal
	var base, proposed, decided, version int64
	var files, diff, status string
	if err := r.Scan(&p.ID, &p.Client, &base, &files, &p.Proposer, &proposed, &p.Note, &diff, &p.Widens, &p.Narrows,
		&p.TestsRun, &p.TestsFailed, &p.TestReport, &status, &p.DecidedBy, &decided, &p.DecisionNote, &version); err != nil {
		return ScopeProposal{}, err
	}
	if err := json.Unmarshal([]byte(files), &p.Files); err != nil {
		return ScopeProposal{}, fmt.Errorf("proposal %s files: %w", p.ID, err)
	}
	if diff != "" {
		p.Diff = []byte(diff)
	}
	p.BaseVersion, p.ProposedAt, p.Status, p.DecidedAt, p.Version = uint64(base), fromNanos(proposed), ProposalStatus(status), fromNanos(decided), uint64(version)
	return p, nil
}

// CreateProposal implements Review.
func (s *SQLite) CreateProposal(ctx context.Context, p ScopeProposal) error {
	if err := need("create proposal", p.ID, p.Client, p.Proposer); err != nil {
		return err
	}
	if len(p.Files) == 0 {
		return fmt.Errorf("create proposal %s: %w: no files", p.ID, ErrInvalid)
	}
	files, err := json.Marshal(p.Files)
	if err != nil {
		return fmt.Errorf("create proposal %s: %w", p.ID, err)
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO scope_proposals (`+proposalCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 0, '', 0)`,
		p.ID, p.Client, int64(p.BaseVersion), string(files), p.Proposer, nanos(p.ProposedAt), p.Note, string(p.Diff), p.Widens, p.Narrows,
		p.TestsRun, p.TestsFailed, p.TestReport, string(ProposalPending))
	if isConstraint(err) {
		return fmt.Errorf("create proposal %s: %w", p.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create proposal %s: %w", p.ID, err)
	}
	return nil
}

// Proposal implements Review.
func (s *SQLite) Proposal(ctx context.Context, id string) (ScopeProposal, error) {
	if err := need("get proposal", id); err != nil {
		return ScopeProposal{}, err
	}
	return s.proposal(ctx, s.db, id)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *SQLite) proposal(ctx context.Context, q queryRower, id string) (ScopeProposal, error) {
	p, err := scanProposal(q.QueryRowContext(ctx, `SELECT `+proposalCols+` FROM scope_proposals WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return ScopeProposal{}, fmt.Errorf("proposal %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return ScopeProposal{}, fmt.Errorf("get proposal %s: %w", id, err)
	}
	return p, nil
}

// Proposals implements Review.
func (s *SQLite) Proposals(ctx context.Context, client string, status ProposalStatus, offset, limit int) ([]ScopeProposal, error) {
	q := `SELECT ` + proposalCols + ` FROM scope_proposals WHERE 1 = 1`
	var args []any
	if client != "" {
		q, args = q+` AND client = ?`, append(args, client)
	}
	if status != "" {
		q, args = q+` AND status = ?`, append(args, string(status))
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY proposed_at DESC, id DESC LIMIT ? OFFSET ?`, append(args, checkLimit(limit), max(offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("list proposals: %w", err)
	}
	defer rows.Close()
	var out []ScopeProposal
	for rows.Next() {
		p, err := scanProposal(rows)
		if err != nil {
			return nil, fmt.Errorf("list proposals: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ApproveProposal implements Review; the approved version publishes a
// scope Change.
func (s *SQLite) ApproveProposal(ctx context.Context, id, approver, note string, v ScopeVersion, now time.Time) error {
	if err := need("approve proposal", id, approver); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		p, err := s.proposal(ctx, tx, id)
		if err != nil {
			return err
		}
		switch {
		case p.Status != ProposalPending:
			return fmt.Errorf("approve proposal %s: %w: it is %s", id, ErrConflict, p.Status)
		case p.Proposer == approver:
			return fmt.Errorf("approve proposal %s: %w: the proposer may not approve their own change", id, ErrInvalid)
		case v.Client != p.Client:
			return fmt.Errorf("approve proposal %s: %w: version is for client %q, proposal for %q", id, ErrInvalid, v.Client, p.Client)
		}
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM scopes WHERE client = ?`, p.Client).Scan(&latest); err != nil {
			return fmt.Errorf("approve proposal %s: %w", id, err)
		}
		if uint64(latest.Int64) != p.BaseVersion || v.Version != p.BaseVersion+1 {
			return fmt.Errorf("approve proposal %s: %w: it was made against version %d, the client is at version %d; propose the change again",
				id, ErrConflict, p.BaseVersion, latest.Int64)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO scopes (client, version, bundle, created_at) VALUES (?, ?, ?, ?)`,
			v.Client, int64(v.Version), v.Bundle, nanos(v.CreatedAt)); err != nil {
			return fmt.Errorf("approve proposal %s: %w", id, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scope_proposals SET status = ?, decided_by = ?, decided_at = ?, decision_note = ?, version = ? WHERE id = ?`,
			string(ProposalApproved), approver, nanos(now), note, int64(v.Version), id); err != nil {
			return fmt.Errorf("approve proposal %s: %w", id, err)
		}
		return s.eng.publish(ctx, tx, Change{Client: v.Client, Topic: TopicScope, Version: v.Version})
	})
}

// RejectProposal implements Review.
func (s *SQLite) RejectProposal(ctx context.Context, id, by, note string, now time.Time) error {
	if err := need("reject proposal", id, by); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		p, err := s.proposal(ctx, tx, id)
		if err != nil {
			return err
		}
		if p.Status != ProposalPending {
			return fmt.Errorf("reject proposal %s: %w: it is %s", id, ErrConflict, p.Status)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scope_proposals SET status = ?, decided_by = ?, decided_at = ?, decision_note = ? WHERE id = ?`,
			string(ProposalRejected), by, nanos(now), note, id); err != nil {
			return fmt.Errorf("reject proposal %s: %w", id, err)
		}
		return nil
	})
}

// ScopeVersions implements Review.
func (s *SQLite) ScopeVersions(ctx context.Context, client string, offset, limit int) ([]ScopeVersion, error) {
	if err := need("list scope versions", client); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT version, bundle, created_at FROM scopes WHERE client = ? ORDER BY version DESC LIMIT ? OFFSET ?`,
		client, checkLimit(limit), max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("list scope versions of %s: %w", client, err)
	}
	defer rows.Close()
	var out []ScopeVersion
	for rows.Next() {
		v := ScopeVersion{Client: client}
		var ver, created int64
		if err := rows.Scan(&ver, &v.Bundle, &created); err != nil {
			return nil, fmt.Errorf("list scope versions of %s: %w", client, err)
		}
		v.Version, v.CreatedAt = uint64(ver), fromNanos(created)
		out = append(out, v)
	}
	return out, rows.Err()
}

// ScopeVersionOf implements Review.
func (s *SQLite) ScopeVersionOf(ctx context.Context, client string, version uint64) (ScopeVersion, error) {
	if err := need("get scope version", client); err != nil {
		return ScopeVersion{}, err
	}
	v := ScopeVersion{Client: client, Version: version}
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT bundle, created_at FROM scopes WHERE client = ? AND version = ?`, client, int64(version)).
		Scan(&v.Bundle, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ScopeVersion{}, fmt.Errorf("scope of %s v%d: %w", client, version, ErrNotFound)
	}
	if err != nil {
		return ScopeVersion{}, fmt.Errorf("get scope of %s v%d: %w", client, version, err)
	}
	v.CreatedAt = fromNanos(created)
	return v, nil
}

// QueueSizes implements Review.
func (s *SQLite) QueueSizes(ctx context.Context) (QueueSizes, error) {
	var q QueueSizes
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM items i LEFT JOIN escalation_states e ON e.client = i.client AND e.id = i.id
			WHERE i.kind = 'escalation' AND COALESCE(e.resolved_at, 0) = 0),
		(SELECT COUNT(*) FROM items i LEFT JOIN decisions d ON d.client = i.client AND d.approval_id = i.id
			WHERE i.kind = 'approval_request' AND d.approval_id IS NULL),
		(SELECT COUNT(*) FROM samples WHERE grade = ''),
		(SELECT COUNT(*) FROM scope_proposals WHERE status = 'pending')`).
		Scan(&q.OpenEscalations, &q.PendingApprovals, &q.UngradedSamples, &q.PendingProposals)
	if err != nil {
		return QueueSizes{}, fmt.Errorf("queue sizes: %w", err)
	}
	return q, nil
}
