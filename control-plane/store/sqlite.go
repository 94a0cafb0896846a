package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// SQLite is the embedded Store: one database file, pure Go.
type SQLite struct {
	db *sql.DB
}

var _ Store = (*SQLite)(nil)

// OpenSQLite opens (creating if needed) the database at file and applies
// every embedded migration it has not applied yet. Writes are durable when a
// method returns (WAL, synchronous=FULL).
func OpenSQLite(ctx context.Context, file string) (*SQLite, error) {
	if file == "" {
		return nil, fmt.Errorf("open store: %w: empty database path", ErrInvalid)
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "synchronous(FULL)", "busy_timeout(10000)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+file+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", file, err)
	}
	s := &SQLite{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w; check the file is a Sitewarden database and writable", file, err)
	}
	return s, nil
}

func (s *SQLite) migrate(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migrate: migration %s has no numeric prefix", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply %s: %w", base, err)
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixNano())
			return err
		}); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return nil
}

// SchemaVersion returns the newest migration applied.
func (s *SQLite) SchemaVersion(ctx context.Context) (int, error) {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	return int(v.Int64), nil
}

// Close closes the database.
func (s *SQLite) Close() error { return s.db.Close() }

func (s *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func need(op string, keys ...string) error {
	for _, k := range keys {
		if k == "" {
			return fmt.Errorf("%s: %w: empty key", op, ErrInvalid)
		}
	}
	return nil
}

func checkLimit(limit int) int {
	if limit <= 0 || limit > 10000 {
		return 10000
	}
	return limit
}

// UpsertSite implements Store.
func (s *SQLite) UpsertSite(ctx context.Context, st Site) error {
	if err := need("upsert site", st.Tenant, st.Client, st.Site); err != nil {
		return err
	}
	var auditKey []byte
	if len(st.AuditKey) > 0 {
		auditKey = st.AuditKey
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO sites (tenant, client, site, cert_serial, cert_not_after, enrolled_at, last_seen, runner_version, health, audit_key)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (client, site) DO UPDATE SET tenant = excluded.tenant, cert_serial = excluded.cert_serial,
			cert_not_after = excluded.cert_not_after, enrolled_at = excluded.enrolled_at,
			audit_key = COALESCE(excluded.audit_key, sites.audit_key)`,
		st.Tenant, st.Client, st.Site, st.CertSerial, nanos(st.CertNotAfter), nanos(st.EnrolledAt), nanos(st.LastSeen), st.RunnerVersion, st.Health, auditKey)
	if err != nil {
		return fmt.Errorf("upsert site %s/%s: %w", st.Client, st.Site, err)
	}
	return nil
}

const siteCols = `tenant, client, site, cert_serial, cert_not_after, enrolled_at, last_seen, runner_version, health, audit_key`

type scanner interface{ Scan(...any) error }

func scanSite(r scanner) (Site, error) {
	var st Site
	var notAfter, enrolled, seen int64
	if err := r.Scan(&st.Tenant, &st.Client, &st.Site, &st.CertSerial, &notAfter, &enrolled, &seen, &st.RunnerVersion, &st.Health, &st.AuditKey); err != nil {
		return Site{}, err
	}
	st.CertNotAfter, st.EnrolledAt, st.LastSeen = fromNanos(notAfter), fromNanos(enrolled), fromNanos(seen)
	return st, nil
}

// Site implements Store.
func (s *SQLite) Site(ctx context.Context, client, site string) (Site, error) {
	if err := need("get site", client, site); err != nil {
		return Site{}, err
	}
	st, err := scanSite(s.db.QueryRowContext(ctx, `SELECT `+siteCols+` FROM sites WHERE client = ? AND site = ?`, client, site))
	if errors.Is(err, sql.ErrNoRows) {
		return Site{}, fmt.Errorf("site %s/%s: %w", client, site, ErrNotFound)
	}
	if err != nil {
		return Site{}, fmt.Errorf("get site %s/%s: %w", client, site, err)
	}
	return st, nil
}

// Sites implements Store.
func (s *SQLite) Sites(ctx context.Context, client string) ([]Site, error) {
	if err := need("list sites", client); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+siteCols+` FROM sites WHERE client = ? ORDER BY site`, client)
	if err != nil {
		return nil, fmt.Errorf("list sites of %s: %w", client, err)
	}
	defer rows.Close()
	var out []Site
	for rows.Next() {
		st, err := scanSite(rows)
		if err != nil {
			return nil, fmt.Errorf("list sites of %s: %w", client, err)
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

// TouchSite implements Store.
func (s *SQLite) TouchSite(ctx context.Context, id Identity, seen time.Time, runnerVersion string, health []byte) error {
	if err := need("touch site", id.Client, id.Site); err != nil {
		return err
	}
	res, err := s.db.ExecContext(ctx, `UPDATE sites SET last_seen = ?, runner_version = ?, health = ? WHERE client = ? AND site = ?`,
		nanos(seen), runnerVersion, health, id.Client, id.Site)
	if err != nil {
		return fmt.Errorf("touch site %s/%s: %w", id.Client, id.Site, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("touch site %s/%s: %w", id.Client, id.Site, ErrNotFound)
	}
	return nil
}

// CreateToken implements Store.
func (s *SQLite) CreateToken(ctx context.Context, t Token) error {
	if err := need("create token", t.Hash, t.Tenant, t.Client, t.Site); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO tokens (hash, tenant, client, site, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Tenant, t.Client, t.Site, nanos(t.CreatedAt), nanos(t.ExpiresAt))
	if err != nil {
		if isConstraint(err) {
			return fmt.Errorf("create token: %w: hash exists", ErrConflict)
		}
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// ConsumeToken implements Store.
func (s *SQLite) ConsumeToken(ctx context.Context, hash string, now time.Time) (Token, error) {
	if err := need("consume token", hash); err != nil {
		return Token{}, err
	}
	var t Token
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var created, expires, used int64
		err := tx.QueryRowContext(ctx, `SELECT hash, tenant, client, site, created_at, expires_at, used_at FROM tokens WHERE hash = ?`, hash).
			Scan(&t.Hash, &t.Tenant, &t.Client, &t.Site, &created, &expires, &used)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		t.CreatedAt, t.ExpiresAt, t.UsedAt = fromNanos(created), fromNanos(expires), fromNanos(used)
		switch {
		case used != 0:
			return ErrTokenUsed
		case !t.ExpiresAt.After(now):
			return ErrTokenExpired
		}
		t.UsedAt = now.UTC()
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET used_at = ? WHERE hash = ? AND used_at = 0`, nanos(now), hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrTokenUsed
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("consume token: %w", err)
	}
	return t, nil
}

// PutScope implements Store.
func (s *SQLite) PutScope(ctx context.Context, v ScopeVersion) error {
	if err := need("put scope", v.Client); err != nil {
		return err
	}
	if v.Version == 0 {
		return fmt.Errorf("put scope %s: %w: version 0", v.Client, ErrInvalid)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM scopes WHERE client = ?`, v.Client).Scan(&latest); err != nil {
			return fmt.Errorf("put scope %s: %w", v.Client, err)
		}
		if latest.Valid && uint64(latest.Int64) >= v.Version {
			return fmt.Errorf("put scope %s v%d: %w: v%d is stored", v.Client, v.Version, ErrConflict, latest.Int64)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO scopes (client, version, bundle, created_at) VALUES (?, ?, ?, ?)`,
			v.Client, int64(v.Version), v.Bundle, nanos(v.CreatedAt)); err != nil {
			return fmt.Errorf("put scope %s v%d: %w", v.Client, v.Version, err)
		}
		return nil
	})
}

