package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// users.disabled is 0/1 on SQLite and BOOLEAN on PostgreSQL: it is
// written as (? <> 0) from a 0/1 argument and scanned into a bool (which
// database/sql converts from either).
const userCols = `name, role, client, password_hash, setup_hash, setup_expires, disabled, created_at`

func scanUser(r scanner) (User, error) {
	var u User
	var setupExp, created int64
	if err := r.Scan(&u.Name, &u.Role, &u.Client, &u.PasswordHash, &u.SetupHash, &setupExp, &u.Disabled, &created); err != nil {
		return User{}, err
	}
	u.SetupExpires, u.CreatedAt = fromNanos(setupExp), fromNanos(created)
	return u, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// CreateUser implements Store.
func (s *SQLite) CreateUser(ctx context.Context, u User) error {
	if err := need("create user", u.Name, u.Role); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, (? <> 0), ?)`,
		u.Name, u.Role, u.Client, u.PasswordHash, u.SetupHash, nanos(u.SetupExpires), boolInt(u.Disabled), nanos(u.CreatedAt))
	if isConstraint(err) {
		return fmt.Errorf("create user %s: %w", u.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// UpdateUser implements Store.
func (s *SQLite) UpdateUser(ctx context.Context, u User) error {
	if err := need("update user", u.Name, u.Role); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET role = ?, client = ?, password_hash = ?, setup_hash = ?, setup_expires = ?, disabled = (? <> 0) WHERE name = ?`,
		u.Role, u.Client, u.PasswordHash, u.SetupHash, nanos(u.SetupExpires), boolInt(u.Disabled), u.Name)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.Name, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("update user %s: %w", u.Name, ErrNotFound)
	}
	return nil
}

// User implements Store.
func (s *SQLite) User(ctx context.Context, name string) (User, error) {
	if err := need("get user", name); err != nil {
		return User{}, err
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", name, err)
	}
	return u, nil
}

// Users implements Store.
func (s *SQLite) Users(ctx context.Context, offset, limit int) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY name LIMIT ? OFFSET ?`, checkLimit(limit), max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// CountUsers implements Store.
func (s *SQLite) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateSession implements Store.
func (s *SQLite) CreateSession(ctx context.Context, se Session) error {
	if err := need("create session", se.Hash, se.User, se.CSRF); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sessions (hash, "user", csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)`,
		se.Hash, se.User, se.CSRF, nanos(se.CreatedAt), nanos(se.ExpiresAt))
	if isConstraint(err) {
		return fmt.Errorf("create session for %s: %w", se.User, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session for %s: %w", se.User, err)
	}
	return nil
}

// Session implements Store.
func (s *SQLite) Session(ctx context.Context, hash string, now time.Time) (Session, error) {
	if err := need("get session", hash); err != nil {
		return Session{}, err
	}
	se := Session{Hash: hash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, `SELECT "user", csrf, created_at, expires_at FROM sessions WHERE hash = ? AND expires_at > ?`, hash, nanos(now)).
		Scan(&se.User, &se.CSRF, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session: %w", err)
	}
	se.CreatedAt, se.ExpiresAt = fromNanos(created), fromNanos(expires)
	return se, nil
}

// DeleteSession implements Store.
func (s *SQLite) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements Store.
func (s *SQLite) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, nanos(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// CreateAPIToken implements Store.
func (s *SQLite) CreateAPIToken(ctx context.Context, t APIToken) error {
	if err := need("create api token", t.ID, t.Hash, t.User); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO api_tokens (id, hash, "user", name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.ID, t.Hash, t.User, t.Name, nanos(t.CreatedAt), nanos(t.ExpiresAt))
	if isConstraint(err) {
		return fmt.Errorf("create api token %s: %w", t.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create api token %s: %w", t.ID, err)
	}
	return nil
}

const tokenCols = `id, hash, "user", name, created_at, expires_at`

func scanAPIToken(r scanner) (APIToken, error) {
	var t APIToken
	var created, expires int64
	if err := r.Scan(&t.ID, &t.Hash, &t.User, &t.Name, &created, &expires); err != nil {
		return APIToken{}, err
	}
	t.CreatedAt, t.ExpiresAt = fromNanos(created), fromNanos(expires)
	return t, nil
}

// APITokenByHash implements Store.
func (s *SQLite) APITokenByHash(ctx context.Context, hash string) (APIToken, error) {
	if err := need("get api token", hash); err != nil {
		return APIToken{}, err
	}
	t, err := scanAPIToken(s.db.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, fmt.Errorf("api token: %w", ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("get api token: %w", err)
	}
	return t, nil
}

// APITokens implements Store.
func (s *SQLite) APITokens(ctx context.Context, user string) ([]APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE ? = '' OR "user" = ? ORDER BY id LIMIT 10000`, user, user)
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list api tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// DeleteAPIToken implements Store.
func (s *SQLite) DeleteAPIToken(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete api token %s: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return fmt.Errorf("api token %s: %w", id, ErrNotFound)
	}
	return nil
}

// ClaimEscalation implements Store.
func (s *SQLite) ClaimEscalation(ctx context.Context, client, id, user string, now time.Time) error {
	if err := need("claim escalation", client, id, user); err != nil {
		return err
	}
	return s.lockedTx(ctx, advisoryKey("escalation_states", client, id), func(tx *sql.Tx) error {
		st, err := escState(ctx, tx, client, id)
		if err != nil {
			return err
		}
		switch {
		case !st.ResolvedAt.IsZero():
			return fmt.Errorf("claim escalation %s/%s: %w: resolved by %s", client, id, ErrConflict, st.ResolvedBy)
		case st.ClaimedBy == user:
			return nil
		case st.ClaimedBy != "":
			return fmt.Errorf("claim escalation %s/%s: %w: claimed by %s", client, id, ErrConflict, st.ClaimedBy)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO escalation_states (client, id, claimed_by, claimed_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (client, id) DO UPDATE SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at`, client, id, user, nanos(now))
		return err
	})
}

