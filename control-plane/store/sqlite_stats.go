package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

var _ Stats = (*SQLite)(nil)

const (
	dayNanos     = int64(24 * time.Hour)
	refreshBatch = 1000
	maxReason    = 300
)

// dayOf returns the UTC day number of a time in Unix nanoseconds.
func dayOf(n int64) int64 {
	if n <= 0 {
		return 0
	}
	return n / dayNanos
}

// outcomeStatus maps an outcome status to its statistics name.
func outcomeStatus(s pb.OutcomeStatus) string {
	switch s {
	case pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED:
		return StatusResolved
	case pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED:
		return StatusEscalated
	case pb.OutcomeStatus_OUTCOME_STATUS_DENIED:
		return StatusDenied
	case pb.OutcomeStatus_OUTCOME_STATUS_AWAITING_APPROVAL:
		return StatusAwaitingApproval
	case pb.OutcomeStatus_OUTCOME_STATUS_FAILED:
		return StatusFailed
	}
	return StatusAssigned
}

// goalFact is what one source tells about a goal; empty fields say nothing.
type goalFact struct {
	client, id, site, agent, workflow, status string
	day, finished                             int64
}

func tsNanos(t interface{ AsTime() time.Time }, ok bool) int64 {
	if !ok {
		return 0
	}
	return nanos(t.AsTime())
}