// LatestScope implements Store.
func (s *SQLite) LatestScope(ctx context.Context, client string) (ScopeVersion, error) {
	if err := need("latest scope", client); err != nil {
		return ScopeVersion{}, err
	}
	v := ScopeVersion{Client: client}
	var ver, created int64
	err := s.db.QueryRowContext(ctx, `SELECT version, bundle, created_at FROM scopes WHERE client = ? ORDER BY version DESC LIMIT 1`, client).
		Scan(&ver, &v.Bundle, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return ScopeVersion{}, fmt.Errorf("scope of %s: %w", client, ErrNotFound)
	}
	if err != nil {
		return ScopeVersion{}, fmt.Errorf("latest scope of %s: %w", client, err)
	}
	v.Version, v.CreatedAt = uint64(ver), fromNanos(created)
	return v, nil
}

// AddGoal implements Store.
func (s *SQLite) AddGoal(ctx context.Context, g Goal) (uint64, error) {
	if err := need("add goal", g.Client, g.Site, g.ID); err != nil {
		return 0, err
	}
	return s.addCursored(ctx, "goals", "id", g.Client, g.Site, g.ID, g.Payload)
}

// AddDecision implements Store.
func (s *SQLite) AddDecision(ctx context.Context, d Decision) (uint64, error) {
	if err := need("add decision", d.Client, d.Site, d.ApprovalID); err != nil {
		return 0, err
	}
	return s.addCursored(ctx, "decisions", "approval_id", d.Client, d.Site, d.ApprovalID, d.Payload)
}

