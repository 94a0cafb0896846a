package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// MaxFleetUses bounds how many sites one fleet token may enroll.
const MaxFleetUses = 10000

// TokenIDLen is the length of a token's ID: the first hex digits of its
// secret's hash. The ID names a token in lists, logs and revocation; it
// reveals nothing a holder of the store does not already have.
const TokenIDLen = 16

// TokenID returns the ID of the token whose secret hashes to hash.
func TokenID(hash string) string {
	if len(hash) < TokenIDLen {
		return hash
	}
	return hash[:TokenIDLen]
}

// ID returns the token's ID (TokenID of its hash).
func (t Token) ID() string { return TokenID(t.Hash) }

// Kind is "fleet" for a multi-use token, "site" for a one-site token.
func (t Token) Kind() string {
	if t.Fleet {
		return "fleet"
	}
	return "site"
}

// State is the token's state at now: revoked, used (no use left), expired
// or usable, in that order of precedence.
func (t Token) State(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case t.Uses >= t.MaxUses:
		return "used"
	case !t.ExpiresAt.After(now):
		return "expired"
	}
	return "usable"
}

// FleetTokens is the part of Store that fleet tokens add: enrolling a new
// site with a multi-use token, revoking tokens and listing them. The same
// rules as Store apply. The code is portable SQL run on both engines.
type FleetTokens interface {
	// TokenByHash returns the token whose secret hashes to hash
	// (ErrNotFound).
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// EnrollFleetSite enrolls st, a new site of the fleet token with this
	// hash, in one transaction: it checks the token (ErrNotFound,
	// ErrInvalid when it is a one-site token or st names another tenant or
	// client, ErrTokenRevoked, ErrTokenExpired when its expiry is not after
	// now, ErrTokenExhausted when it has enrolled MaxUses sites), refuses a
	// site that exists (ErrSiteExists: a fleet token never re-keys or takes
	// over a site), inserts the site, counts the use and records the
	// enrollment. Concurrent calls, on one store or several sharing a
	// database, never enroll more than MaxUses sites. It returns the token
	// as it is after the enrollment.
	EnrollFleetSite(ctx context.Context, hash string, st Site, now time.Time) (Token, error)
	// RevokeToken revokes the client's token with this ID (TokenID) at now
	// and returns it; a token revoked before keeps its first RevokedAt.
	// ErrNotFound when the client has no such token, ErrInvalid when id is
	// not TokenIDLen lowercase hex digits.
	RevokeToken(ctx context.Context, client, id string, now time.Time) (Token, error)
	// Tokens lists a client's enrollment tokens, newest first, at most
	// limit (1..10000; other values mean 10000).
	Tokens(ctx context.Context, client string, limit int) ([]Token, error)
	// SiteEnrollment returns the token that enrolled the site last, with
	// UsedAt set to that enrollment's time; ErrNotFound when none is
	// recorded (sites enrolled before schema version 7).
	SiteEnrollment(ctx context.Context, client, site string) (TokenInfo, error)
}

var (
	_ FleetTokens = (*SQLite)(nil)
	_ FleetTokens = (*Postgres)(nil)
)

const enrollTokenCols = `hash, tenant, client, site, created_at, expires_at, used_at, fleet, max_uses, uses, revoked_at`

func scanToken(r scanner) (Token, error) {
	var t Token
	var created, expires, used, fleet, revoked int64
	if err := r.Scan(&t.Hash, &t.Tenant, &t.Client, &t.Site, &created, &expires, &used, &fleet, &t.MaxUses, &t.Uses, &revoked); err != nil {
		return Token{}, err
	}
	t.CreatedAt, t.ExpiresAt, t.UsedAt, t.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(used), fromNanos(revoked)
	t.Fleet = fleet != 0
	return t, nil
}