// RefreshStats implements Stats.
func (s *SQLite) RefreshStats(ctx context.Context, max int) (int, error) {
	total := 0
	for _, src := range []struct {
		name, newest string
		fn           func(context.Context, *sql.Tx, int64, int) (int64, int, error)
	}{
		{"goals", `SELECT COALESCE(MAX(cursor), 0) FROM goals`, s.indexGoals},
		{"items", `SELECT COALESCE(MAX(rowid), 0) FROM items`, s.indexItems},
		{"audit", `SELECT COALESCE(MAX(rowid), 0) FROM audit_records`, s.indexAudit},
	} {
		// Nothing new is the common case of a page view: check it without
		// taking the write lock.
		var mark, newest int64
		if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(mark), 0) FROM stats_marks WHERE source = ?`, src.name).Scan(&mark); err != nil {
			return total, fmt.Errorf("refresh stats from %s: %w", src.name, err)
		}
		if err := s.db.QueryRowContext(ctx, src.newest).Scan(&newest); err != nil {
			return total, fmt.Errorf("refresh stats from %s: %w", src.name, err)
		}
		if newest <= mark {
			continue
		}
		done := 0
		for max <= 0 || done < max {
			batch := refreshBatch
			if max > 0 {
				batch = min(batch, max-done)
			}
			var n int
			err := s.tx(ctx, func(tx *sql.Tx) error {
				var mark int64
				if err := tx.QueryRowContext(ctx, `SELECT mark FROM stats_marks WHERE source = ?`, src.name).Scan(&mark); err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				next, k, err := src.fn(ctx, tx, mark, batch)
				if err != nil || k == 0 {
					return err
				}
				n = k
				_, err = tx.ExecContext(ctx, `INSERT INTO stats_marks (source, mark) VALUES (?, ?)
					ON CONFLICT (source) DO UPDATE SET mark = excluded.mark`, src.name, next)
				return err
			})
			if err != nil {
				return total, fmt.Errorf("refresh stats from %s: %w", src.name, err)
			}
			done += n
			if n < batch {
				break
			}
		}
		total += done
	}
	return total, nil
}

func (s *SQLite) indexGoals(ctx context.Context, tx *sql.Tx, after int64, limit int) (int64, int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT cursor, client, site, id, payload FROM goals WHERE cursor > ? ORDER BY cursor LIMIT ?`, after, limit)
	if err != nil {
		return 0, 0, err
	}
	var facts []goalFact
	last := after
	for rows.Next() {
		var f goalFact
		var payload []byte
		if err := rows.Scan(&last, &f.client, &f.site, &f.id, &payload); err != nil {
			rows.Close()
			return 0, 0, err
		}
		var g pb.Goal
		_ = proto.Unmarshal(payload, &g) // a malformed payload counts with empty fields
		f.agent, f.workflow = g.GetAgent(), g.GetWorkflow()
		f.day = dayOf(tsNanos(g.GetCreatedAt(), g.GetCreatedAt() != nil))
		facts = append(facts, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	for _, f := range facts {
		if err := mergeGoalFact(ctx, tx, f); err != nil {
			return 0, 0, err
		}
	}
	return last, len(facts), nil
}

func (s *SQLite) indexItems(ctx context.Context, tx *sql.Tx, after int64, limit int) (int64, int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rowid, kind, client, site, id, payload, received_at FROM items WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, limit)
	if err != nil {
		return 0, 0, err
	}
	type item struct {
		Item
		row int64
	}
	var items []item
	for rows.Next() {
		var it item
		var at int64
		if err := rows.Scan(&it.row, &it.Kind, &it.Client, &it.Site, &it.ID, &it.Payload, &at); err != nil {
			rows.Close()
			return 0, 0, err
		}
		it.ReceivedAt = fromNanos(at)
		items = append(items, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	last := after
	for _, it := range items {
		last = it.row
		recv := nanos(it.ReceivedAt)
		switch it.Kind {
		case KindOutcome:
			var o pb.Outcome
			_ = proto.Unmarshal(it.Payload, &o)
			f := goalFact{client: it.Client, id: it.ID, site: it.Site, status: outcomeStatus(o.GetStatus()),
				finished: tsNanos(o.GetFinishedAt(), o.GetFinishedAt() != nil)}
			f.day = dayOf(tsNanos(o.GetStartedAt(), o.GetStartedAt() != nil))
			if f.day == 0 {
				f.day = dayOf(recv)
			}
			if err := mergeGoalFact(ctx, tx, f); err != nil {
				return 0, 0, err
			}
		case KindApprovalRequest:
			var a pb.ApprovalRequest
			_ = proto.Unmarshal(it.Payload, &a)
			req := tsNanos(a.GetRequestedAt(), a.GetRequestedAt() != nil)
			if req == 0 {
				req = recv
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO approval_facts (client, id, site, goal_id, workflow, action, requested_at, expires_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client, id) DO NOTHING`,
				it.Client, it.ID, it.Site, a.GetGoalId(), a.GetWorkflow(), a.GetAction().GetAction(), req,
				tsNanos(a.GetExpiresAt(), a.GetExpiresAt() != nil)); err != nil {
				return 0, 0, err
			}
		case KindEscalation:
			var e pb.Escalation
			_ = proto.Unmarshal(it.Payload, &e)
			g := e.GetGoal()
			reason := e.GetReason()
			if len(reason) > maxReason {
				reason = reason[:maxReason]
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO escalation_facts (client, id, site, goal_id, workflow, reason, received_at)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (client, id) DO NOTHING`,
				it.Client, it.ID, it.Site, g.GetGoalId(), g.GetWorkflow(), reason, recv); err != nil {
				return 0, 0, err
			}
			if g.GetGoalId() != "" {
				f := goalFact{client: it.Client, id: g.GetGoalId(), site: it.Site, agent: g.GetAgent(), workflow: g.GetWorkflow(),
					day: dayOf(tsNanos(g.GetCreatedAt(), g.GetCreatedAt() != nil))}
				if f.day == 0 {
					f.day = dayOf(recv)
				}
				if err := mergeGoalFact(ctx, tx, f); err != nil {
					return 0, 0, err
				}
			}
		}
	}
	return last, len(items), nil
}

// mergeGoalFact folds f into the goal's fact row and keeps goal_daily in
// step: known fields stay, empty ones are filled, a status replaces the
// previous one.
func mergeGoalFact(ctx context.Context, tx *sql.Tx, f goalFact) error {
	var old goalFact
	err := tx.QueryRowContext(ctx, `SELECT site, agent, workflow, day, status, finished_at FROM goal_facts WHERE client = ? AND goal_id = ?`,
		f.client, f.id).Scan(&old.site, &old.agent, &old.workflow, &old.day, &old.status, &old.finished)
	exists := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	nw := old
	nw.client, nw.id = f.client, f.id
	if !exists {
		nw = f
		if nw.status == "" {
			nw.status = StatusAssigned
		}
	} else {
		fill := func(dst *string, v string) {
			if *dst == "" {
				*dst = v
			}
		}
		fill(&nw.site, f.site)
		fill(&nw.agent, f.agent)
		fill(&nw.workflow, f.workflow)
		if nw.day == 0 {
			nw.day = f.day
		}
		if f.status != "" {
			nw.status = f.status
		}
		if f.finished != 0 {
			nw.finished = f.finished
		}
		if nw == old {
			return nil
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO goal_facts (client, goal_id, site, agent, workflow, day, status, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (client, goal_id) DO UPDATE SET site = excluded.site, agent = excluded.agent, workflow = excluded.workflow,
			day = excluded.day, status = excluded.status, finished_at = excluded.finished_at`,
		nw.client, nw.id, nw.site, nw.agent, nw.workflow, nw.day, nw.status, nw.finished); err != nil {
		return err
	}
	if exists && old.day == nw.day && old.workflow == nw.workflow && old.status == nw.status {
		return nil
	}
	if exists {
		if err := bumpDaily(ctx, tx, old.day, f.client, old.workflow, old.status, -1); err != nil {
			return err
		}
	}
	return bumpDaily(ctx, tx, nw.day, f.client, nw.workflow, nw.status, 1)
}

func bumpDaily(ctx context.Context, tx *sql.Tx, day int64, client, workflow, status string, by int) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO goal_daily (day, client, workflow, status, n) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (day, client, workflow, status) DO UPDATE SET n = goal_daily.n + excluded.n`, day, client, workflow, status, by)
	return err
}

func (s *SQLite) indexAudit(ctx context.Context, tx *sql.Tx, after int64, limit int) (int64, int, error) {
	rows, err := tx.QueryContext(ctx, `SELECT rowid, client, site, idx, record FROM audit_records WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, limit)
	if err != nil {
		return 0, 0, err
	}
	type rec struct {
		row, idx     int64
		client, site string
		r            audit.Record
	}
	var recs []rec
	for rows.Next() {
		var x rec
		var b []byte
		if err := rows.Scan(&x.row, &x.client, &x.site, &x.idx, &b); err != nil {
			rows.Close()
			return 0, 0, err
		}
		x.r, _ = audit.Decode(b) // an undecodable record is indexed with no kind
		recs = append(recs, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	last := after
	for _, x := range recs {
		last = x.row
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_facts (client, site, idx, kind, goal_id, at) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (client, site, idx) DO NOTHING`, x.client, x.site, x.idx, string(x.r.Kind), x.r.GoalID, nanos(x.r.Time)); err != nil {
			return 0, 0, err
		}
	}
	return last, len(recs), nil
}

// where builds an AND-ed WHERE clause from conditions whose value is set.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, v any, set bool) {
	if set {
		w.conds = append(w.conds, cond)
		w.args = append(w.args, v)
	}
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// Clients implements Stats.
func (s *SQLite) Clients(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT DISTINCT client FROM sites ORDER BY client LIMIT 10000`)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("list clients: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SiteCounts implements Stats.
func (s *SQLite) SiteCounts(ctx context.Context, client string, onlineSince time.Time) (SiteCounts, error) {
	w := &where{}
	w.add("client = ?", client, client != "")
	rows, err := s.db.QueryContext(ctx, `SELECT runner_version, last_seen FROM sites`+w.String(), w.args...)
	if err != nil {
		return SiteCounts{}, fmt.Errorf("count sites: %w", err)
	}
	defer rows.Close()
	c := SiteCounts{Versions: map[string]int{}}
	since := nanos(onlineSince)
	for rows.Next() {
		var v string
		var seen int64
		if err := rows.Scan(&v, &seen); err != nil {
			return SiteCounts{}, fmt.Errorf("count sites: %w", err)
		}
		c.Total++
		c.Versions[v]++
		switch {
		case seen == 0:
			c.Never++
			c.Offline++
		case seen >= since:
			c.Online++
		default:
			c.Offline++
		}
	}
	return c, rows.Err()
}

// SiteRows implements Stats.
func (s *SQLite) SiteRows(ctx context.Context, client string, offset, limit int) ([]SiteRow, error) {
	w := &where{}
	w.add("s.client = ?", client, client != "")
	return s.siteRows(ctx, w, offset, limit)
}

// siteRows lists the sites w selects, with their witness state, in client
// and site order.
func (s *SQLite) siteRows(ctx context.Context, w *where, offset, limit int) ([]SiteRow, error) {
	q := `SELECT s.tenant, s.client, s.site, s.cert_serial, s.cert_not_after, s.enrolled_at, s.last_seen, s.runner_version, s.health, s.audit_key,
		COALESCE((SELECT MAX(c.size) FROM checkpoints c WHERE c.client = s.client AND c.site = s.site), 0),
		COALESCE((SELECT c.witnessed_at FROM checkpoints c WHERE c.client = s.client AND c.site = s.site ORDER BY c.size DESC LIMIT 1), 0),
		COALESCE((SELECT MAX(a.idx) + 1 FROM audit_records a WHERE a.client = s.client AND a.site = s.site), 0),
		(SELECT COUNT(*) FROM audit_alerts al WHERE al.client = s.client AND al.site = s.site)
		FROM sites s` + w.String() + ` ORDER BY s.client, s.site LIMIT ? OFFSET ?`
	rows, err := s.db.QueryContext(ctx, q, append(w.args, checkLimit(limit), max(offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("list sites: %w", err)
	}
	defer rows.Close()
	var out []SiteRow
	for rows.Next() {
		var r SiteRow
		var notAfter, enrolled, seen, cpSize, cpAt, auditSize int64
		if err := rows.Scan(&r.Tenant, &r.Client, &r.Site.Site, &r.CertSerial, &notAfter, &enrolled, &seen, &r.RunnerVersion, &r.Health, &r.AuditKey,
			&cpSize, &cpAt, &auditSize, &r.Alerts); err != nil {
			return nil, fmt.Errorf("list sites: %w", err)
		}
		r.CertNotAfter, r.EnrolledAt, r.LastSeen = fromNanos(notAfter), fromNanos(enrolled), fromNanos(seen)
		r.CheckpointSize, r.CheckpointAt, r.AuditSize = uint64(cpSize), fromNanos(cpAt), uint64(auditSize)
		out = append(out, r)
	}
	return out, rows.Err()
}

// GoalCounts implements Stats.
func (s *SQLite) GoalCounts(ctx context.Context, f GoalFilter, by GroupBy) ([]GoalCount, error) {
	var col string
	switch by {
	case ByDay:
		col = "day"
	case ByClient:
		col = "client"
	case ByWorkflow:
		col = "workflow"
	default:
		return nil, fmt.Errorf("goal counts: %w: group by %q", ErrInvalid, by)
	}
	w := &where{}
	w.add("client = ?", f.Client, f.Client != "")
	w.add("workflow = ?", f.Workflow, f.Workflow != "")
	w.add("day >= ?", dayOf(nanos(f.From)), !f.From.IsZero())
	w.add("day < ?", dayOf(nanos(f.To)), !f.To.IsZero())
	rows, err := s.db.QueryContext(ctx, `SELECT `+col+`, status, SUM(n) FROM goal_daily`+w.String()+
		` GROUP BY `+col+`, status HAVING SUM(n) > 0 ORDER BY `+col+`, status LIMIT 100000`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("goal counts: %w", err)
	}
	defer rows.Close()
	var out []GoalCount
	for rows.Next() {
		var c GoalCount
		if by == ByDay {
			var day int64
			if err := rows.Scan(&day, &c.Status, &c.N); err != nil {
				return nil, fmt.Errorf("goal counts: %w", err)
			}
			c.Key = time.Unix(0, day*dayNanos).UTC().Format(time.DateOnly)
		} else if err := rows.Scan(&c.Key, &c.Status, &c.N); err != nil {
			return nil, fmt.Errorf("goal counts: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func escalationWhere(f EscalationFilter) *where {
	w := &where{}
	w.add("f.client = ?", f.Client, f.Client != "")
	w.add("f.site = ?", f.Site, f.Site != "")
	w.add("f.workflow = ?", f.Workflow, f.Workflow != "")
	w.add("f.received_at < ?", nanos(f.OlderThan), !f.OlderThan.IsZero())
	w.add("f.received_at >= ?", nanos(f.From), !f.From.IsZero())
	w.add("f.received_at < ?", nanos(f.To), !f.To.IsZero())
	switch f.State {
	case StateOpen:
		w.conds = append(w.conds, "COALESCE(st.resolved_at, 0) = 0 AND COALESCE(st.claimed_by, '') = ''")
	case StateClaimed:
		w.conds = append(w.conds, "COALESCE(st.resolved_at, 0) = 0 AND COALESCE(st.claimed_by, '') <> ''")
	case StateResolved:
		w.conds = append(w.conds, "COALESCE(st.resolved_at, 0) <> 0")
	}
	return w
}

const escalationFrom = ` FROM escalation_facts f LEFT JOIN escalation_states st ON st.client = f.client AND st.id = f.id`

// EscalationQueue implements Stats.
func (s *SQLite) EscalationQueue(ctx context.Context, f EscalationFilter, offset, limit int) ([]EscalationRow, error) {
	w := escalationWhere(f)
	rows, err := s.db.QueryContext(ctx, `SELECT f.client, f.site, f.id, f.goal_id, f.workflow, f.reason, f.received_at,
		COALESCE(st.claimed_by, ''), COALESCE(st.resolved_at, 0)`+escalationFrom+w.String()+
		` ORDER BY f.received_at DESC, f.client, f.id LIMIT ? OFFSET ?`, append(w.args, checkLimit(limit), max(offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("escalation queue: %w", err)
	}
	defer rows.Close()
	var out []EscalationRow
	for rows.Next() {
		var r EscalationRow
		var at, resolved int64
		if err := rows.Scan(&r.Client, &r.Site, &r.ID, &r.GoalID, &r.Workflow, &r.Reason, &at, &r.ClaimedBy, &resolved); err != nil {
			return nil, fmt.Errorf("escalation queue: %w", err)
		}
		r.ReceivedAt = fromNanos(at)
		switch {
		case resolved != 0:
			r.State = StateResolved
		case r.ClaimedBy != "":
			r.State = StateClaimed
		default:
			r.State = StateOpen
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CountEscalations implements Stats.
func (s *SQLite) CountEscalations(ctx context.Context, f EscalationFilter) (int, error) {
	w := escalationWhere(f)
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*)`+escalationFrom+w.String(), w.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count escalations: %w", err)
	}
	return n, nil
}

// ApprovalQueue implements Stats.
func (s *SQLite) ApprovalQueue(ctx context.Context, f ApprovalFilter, offset, limit int) ([]ApprovalRow, error) {
	w := &where{}
	w.add("f.client = ?", f.Client, f.Client != "")
	w.add("f.site = ?", f.Site, f.Site != "")
	if f.Pending {
		w.conds = append(w.conds, "d.cursor IS NULL")
		w.add("(f.expires_at = 0 OR f.expires_at > ?)", nanos(f.Now), true)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT f.client, f.site, f.id, f.goal_id, f.workflow, f.action, f.requested_at, f.expires_at, d.cursor IS NOT NULL
		FROM approval_facts f LEFT JOIN decisions d ON d.client = f.client AND d.approval_id = f.id`+w.String()+
		` ORDER BY f.requested_at DESC, f.client, f.id LIMIT ? OFFSET ?`, append(w.args, checkLimit(limit), max(offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("approval queue: %w", err)
	}
	defer rows.Close()
	var out []ApprovalRow
	for rows.Next() {
		var r ApprovalRow
		var req, exp int64
		if err := rows.Scan(&r.Client, &r.Site, &r.ID, &r.GoalID, &r.Workflow, &r.Action, &req, &exp, &r.Decided); err != nil {
			return nil, fmt.Errorf("approval queue: %w", err)
		}
		r.RequestedAt, r.ExpiresAt = fromNanos(req), fromNanos(exp)
		out = append(out, r)
	}
	return out, rows.Err()
}

// AuditSearch implements Stats.
func (s *SQLite) AuditSearch(ctx context.Context, f AuditFilter, offset, limit int) ([]AuditHit, error) {
	w := &where{}
	w.add("f.client = ?", f.Client, f.Client != "")
	w.add("f.site = ?", f.Site, f.Site != "")
	w.add("f.goal_id = ?", f.GoalID, f.GoalID != "")
	w.add("f.kind = ?", f.Kind, f.Kind != "")
	w.add("f.at >= ?", nanos(f.From), !f.From.IsZero())
	w.add("f.at < ?", nanos(f.To), !f.To.IsZero())
	rows, err := s.db.QueryContext(ctx, `SELECT f.client, f.site, f.idx, f.kind, f.goal_id, f.at, a.record
		FROM audit_facts f JOIN audit_records a ON a.client = f.client AND a.site = f.site AND a.idx = f.idx`+w.String()+
		` ORDER BY f.at DESC, f.client, f.site, f.idx DESC LIMIT ? OFFSET ?`, append(w.args, checkLimit(limit), max(offset, 0))...)
	if err != nil {
		return nil, fmt.Errorf("audit search: %w", err)
	}
	defer rows.Close()
	var out []AuditHit
	for rows.Next() {
		var h AuditHit
		var idx, at int64
		if err := rows.Scan(&h.Client, &h.Site, &idx, &h.Kind, &h.GoalID, &at, &h.Record); err != nil {
			return nil, fmt.Errorf("audit search: %w", err)
		}
		h.Index, h.Time = uint64(idx), fromNanos(at)
		out = append(out, h)
	}
	return out, rows.Err()
}

// AuditRange implements Stats.
func (s *SQLite) AuditRange(ctx context.Context, client, site string, from, to time.Time) (uint64, uint64, error) {
	if err := need("audit range", client, site); err != nil {
		return 0, 0, err
	}
	w := &where{}
	w.add("client = ?", client, true)
	w.add("site = ?", site, true)
	w.add("at >= ?", nanos(from), !from.IsZero())
	w.add("at < ?", nanos(to), !to.IsZero())
	var first, last sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MIN(idx), MAX(idx) FROM audit_facts`+w.String(), w.args...).Scan(&first, &last); err != nil {
		return 0, 0, fmt.Errorf("audit range of %s/%s: %w", client, site, err)
	}
	if !first.Valid {
		return 0, 0, fmt.Errorf("audit range of %s/%s: %w: no records in the period", client, site, ErrNotFound)
	}
	return uint64(first.Int64), uint64(last.Int64), nil
}

// RecordAuditAlert implements Stats.
func (s *SQLite) RecordAuditAlert(ctx context.Context, a AuditAlert) error {
	if err := need("record audit alert", a.Client, a.Site); err != nil {
		return err
	}
	if len(a.Reason) > 1000 {
		a.Reason = a.Reason[:1000]
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO audit_alerts (client, site, at, reason) VALUES (?, ?, ?, ?)`, a.Client, a.Site, nanos(a.At), a.Reason); err != nil {
		return fmt.Errorf("record audit alert %s/%s: %w", a.Client, a.Site, err)
	}
	return nil
}

// AuditAlerts implements Stats.
func (s *SQLite) AuditAlerts(ctx context.Context, client string, limit int) ([]AuditAlert, error) {
	w := &where{}
	w.add("client = ?", client, client != "")
	rows, err := s.db.QueryContext(ctx, `SELECT client, site, at, reason FROM audit_alerts`+w.String()+` ORDER BY at DESC LIMIT ?`, append(w.args, checkLimit(limit))...)
	if err != nil {
		return nil, fmt.Errorf("audit alerts: %w", err)
	}
	defer rows.Close()
	var out []AuditAlert
	for rows.Next() {
		var a AuditAlert
		var at int64
		if err := rows.Scan(&a.Client, &a.Site, &at, &a.Reason); err != nil {
			return nil, fmt.Errorf("audit alerts: %w", err)
		}
		a.At = fromNanos(at)
		out = append(out, a)
	}
	return out, rows.Err()
}