// addCursored inserts into a cursor-ordered table (table and idCol are
// constants of this file, never input).
func (s *SQLite) addCursored(ctx context.Context, table, idCol, client, site, id string, payload []byte) (uint64, error) {
	if payload == nil {
		payload = []byte{}
	}
	var cursor int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT cursor FROM `+table+` WHERE client = ? AND `+idCol+` = ?`, client, id).Scan(&cursor)
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO `+table+` (client, site, `+idCol+`, payload) VALUES (?, ?, ?, ?)`, client, site, id, payload)
		if err != nil {
			return err
		}
		cursor, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("add to %s %s/%s: %w", table, client, id, err)
	}
	return uint64(cursor), nil
}

// GoalsAfter implements Store.
func (s *SQLite) GoalsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]Goal, error) {
	if err := need("goals after", client, site); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT cursor, id, payload FROM goals WHERE client = ? AND site = ? AND cursor > ? ORDER BY cursor LIMIT ?`,
		client, site, int64(after), checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("goals of %s/%s: %w", client, site, err)
	}
	defer rows.Close()
	var out []Goal
	for rows.Next() {
		g := Goal{Client: client, Site: site}
		var c int64
		if err := rows.Scan(&c, &g.ID, &g.Payload); err != nil {
			return nil, fmt.Errorf("goals of %s/%s: %w", client, site, err)
		}
		g.Cursor = uint64(c)
		out = append(out, g)
	}
	return out, rows.Err()
}

// DecisionsAfter implements Store.
func (s *SQLite) DecisionsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]Decision, error) {
	if err := need("decisions after", client, site); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT cursor, approval_id, payload FROM decisions WHERE client = ? AND site = ? AND cursor > ? ORDER BY cursor LIMIT ?`,
		client, site, int64(after), checkLimit(limit))
	if err != nil {
		return nil, fmt.Errorf("decisions of %s/%s: %w", client, site, err)
	}
	defer rows.Close()
	var out []Decision
	for rows.Next() {
		d := Decision{Client: client, Site: site}
		var c int64
		if err := rows.Scan(&c, &d.ApprovalID, &d.Payload); err != nil {
			return nil, fmt.Errorf("decisions of %s/%s: %w", client, site, err)
		}
		d.Cursor = uint64(c)
		out = append(out, d)
	}
	return out, rows.Err()
}

// PutItem implements Store.
func (s *SQLite) PutItem(ctx context.Context, it Item) (bool, error) {
	if !it.Kind.Valid() {
		return false, fmt.Errorf("put item: %w: kind %q", ErrInvalid, it.Kind)
	}
	if err := need("put "+string(it.Kind), it.Client, it.Site, it.ID); err != nil {
		return false, err
	}
	if it.Payload == nil {
		it.Payload = []byte{}
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO items (kind, client, site, id, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, client, id) DO NOTHING`, string(it.Kind), it.Client, it.Site, it.ID, it.Payload, nanos(it.ReceivedAt))
	if err != nil {
		return false, fmt.Errorf("put %s %s/%s: %w", it.Kind, it.Client, it.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("put %s %s/%s: %w", it.Kind, it.Client, it.ID, err)
	}
	return n == 1, nil
}

// Items implements Store.
func (s *SQLite) Items(ctx context.Context, kind Kind, client string, limit int) ([]Item, error) {
	if err := need("list items", string(kind), client); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, `SELECT site, id, payload, received_at FROM items WHERE kind = ? AND client = ? ORDER BY rowid LIMIT ?`,
		string(kind), client, checkLimit(limit))
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

func isConstraint(err error) bool {
	return err != nil && strings.Contains(err.Error(), "constraint failed")
}
