package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Notify outbox states (NotifyRow.State).
const (
	NotifyPending   = "pending"
	NotifyDelivered = "delivered"
	NotifyFailed    = "failed"
)

// Notify sources (the marks of NotifyMark).
const (
	NotifySourceItems  = "items"
	NotifySourceAlerts = "alerts"
)

// SeqItem is an upstream item with its position in the items' insertion
// order (SQLite rowid, PostgreSQL seq).
type SeqItem struct {
	Seq int64
	Item
}

// SeqAlert is an audit alert with its position in the alerts' insertion
// order.
type SeqAlert struct {
	Seq int64
	AuditAlert
}

// NotifyRow is one delivery of one event to one target in the outbox.
type NotifyRow struct {
	Target, EventID, Client string
	// Body is the event as the notifier encoded it.
	Body                []byte
	State               string
	CreatedAt, GiveUpAt time.Time
	NextAt, DoneAt      time.Time
	// Attempts counts the claims so far (ClaimNotify adds one).
	Attempts  int
	LastError string
	// Owner is the lease token of the claim that returned the row.
	Owner string
}

// NotifyDue is an event that becomes due later (an approval about to
// expire).
type NotifyDue struct {
	EventID, Client, ApprovalID string
	DueAt, ExpiresAt            time.Time
	Body                        []byte
}

// NotifyResult is what a delivery attempt came to: State NotifyDelivered,
// NotifyFailed (given up) or NotifyPending (retry at NextAt).
type NotifyResult struct {
	State  string
	NextAt time.Time
	Err    string
	At     time.Time
}

// Outbox keeps the outbound notifications (control-plane/notify): the
// marks of the sources the notifier reads, the per-target outbox of
// deliveries, and events due later. The same rules as Store apply (safe
// for concurrent use, also by several replicas on one PostgreSQL
// database; ErrInvalid for an empty key). The code is portable SQL run on
// both engines (postgres_shared.go).
type Outbox interface {
	// NotifyItems returns at most limit escalations and approval requests
	// stored after position after, in insertion order.
	NotifyItems(ctx context.Context, after int64, limit int) ([]SeqItem, error)
	// NotifyAlerts returns at most limit audit alerts recorded after
	// position after, in insertion order.
	NotifyAlerts(ctx context.Context, after int64, limit int) ([]SeqAlert, error)
	// NotifyMark returns how far the notifier read source (0: nothing).
	NotifyMark(ctx context.Context, source string) (int64, error)
	// AdvanceNotifyMark raises source's mark to mark; a lower mark
	// changes nothing.
	AdvanceNotifyMark(ctx context.Context, source string, mark int64) error
	// EnqueueNotify adds deliveries; a row whose (Target, EventID) exists
	// (whatever its state) is not added again. A target already holding
	// maxPending pending rows gets the row as failed ("outbox full").
	// It returns how many rows were added pending, and how many were
	// added failed by target.
	EnqueueNotify(ctx context.Context, rows []NotifyRow, now time.Time, maxPending int) (added int, dropped map[string]int, err error)
	// ScheduleNotify stores an event due later; an existing EventID is kept.
	ScheduleNotify(ctx context.Context, d NotifyDue) error
	// DueNotify lists at most limit scheduled events due at or before now,
	// earliest first.
	DueNotify(ctx context.Context, now time.Time, limit int) ([]NotifyDue, error)
	// TakeDue removes a scheduled event; false when it was gone already.
	TakeDue(ctx context.Context, eventID string) (bool, error)
	// ApprovalDecided reports whether a decision exists for the approval.
	ApprovalDecided(ctx context.Context, client, approvalID string) (bool, error)
	// ClaimNotify leases the target's oldest pending row until leaseUntil
	// under the lease token owner, when it is due (NextAt <= now) and not
	// leased; ok is false when there is none. A target's rows are claimed
	// one at a time, in the order they were added.
	ClaimNotify(ctx context.Context, target, owner string, now, leaseUntil time.Time) (r NotifyRow, ok bool, err error)
	// FinishNotify records the result of the delivery of a claimed row;
	// ErrConflict when the claim's lease was lost (another process may
	// deliver the row again).
	FinishNotify(ctx context.Context, r NotifyRow, res NotifyResult) error
	// NotifyPendingCounts counts pending rows by target.
	NotifyPendingCounts(ctx context.Context) (map[string]int, error)
	// NotifyRowsOf lists at most limit rows of a target in delivery order.
	NotifyRowsOf(ctx context.Context, target string, limit int) ([]NotifyRow, error)
	// PruneNotify deletes delivered and failed rows done before before and
	// returns how many it deleted.
	PruneNotify(ctx context.Context, before time.Time) (int, error)
}

