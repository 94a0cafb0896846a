package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

func pgScanUser(r scanner) (User, error) {
	var u User
	var setupExp, created int64
	if err := r.Scan(&u.Name, &u.Role, &u.Client, &u.PasswordHash, &u.SetupHash, &setupExp, &u.Disabled, &created); err != nil {
		return User{}, err
	}
	u.SetupExpires, u.CreatedAt = fromNanos(setupExp), fromNanos(created)
	return u, nil
}

// CreateUser implements Store.
func (p *Postgres) CreateUser(ctx context.Context, u User) error {
	if err := need("create user", u.Name, u.Role); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.Name, u.Role, u.Client, u.PasswordHash, u.SetupHash, nanos(u.SetupExpires), u.Disabled, nanos(u.CreatedAt))
	if isUnique(err) {
		return fmt.Errorf("create user %s: %w", u.Name, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Name, err)
	}
	return nil
}

// UpdateUser implements Store.
func (p *Postgres) UpdateUser(ctx context.Context, u User) error {
	if err := need("update user", u.Name, u.Role); err != nil {
		return err
	}
	tag, err := p.pool.Exec(ctx, `UPDATE users SET role = $1, client = $2, password_hash = $3, setup_hash = $4, setup_expires = $5, disabled = $6 WHERE name = $7`,
		u.Role, u.Client, u.PasswordHash, u.SetupHash, nanos(u.SetupExpires), u.Disabled, u.Name)
	if err != nil {
		return fmt.Errorf("update user %s: %w", u.Name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("update user %s: %w", u.Name, ErrNotFound)
	}
	return nil
}

// User implements Store.
func (p *Postgres) User(ctx context.Context, name string) (User, error) {
	if err := need("get user", name); err != nil {
		return User{}, err
	}
	u, err := pgScanUser(p.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, fmt.Errorf("user %s: %w", name, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("get user %s: %w", name, err)
	}
	return u, nil
}

// Users implements Store.
func (p *Postgres) Users(ctx context.Context, offset, limit int) ([]User, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+userCols+` FROM users ORDER BY name LIMIT $1 OFFSET $2`, checkLimit(limit), max(offset, 0))
	out, err := collect(rows, err, func(r pgx.Rows) (User, error) { return pgScanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// CountUsers implements Store.
func (p *Postgres) CountUsers(ctx context.Context) (int, error) {
	var n int
	if err := p.pool.QueryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count users: %w", err)
	}
	return n, nil
}

// CreateSession implements Store.
func (p *Postgres) CreateSession(ctx context.Context, se Session) error {
	if err := need("create session", se.Hash, se.User, se.CSRF); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO sessions (hash, "user", csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		se.Hash, se.User, se.CSRF, nanos(se.CreatedAt), nanos(se.ExpiresAt))
	if isUnique(err) {
		return fmt.Errorf("create session for %s: %w", se.User, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create session for %s: %w", se.User, err)
	}
	return nil
}

// Session implements Store.
func (p *Postgres) Session(ctx context.Context, hash string, now time.Time) (Session, error) {
	if err := need("get session", hash); err != nil {
		return Session{}, err
	}
	se := Session{Hash: hash}
	var created, expires int64
	err := p.pool.QueryRow(ctx, `SELECT "user", csrf, created_at, expires_at FROM sessions WHERE hash = $1 AND expires_at > $2`, hash, nanos(now)).
		Scan(&se.User, &se.CSRF, &created, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return Session{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return Session{}, fmt.Errorf("get session: %w", err)
	}
	se.CreatedAt, se.ExpiresAt = fromNanos(created), fromNanos(expires)
	return se, nil
}

// DeleteSession implements Store.
func (p *Postgres) DeleteSession(ctx context.Context, hash string) error {
	if _, err := p.pool.Exec(ctx, `DELETE FROM sessions WHERE hash = $1`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// DeleteExpiredSessions implements Store.
func (p *Postgres) DeleteExpiredSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := p.pool.Exec(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, nanos(now))
	if err != nil {
		return 0, fmt.Errorf("delete expired sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// CreateAPIToken implements Store.
func (p *Postgres) CreateAPIToken(ctx context.Context, t APIToken) error {
	if err := need("create api token", t.ID, t.Hash, t.User); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO api_tokens (id, hash, "user", name, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.ID, t.Hash, t.User, t.Name, nanos(t.CreatedAt), nanos(t.ExpiresAt))
	if isUnique(err) {
		return fmt.Errorf("create api token %s: %w", t.ID, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create api token %s: %w", t.ID, err)
	}
	return nil
}

const pgTokenCols = `id, hash, "user", name, created_at, expires_at`

// APITokenByHash implements Store.
func (p *Postgres) APITokenByHash(ctx context.Context, hash string) (APIToken, error) {
	if err := need("get api token", hash); err != nil {
		return APIToken{}, err
	}
	t, err := scanAPIToken(p.pool.QueryRow(ctx, `SELECT `+pgTokenCols+` FROM api_tokens WHERE hash = $1`, hash))
	if errors.Is(err, pgx.ErrNoRows) {
		return APIToken{}, fmt.Errorf("api token: %w", ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("get api token: %w", err)
	}
	return t, nil
}

// APITokens implements Store.
func (p *Postgres) APITokens(ctx context.Context, user string) ([]APIToken, error) {
	rows, err := p.pool.Query(ctx, `SELECT `+pgTokenCols+` FROM api_tokens WHERE $1 = '' OR "user" = $1 ORDER BY id LIMIT 10000`, user)
	out, err := collect(rows, err, func(r pgx.Rows) (APIToken, error) { return scanAPIToken(r) })
	if err != nil {
		return nil, fmt.Errorf("list api tokens: %w", err)
	}
	return out, nil
}

// DeleteAPIToken implements Store.
func (p *Postgres) DeleteAPIToken(ctx context.Context, id string) error {
	tag, err := p.pool.Exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete api token %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("api token %s: %w", id, ErrNotFound)
	}
	return nil
}

// ClaimEscalation implements Store.
func (p *Postgres) ClaimEscalation(ctx context.Context, client, id, user string, now time.Time) error {
	if err := need("claim escalation", client, id, user); err != nil {
		return err
	}
	return p.tx(ctx, func(tx pgx.Tx) error {
		st, err := pgEscState(ctx, tx, client, id, true)
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
		_, err = tx.Exec(ctx, `INSERT INTO escalation_states (client, id, claimed_by, claimed_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (client, id) DO UPDATE SET claimed_by = excluded.claimed_by, claimed_at = excluded.claimed_at`, client, id, user, nanos(now))
		return err
	})
}

// ResolveEscalation implements Store.
func (p *Postgres) ResolveEscalation(ctx context.Context, client, id, user, note string, now time.Time) error {
	if err := need("resolve escalation", client, id, user); err != nil {
		return err
	}
	return p.tx(ctx, func(tx pgx.Tx) error {
		st, err := pgEscState(ctx, tx, client, id, true)
		if err != nil {
			return err
		}
		switch {
		case !st.ResolvedAt.IsZero():
			return fmt.Errorf("resolve escalation %s/%s: %w: resolved by %s", client, id, ErrConflict, st.ResolvedBy)
		case st.ClaimedBy != "" && st.ClaimedBy != user:
			return fmt.Errorf("resolve escalation %s/%s: %w: claimed by %s", client, id, ErrConflict, st.ClaimedBy)
		}
		_, err = tx.Exec(ctx, `INSERT INTO escalation_states (client, id, resolved_by, resolved_at, note) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (client, id) DO UPDATE SET resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at, note = excluded.note`,
			client, id, user, nanos(now), note)
		return err
	})
}

type pgRowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// pgEscState reads an escalation's state; inside a transaction that will
// change it, lock first (a row lock cannot cover a row not yet there).
func pgEscState(ctx context.Context, q pgRowQuerier, client, id string, lock bool) (EscalationState, error) {
	if tx, ok := q.(pgx.Tx); ok && lock {
		if err := lockKey(ctx, tx, "escalation_states", client, id); err != nil {
			return EscalationState{}, fmt.Errorf("escalation state %s/%s: %w", client, id, err)
		}
	}
	st := EscalationState{Client: client, ID: id}
	var claimed, resolved int64
	err := q.QueryRow(ctx, `SELECT claimed_by, claimed_at, resolved_by, resolved_at, note FROM escalation_states WHERE client = $1 AND id = $2`, client, id).
		Scan(&st.ClaimedBy, &claimed, &st.ResolvedBy, &resolved, &st.Note)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return EscalationState{}, fmt.Errorf("escalation state %s/%s: %w", client, id, err)
	}
	st.ClaimedAt, st.ResolvedAt = fromNanos(claimed), fromNanos(resolved)
	return st, nil
}

// EscalationState implements Store.
func (p *Postgres) EscalationState(ctx context.Context, client, id string) (EscalationState, error) {
	if err := need("escalation state", client, id); err != nil {
		return EscalationState{}, err
	}
	return pgEscState(ctx, p.pool, client, id, false)
}

// ItemsPage implements Store.
func (p *Postgres) ItemsPage(ctx context.Context, kind Kind, client string, offset, limit int) ([]Item, error) {
	if err := need("list items", string(kind), client); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT site, id, payload, received_at FROM items WHERE kind = $1 AND client = $2 ORDER BY seq LIMIT $3 OFFSET $4`,
		string(kind), client, checkLimit(limit), max(offset, 0))
	out, err := collect(rows, err, func(r pgx.Rows) (Item, error) {
		it := Item{Kind: kind, Client: client}
		var at int64
		err := r.Scan(&it.Site, &it.ID, &it.Payload, &at)
		it.ReceivedAt = fromNanos(at)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s of %s: %w", kind, client, err)
	}
	return out, nil
}

// Item implements Store.
func (p *Postgres) Item(ctx context.Context, kind Kind, client, id string) (Item, error) {
	if err := need("get item", string(kind), client, id); err != nil {
		return Item{}, err
	}
	it := Item{Kind: kind, Client: client, ID: id}
	var at int64
	err := p.pool.QueryRow(ctx, `SELECT site, payload, received_at FROM items WHERE kind = $1 AND client = $2 AND id = $3`, string(kind), client, id).
		Scan(&it.Site, &it.Payload, &at)
	if errors.Is(err, pgx.ErrNoRows) {
		return Item{}, fmt.Errorf("%s %s/%s: %w", kind, client, id, ErrNotFound)
	}
	if err != nil {
		return Item{}, fmt.Errorf("get %s %s/%s: %w", kind, client, id, err)
	}
	it.ReceivedAt = fromNanos(at)
	return it, nil
}

// Goal implements Store.
func (p *Postgres) Goal(ctx context.Context, client, id string) (Goal, error) {
	if err := need("get goal", client, id); err != nil {
		return Goal{}, err
	}
	g := Goal{Client: client, ID: id}
	var c int64
	err := p.pool.QueryRow(ctx, `SELECT cursor, site, payload FROM goals WHERE client = $1 AND id = $2`, client, id).Scan(&c, &g.Site, &g.Payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return Goal{}, fmt.Errorf("goal %s/%s: %w", client, id, ErrNotFound)
	}
	if err != nil {
		return Goal{}, fmt.Errorf("get goal %s/%s: %w", client, id, err)
	}
	g.Cursor = uint64(c)
	return g, nil
}

// Decision implements Store.
func (p *Postgres) Decision(ctx context.Context, client, approvalID string) (Decision, error) {
	if err := need("get decision", client, approvalID); err != nil {
		return Decision{}, err
	}
	d := Decision{Client: client, ApprovalID: approvalID}
	var c int64
	err := p.pool.QueryRow(ctx, `SELECT cursor, site, payload FROM decisions WHERE client = $1 AND approval_id = $2`, client, approvalID).Scan(&c, &d.Site, &d.Payload)
	if errors.Is(err, pgx.ErrNoRows) {
		return Decision{}, fmt.Errorf("decision %s/%s: %w", client, approvalID, ErrNotFound)
	}
	if err != nil {
		return Decision{}, fmt.Errorf("get decision %s/%s: %w", client, approvalID, err)
	}
	d.Cursor = uint64(c)
	return d, nil
}