// recordEnrollment notes in tx that the token with hash enrolled
// client/site at now.
func recordEnrollment(ctx context.Context, tx *sql.Tx, hash, client, site string, now time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO token_enrollments (hash, client, site, enrolled_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (client, site, hash) DO UPDATE SET enrolled_at = excluded.enrolled_at`, hash, client, site, nanos(now))
	return err
}

// TokenByHash implements FleetTokens.
func (s *SQLite) TokenByHash(ctx context.Context, hash string) (Token, error) {
	if err := need("get token", hash); err != nil {
		return Token{}, err
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, `SELECT `+enrollTokenCols+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return Token{}, fmt.Errorf("get token: %w", err)
	}
	return t, nil
}

// EnrollFleetSite implements FleetTokens. It runs under the token's lock
// (lockedTx), so two enrollments with one token take turns; the use count's
// UPDATE also re-checks what it needs, so a revocation committed meanwhile
// stops it.
func (s *SQLite) EnrollFleetSite(ctx context.Context, hash string, st Site, now time.Time) (Token, error) {
	if err := need("enroll fleet site", hash, st.Tenant, st.Client, st.Site); err != nil {
		return Token{}, err
	}
	var t Token
	err := s.lockedTx(ctx, advisoryKey("tokens", hash), func(tx *sql.Tx) error {
		var err error
		if t, err = tokenIn(ctx, tx, hash); err != nil {
			return err
		}
		switch {
		case !t.Fleet:
			return fmt.Errorf("%w: a one-site token enrolls its own site (ConsumeToken)", ErrInvalid)
		case st.Tenant != t.Tenant || st.Client != t.Client:
			return fmt.Errorf("%w: the site names another tenant or client than the token", ErrInvalid)
		case !t.RevokedAt.IsZero():
			return ErrTokenRevoked
		case !t.ExpiresAt.After(now):
			return ErrTokenExpired
		case t.Uses >= t.MaxUses:
			return ErrTokenExhausted
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sites WHERE client = ? AND site = ?`, st.Client, st.Site).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrSiteExists
		}
		var auditKey []byte
		if len(st.AuditKey) > 0 {
			auditKey = st.AuditKey
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO sites (tenant, client, site, cert_serial, cert_not_after, enrolled_at, last_seen, runner_version, health, audit_key)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			st.Tenant, st.Client, st.Site, st.CertSerial, nanos(st.CertNotAfter), nanos(st.EnrolledAt), nanos(st.LastSeen), st.RunnerVersion, st.Health, auditKey)
		if isConstraint(err) {
			// Another token enrolled the same name concurrently.
			return ErrSiteExists
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET uses = uses + 1, used_at = ?
			WHERE hash = ? AND uses < max_uses AND revoked_at = 0 AND expires_at > ?`, nanos(now), hash, nanos(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrTokenExhausted
		}
		t.Uses++
		t.UsedAt = now.UTC()
		return recordEnrollment(ctx, tx, hash, st.Client, st.Site, now)
	})
	if err != nil {
		return t, fmt.Errorf("enroll %s/%s with token %s: %w", st.Client, st.Site, TokenID(hash), err)
	}
	return t, nil
}

func validTokenID(id string) bool {
	if len(id) != TokenIDLen {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// RevokeToken implements FleetTokens.
func (s *SQLite) RevokeToken(ctx context.Context, client, id string, now time.Time) (Token, error) {
	if err := need("revoke token", client, id); err != nil {
		return Token{}, err
	}
	if !validTokenID(id) {
		return Token{}, fmt.Errorf("revoke token: %w: id %q is not %d lowercase hex digits", ErrInvalid, id, TokenIDLen)
	}
	var t Token
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE tokens SET revoked_at = ? WHERE client = ? AND substr(hash, 1, 16) = ? AND revoked_at = 0`,
			nanos(now), client, id); err != nil {
			return err
		}
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+enrollTokenCols+` FROM tokens WHERE client = ? AND substr(hash, 1, 16) = ?`, client, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		return err
	})
	if err != nil {
		return Token{}, fmt.Errorf("revoke token %s of %s: %w", id, client, err)
	}
	return t, nil
}

// Tokens implements FleetTokens.
func (s *SQLite) Tokens(ctx context.Context, client string, limit int) ([]Token, error) {
	if err := need("list tokens", client); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+enrollTokenCols+` FROM tokens WHERE client = ?
		ORDER BY created_at DESC, hash LIMIT ?`, client, checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("list tokens of %s: %w", client, err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens of %s: %w", client, err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// siteTokenCols are TokenInfo's columns: t is tokens, e the site's
// token_enrollments row (NULL when the token did not enroll the site).
const siteTokenCols = `t.hash, t.created_at, t.expires_at, COALESCE(e.enrolled_at, t.used_at), t.fleet, t.max_uses, t.uses, t.revoked_at`

func scanTokenInfo(r scanner) (TokenInfo, error) {
	var ti TokenInfo
	var hash string
	var created, expires, used, fleet, revoked int64
	if err := r.Scan(&hash, &created, &expires, &used, &fleet, &ti.MaxUses, &ti.Uses, &revoked); err != nil {
		return TokenInfo{}, err
	}
	ti.ID, ti.Fleet = TokenID(hash), fleet != 0
	ti.CreatedAt, ti.ExpiresAt, ti.UsedAt, ti.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(used), fromNanos(revoked)
	return ti, nil
}

// SiteEnrollment implements FleetTokens.
func (s *SQLite) SiteEnrollment(ctx context.Context, client, site string) (TokenInfo, error) {
	if err := need("site enrollment", client, site); err != nil {
		return TokenInfo{}, err
	}
	ti, err := scanTokenInfo(s.db.QueryRowContext(ctx, `SELECT `+siteTokenCols+` FROM token_enrollments e JOIN tokens t ON t.hash = e.hash
		WHERE e.client = ? AND e.site = ? ORDER BY e.enrolled_at DESC LIMIT 1`, client, site))
	if errors.Is(err, sql.ErrNoRows) {
		return TokenInfo{}, fmt.Errorf("enrollment of %s/%s: %w", client, site, ErrNotFound)
	}
	if err != nil {
		return TokenInfo{}, fmt.Errorf("site enrollment %s/%s: %w", client, site, err)
	}
	return ti, nil
}