var (
	_ Outbox = (*SQLite)(nil)
	_ Outbox = (*Postgres)(nil)
)

// NotifyItems implements Outbox.
func (s *SQLite) NotifyItems(ctx context.Context, after int64, limit int) ([]SeqItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rowid, kind, client, site, id, payload, received_at FROM items
		WHERE rowid > ? AND kind IN (?, ?) ORDER BY rowid LIMIT ?`, after, KindEscalation, KindApprovalRequest, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("notify items: %w", err)
	}
	defer rows.Close()
	var out []SeqItem
	for rows.Next() {
		var it SeqItem
		var kind string
		var at int64
		if err := rows.Scan(&it.Seq, &kind, &it.Client, &it.Site, &it.ID, &it.Payload, &at); err != nil {
			return nil, fmt.Errorf("notify items: %w", err)
		}
		it.Kind, it.ReceivedAt = Kind(kind), fromNanos(at)
		out = append(out, it)
	}
	return out, rows.Err()
}

// NotifyAlerts implements Outbox.
func (s *SQLite) NotifyAlerts(ctx context.Context, after int64, limit int) ([]SeqAlert, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT rowid, client, site, at, reason FROM audit_alerts WHERE rowid > ? ORDER BY rowid LIMIT ?`,
		after, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("notify alerts: %w", err)
	}
	defer rows.Close()
	var out []SeqAlert
	for rows.Next() {
		var a SeqAlert
		var at int64
		if err := rows.Scan(&a.Seq, &a.Client, &a.Site, &at, &a.Reason); err != nil {
			return nil, fmt.Errorf("notify alerts: %w", err)
		}
		a.At = fromNanos(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// NotifyMark implements Outbox.
func (s *SQLite) NotifyMark(ctx context.Context, source string) (int64, error) {
	if err := need("notify mark", source); err != nil {
		return 0, err
	}
	var m int64
	err := s.db.QueryRowContext(ctx, `SELECT mark FROM notify_marks WHERE source = ?`, source).Scan(&m)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("notify mark %s: %w", source, err)
	}
	return m, nil
}

// AdvanceNotifyMark implements Outbox.
func (s *SQLite) AdvanceNotifyMark(ctx context.Context, source string, mark int64) error {
	if err := need("advance notify mark", source); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO notify_marks (source, mark) VALUES (?, ?)
		ON CONFLICT (source) DO UPDATE SET mark = excluded.mark WHERE notify_marks.mark < excluded.mark`, source, mark); err != nil {
		return fmt.Errorf("advance notify mark %s: %w", source, err)
	}
	return nil
}

// EnqueueNotify implements Outbox. Each row is its own statement: replicas
// enqueueing the same events concurrently never conflict, one insert wins.
func (s *SQLite) EnqueueNotify(ctx context.Context, rows []NotifyRow, now time.Time, maxPending int) (int, map[string]int, error) {
	pending := map[string]int{}
	added, dropped := 0, map[string]int{}
	for _, r := range rows {
		if err := need("enqueue notify", r.Target, r.EventID, r.Client); err != nil {
			return added, dropped, err
		}
		n, ok := pending[r.Target]
		if !ok {
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notify_outbox WHERE target = ? AND state = ?`, r.Target, NotifyPending).Scan(&n); err != nil {
				return added, dropped, fmt.Errorf("enqueue notify: %w", err)
			}
		}
		state, lastErr, done := NotifyPending, "", int64(0)
		if maxPending > 0 && n >= maxPending {
			state, lastErr, done = NotifyFailed, "outbox full: the target's pending deliveries reached max_pending", nanos(now)
		}
		res, err := s.db.ExecContext(ctx, `INSERT INTO notify_outbox (target, event_id, client, body, state, created_at, next_at, give_up_at, last_error, done_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (target, event_id) DO NOTHING`,
			r.Target, r.EventID, r.Client, nonNil(r.Body), state, nanos(now), nanos(now), nanos(r.GiveUpAt), lastErr, done)
		if err != nil {
			return added, dropped, fmt.Errorf("enqueue notify %s for %s: %w", r.EventID, r.Target, err)
		}
		if k, _ := res.RowsAffected(); k == 0 {
			pending[r.Target] = n
			continue
		}
		if state == NotifyPending {
			added++
			n++
		} else {
			dropped[r.Target]++
		}
		pending[r.Target] = n
	}
	return added, dropped, nil
}