// ResolveEscalation implements Store.
func (s *SQLite) ResolveEscalation(ctx context.Context, client, id, user, note string, now time.Time) error {
	if err := need("resolve escalation", client, id, user); err != nil {
		return err
	}
	return s.lockedTx(ctx, advisoryKey("escalation_states", client, id), func(tx *sql.Tx) error {
		st, err := escState(ctx, tx, client, id)
		if err != nil {
			return err
		}
		switch {
		case !st.ResolvedAt.IsZero():
			return fmt.Errorf("resolve escalation %s/%s: %w: resolved by %s", client, id, ErrConflict, st.ResolvedBy)
		case st.ClaimedBy != "" && st.ClaimedBy != user:
			return fmt.Errorf("resolve escalation %s/%s: %w: claimed by %s", client, id, ErrConflict, st.ClaimedBy)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO escalation_states (client, id, resolved_by, resolved_at, note) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (client, id) DO UPDATE SET resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at, note = excluded.note`,
			client, id, user, nanos(now), note)
		return err
	})
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

func escState(ctx context.Context, q querier, client, id string) (EscalationState, error) {
	st := EscalationState{Client: client, ID: id}
	var claimed, resolved int64
	err := q.QueryRowContext(ctx, `SELECT claimed_by, claimed_at, resolved_by, resolved_at, note FROM escalation_states WHERE client = ? AND id = ?`, client, id).
		Scan(&st.ClaimedBy, &claimed, &st.ResolvedBy, &resolved, &st.Note)
	if errors.Is(err, sql.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return EscalationState{}, fmt.Errorf("escalation state %s/%s: %w", client, id, err)
	}
	st.ClaimedAt, st.ResolvedAt = fromNanos(claimed), fromNanos(resolved)
	return st, nil
}

// EscalationState implements Store.
func (s *SQLite) EscalationState(ctx context.Context, client, id string) (EscalationState, error) {
	if err := need("escalation state", client, id); err != nil {
		return EscalationState{}, err
	}
	return escState(ctx, s.db, client, id)
}

// ItemsPage implements Store.
func (s *SQLite) ItemsPage(ctx context.Context, kind Kind, client string, offset, limit int) ([]Item, error) {
	if err := need("list items", string(kind), client); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT site, id, payload, received_at FROM items WHERE kind = ? AND client = ? ORDER BY rowid LIMIT ? OFFSET ?`,
		string(kind), client, checkLimit(limit), max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", kind, client, err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		it := Item{Kind: kind, Client: client}
		var at int64
		if err := rows.Scan(&it.Site, &it.ID, &it.Payload, &at); err != nil {
			return nil, fmt.Errorf("list %s of %s: %w", kind, client, err)
		}
		it.ReceivedAt = fromNanos(at)
		out = append(out, it)
	}
	return out, rows.Err()
}

// Item implements Store.
func (s *SQLite) Item(ctx context.Context, kind Kind, client, id string) (Item, error) {
	if err := need("get item", string(kind), client, id); err != nil {
		return Item{}, err
	}
	it := Item{Kind: kind, Client: client, ID: id}
	var at int64
	err := s.db.QueryRowContext(ctx, `SELECT site, payload, received_at FROM items WHERE kind = ? AND client = ? AND id = ?`, string(kind), client, id).
		Scan(&it.Site, &it.Payload, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return Item{}, fmt.Errorf("%s %s/%s: %w", kind, client, id, ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("get %s %s/%s: %w", kind, client, id, err)
	}
	it.ReceivedAt = fromNanos(at)
	return it, nil
}

// Goal implements Store.
func (s *SQLite) Goal(ctx context.Context, client, id string) (Goal, error) {
	if err := need("get goal", client, id); err != nil {
		return Goal{}, err
	}
	g := Goal{Client: client, ID: id}
	var c int64
	err := s.db.QueryRowContext(ctx, `SELECT cursor, site, payload FROM goals WHERE client = ? AND id = ?`, client, id).Scan(&c, &g.Site, &g.Payload)
	if errors.Is(err, sql.ErrNoRows) {
		return Goal{}, fmt.Errorf("goal %s/%s: %w", client, id, ErrNotFound)
	}
	if err != nil {
		return Goal{}, fmt.Errorf("get goal %s/%s: %w", client, id, err)
	}
	g.Cursor = uint64(c)
	return g, nil
}

// Decision implements Store.
func (s *SQLite) Decision(ctx context.Context, client, approvalID string) (Decision, error) {
	if err := need("get decision", client, approvalID); err != nil {
		return Decision{}, err
	}
	d := Decision{Client: client, ApprovalID: approvalID}
	var c int64
	err := s.db.QueryRowContext(ctx, `SELECT cursor, site, payload FROM decisions WHERE client = ? AND approval_id = ?`, client, approvalID).Scan(&c, &d.Site, &d.Payload)
	if errors.Is(err, sql.ErrNoRows) {
		return Decision{}, fmt.Errorf("decision %s/%s: %w", client, approvalID, ErrNotFound)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("get decision %s/%s: %w", client, approvalID, err)
	}
	d.Cursor = uint64(c)
	return d, nil
}
