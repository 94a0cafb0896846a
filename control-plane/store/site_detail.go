package store

import (
	"context"
	"fmt"
	"time"
)

// TokenInfo is an enrollment token as the site page lists it: when it was
// issued, until when it was valid and when it was used (zero while
// unused; a fleet token: when it enrolled this site). It carries neither
// the token's secret nor the secret's hash, only its ID (TokenID).
type TokenInfo struct {
	ID                           string
	CreatedAt, ExpiresAt, UsedAt time.Time
	// Fleet marks a multi-use token; MaxUses and Uses are its bound and
	// count (a one-site token: 1 and 0 or 1).
	Fleet         bool
	MaxUses, Uses int
	RevokedAt     time.Time
}

// SiteDetail reads what the supervisors' site page shows about one site
// beyond Stats. The same rules as Store apply (safe for concurrent use;
// ErrInvalid for an empty client or site). The code is portable SQL run on
// both engines (postgres_shared.go).
type SiteDetail interface {
	// SiteRow returns one site with its witness state, as SiteRows would
	// list it; ErrNotFound when the site is not enrolled.
	SiteRow(ctx context.Context, client, site string) (SiteRow, error)
	// SiteGoalCounts counts a site's goals by UTC day (Key "2006-01-02")
	// and status, for goals whose day is in [from, to) (a zero bound is
	// open), in day then status order. It reads what RefreshStats indexed.
	SiteGoalCounts(ctx context.Context, client, site string, from, to time.Time) ([]GoalCount, error)
	// SiteAuditAlerts lists the site's audit alerts, newest first, at most
	// limit.
	SiteAuditAlerts(ctx context.Context, client, site string, limit int) ([]AuditAlert, error)
	// SiteTokens lists the enrollment tokens issued for the site and the
	// fleet token that enrolled it, newest first, at most limit.
	SiteTokens(ctx context.Context, client, site string, limit int) ([]TokenInfo, error)
}

var (
	_ SiteDetail = (*SQLite)(nil)
	_ SiteDetail = (*Postgres)(nil)
)

// SiteRow implements SiteDetail.
func (s *SQLite) SiteRow(ctx context.Context, client, site string) (SiteRow, error) {
	if err := need("site row", client, site); err != nil {
		return SiteRow{}, err
	}
	w := &where{}
	w.add("s.client = ?", client, true)
	w.add("s.site = ?", site, true)
	rs, err := s.siteRows(ctx, w, 0, 1)
	if err != nil {
		return SiteRow{}, fmt.Errorf("site row %s/%s: %w", client, site, err)
	}
	if len(rs) == 0 {
		return SiteRow{}, fmt.Errorf("site %s/%s: %w", client, site, ErrNotFound)
	}
	return rs[0], nil
}

// SiteGoalCounts implements SiteDetail.
func (s *SQLite) SiteGoalCounts(ctx context.Context, client, site string, from, to time.Time) ([]GoalCount, error) {
	if err := need("site goal counts", client, site); err != nil {
		return nil, err
	}
	w := &where{}
	w.add("client = ?", client, true)
	w.add("site = ?", site, true)
	w.add("day >= ?", dayOf(nanos(from)), !from.IsZero())
	w.add("day < ?", dayOf(nanos(to)), !to.IsZero())
	// The goal_facts (client, site, day) index (migration 6) bounds the
	// read to the site's goals of the period.
	rows, err := s.db.QueryContext(ctx, `SELECT day, status, COUNT(*) FROM goal_facts`+w.String()+
		` GROUP BY day, status ORDER BY day, status LIMIT 10000`, w.args...)
	if err != nil {
		return nil, fmt.Errorf("site goal counts %s/%s: %w", client, site, err)
	}
	defer rows.Close()
	var out []GoalCount
	for rows.Next() {
		var c GoalCount
		var day int64
		if err := rows.Scan(&day, &c.Status, &c.N); err != nil {
			return nil, fmt.Errorf("site goal counts %s/%s: %w", client, site, err)
		}
		c.Key = time.Unix(0, day*dayNanos).UTC().Format(time.DateOnly)
		out = append(out, c)
	}
	return out, rows.Err()
}

// SiteAuditAlerts implements SiteDetail.
func (s *SQLite) SiteAuditAlerts(ctx context.Context, client, site string, limit int) ([]AuditAlert, error) {
	if err := need("site audit alerts", client, site); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT client, site, at, reason FROM audit_alerts WHERE client = ? AND site = ? ORDER BY at DESC LIMIT ?`,
		client, site, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("site audit alerts %s/%s: %w", client, site, err)
	}
	defer rows.Close()
	var out []AuditAlert
	for rows.Next() {
		var a AuditAlert
		var at int64
		if err := rows.Scan(&a.Client, &a.Site, &at, &a.Reason); err != nil {
			return nil, fmt.Errorf("site audit alerts %s/%s: %w", client, site, err)
		}
		a.At = fromNanos(at)
		out = append(out, a)
	}
	return out, rows.Err()
}

// SiteTokens implements SiteDetail.
func (s *SQLite) SiteTokens(ctx context.Context, client, site string, limit int) ([]TokenInfo, error) {
	if err := need("site tokens", client, site); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+siteTokenCols+` FROM tokens t
		LEFT JOIN token_enrollments e ON e.hash = t.hash AND e.client = ? AND e.site = ?
		WHERE t.client = ? AND (t.site = ? OR e.site IS NOT NULL)
		ORDER BY t.created_at DESC, t.expires_at DESC LIMIT ?`, client, site, client, site, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("site tokens %s/%s: %w", client, site, err)
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		ti, err := scanTokenInfo(rows)
		if err != nil {
			return nil, fmt.Errorf("site tokens %s/%s: %w", client, site, err)
		}
		out = append(out, ti)
	}
	return out, rows.Err()
}