// ScheduleNotify implements Outbox.
func (s *SQLite) ScheduleNotify(ctx context.Context, d NotifyDue) error {
	if err := need("schedule notify", d.EventID, d.Client, d.ApprovalID); err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO notify_due (event_id, client, approval_id, due_at, expires_at, body)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING`,
		d.EventID, d.Client, d.ApprovalID, nanos(d.DueAt), nanos(d.ExpiresAt), nonNil(d.Body)); err != nil {
		return fmt.Errorf("schedule notify %s: %w", d.EventID, err)
	}
	return nil
}

// DueNotify implements Outbox.
func (s *SQLite) DueNotify(ctx context.Context, now time.Time, limit int) ([]NotifyDue, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event_id, client, approval_id, due_at, expires_at, body FROM notify_due
		WHERE due_at <= ? ORDER BY due_at, event_id LIMIT ?`, nanos(now), checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("due notify: %w", err)
	}
	defer rows.Close()
	var out []NotifyDue
	for rows.Next() {
		var d NotifyDue
		var due, exp int64
		if err := rows.Scan(&d.EventID, &d.Client, &d.ApprovalID, &due, &exp, &d.Body); err != nil {
			return nil, fmt.Errorf("due notify: %w", err)
		}
		d.DueAt, d.ExpiresAt = fromNanos(due), fromNanos(exp)
		out = append(out, d)
	}
	return out, rows.Err()
}

// TakeDue implements Outbox.
func (s *SQLite) TakeDue(ctx context.Context, eventID string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_due WHERE event_id = ?`, eventID)
	if err != nil {
		return false, fmt.Errorf("take due %s: %w", eventID, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// ApprovalDecided implements Outbox.
func (s *SQLite) ApprovalDecided(ctx context.Context, client, approvalID string) (bool, error) {
	if err := need("approval decided", client, approvalID); err != nil {
		return false, err
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM decisions WHERE client = ? AND approval_id = ?`, client, approvalID).Scan(&n); err != nil {
		return false, fmt.Errorf("approval decided %s/%s: %w", client, approvalID, err)
	}
	return n > 0, nil
}

// ClaimNotify implements Outbox. One statement: on PostgreSQL (READ
// COMMITTED outside a transaction) a concurrent claim of the same row
// waits, then re-checks the row's state and lease and finds it taken.
func (s *SQLite) ClaimNotify(ctx context.Context, target, owner string, now, leaseUntil time.Time) (NotifyRow, bool, error) {
	if err := need("claim notify", target, owner); err != nil {
		return NotifyRow{}, false, err
	}
	r := NotifyRow{Target: target, Owner: owner, State: NotifyPending}
	var created, giveUp, next int64
	err := s.db.QueryRowContext(ctx, `UPDATE notify_outbox SET lease_owner = ?, lease_until = ?, attempts = attempts + 1
		WHERE rowid = (SELECT rowid FROM notify_outbox WHERE target = ? AND state = ? ORDER BY rowid LIMIT 1)
		AND state = ? AND next_at <= ? AND lease_until <= ?
		RETURNING event_id, client, body, created_at, give_up_at, next_at, attempts, last_error`,
		owner, nanos(leaseUntil), target, NotifyPending, NotifyPending, nanos(now), nanos(now)).
		Scan(&r.EventID, &r.Client, &r.Body, &created, &giveUp, &next, &r.Attempts, &r.LastError)
	if errors.Is(err, sql.ErrNoRows) {
		return NotifyRow{}, false, nil
	}
	if err != nil {
		return NotifyRow{}, false, fmt.Errorf("claim notify for %s: %w", target, err)
	}
	r.CreatedAt, r.GiveUpAt, r.NextAt = fromNanos(created), fromNanos(giveUp), fromNanos(next)
	return r, true, nil
}

// FinishNotify implements Outbox.
func (s *SQLite) FinishNotify(ctx context.Context, r NotifyRow, res NotifyResult) error {
	if err := need("finish notify", r.Target, r.EventID, r.Owner); err != nil {
		return err
	}
	if len(res.Err) > 500 {
		res.Err = res.Err[:500]
	}
	var q string
	var args []any
	switch res.State {
	case NotifyDelivered, NotifyFailed:
		q = `UPDATE notify_outbox SET state = ?, done_at = ?, last_error = ?, lease_owner = '', lease_until = 0
			WHERE target = ? AND event_id = ? AND lease_owner = ? AND state = ?`
		args = []any{res.State, nanos(res.At), res.Err, r.Target, r.EventID, r.Owner, NotifyPending}
	case NotifyPending:
		q = `UPDATE notify_outbox SET next_at = ?, last_error = ?, lease_owner = '', lease_until = 0
			WHERE target = ? AND event_id = ? AND lease_owner = ? AND state = ?`
		args = []any{nanos(res.NextAt), res.Err, r.Target, r.EventID, r.Owner, NotifyPending}
	default:
		return fmt.Errorf("finish notify: %w: state %q", ErrInvalid, res.State)
	}
	out, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("finish notify %s for %s: %w", r.EventID, r.Target, err)
	}
	if n, _ := out.RowsAffected(); n == 0 {
		return fmt.Errorf("finish notify %s for %s: %w: the claim's lease was lost", r.EventID, r.Target, ErrConflict)
	}
	return nil
}

// NotifyPendingCounts implements Outbox.
func (s *SQLite) NotifyPendingCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT target, COUNT(*) FROM notify_outbox WHERE state = ? GROUP BY target`, NotifyPending)
	if err != nil {
		return nil, fmt.Errorf("notify pending counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var t string
		var n int
		if err := rows.Scan(&t, &n); err != nil {
			return nil, fmt.Errorf("notify pending counts: %w", err)
		}
		out[t] = n
	}
	return out, rows.Err()
}

// NotifyRowsOf implements Outbox.
func (s *SQLite) NotifyRowsOf(ctx context.Context, target string, limit int) ([]NotifyRow, error) {
	if err := need("notify rows", target); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT event_id, client, body, state, created_at, give_up_at, next_at, done_at, attempts, last_error
		FROM notify_outbox WHERE target = ? ORDER BY rowid LIMIT ?`, target, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("notify rows of %s: %w", target, err)
	}
	defer rows.Close()
	var out []NotifyRow
	for rows.Next() {
		r := NotifyRow{Target: target}
		var created, giveUp, next, done int64
		if err := rows.Scan(&r.EventID, &r.Client, &r.Body, &r.State, &created, &giveUp, &next, &done, &r.Attempts, &r.LastError); err != nil {
			return nil, fmt.Errorf("notify rows of %s: %w", target, err)
		}
		r.CreatedAt, r.GiveUpAt, r.NextAt, r.DoneAt = fromNanos(created), fromNanos(giveUp), fromNanos(next), fromNanos(done)
		out = append(out, r)
	}
	return out, rows.Err()
}

// PruneNotify implements Outbox.
func (s *SQLite) PruneNotify(ctx context.Context, before time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM notify_outbox WHERE state IN (?, ?) AND done_at < ?`, NotifyDelivered, NotifyFailed, nanos(before))
	if err != nil {
		return 0, fmt.Errorf("prune notify: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}
