package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
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

// SQLite is the embedded Store: one database file, pure Go. Its code is
// portable SQL over database/sql and is also the PostgreSQL store's
// (postgres_shared.go); eng holds the few places the two differ.
type SQLite struct {
	db  *sql.DB
	eng engine
}

var _ Store = (*SQLite)(nil)

// engine is where the shared code's writes differ between the databases
// it runs on.
type engine interface {
	// begin starts a write transaction serialized with every other one
	// begun with the same key, whose statements see everything committed
	// before it was granted. SQLite's single writer gives both; PostgreSQL
	// takes a transaction advisory lock at READ COMMITTED.
	begin(ctx context.Context, db *sql.DB, key int64) (*sql.Tx, error)
	// publish queues c for delivery to the other processes sharing the
	// database when (and only if) tx commits.
	publish(ctx context.Context, tx *sql.Tx, c Change) error
}

// liteEngine is SQLite's: BEGIN IMMEDIATE (the DSN's _txlock) already
// serializes writers, and no other process shares the file.
type liteEngine struct{}

var _ engine = liteEngine{}

func (liteEngine) begin(ctx context.Context, db *sql.DB, _ int64) (*sql.Tx, error) {
	return db.BeginTx(ctx, nil)
}

func (liteEngine) publish(context.Context, *sql.Tx, Change) error { return nil }

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
	s := &SQLite{db: db, eng: liteEngine{}}
	if err := s.migrate(ctx, migrations, "migrations/*.sql"); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w; check the file is a Sitewarden database and writable", file, err)
	}
	return s, nil
}

// migrationLock is the lock key held while migrating, so that PostgreSQL
// replicas starting together apply each migration once.
const migrationLock = 0x5317_3A2D

// migrate applies, in one transaction, every migration matching glob in
// fsys (named NNNN_name.sql) that schema_migrations does not list.
func (s *SQLite) migrate(ctx context.Context, fsys fs.FS, glob string) error {
	names, err := fs.Glob(fsys, glob)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	sort.Strings(names)
	return s.lockedTx(ctx, migrationLock, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for _, name := range names {
			base := path.Base(name)
			v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
			if err != nil {
				return fmt.Errorf("migrate: migration %s has no numeric prefix", base)
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, v).Scan(&n); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if n > 0 {
				continue
			}
			body, err := fs.ReadFile(fsys, name)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("migrate: apply %s: %w", base, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, v, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		return nil
	})
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

// tx runs fn in a transaction (SERIALIZABLE on PostgreSQL).
func (s *SQLite) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	return finish(tx, fn(tx))
}

// lockedTx runs fn in a transaction serialized with every other one on
// key (engine.begin). Read-then-write transactions of the core store use
// it: on PostgreSQL they then neither lose an update nor fail with a
// serialization conflict. Cursors in particular must become visible in
// the order they are allocated, or a site that fetched past a later cursor
// would never see an earlier one that committed after it.
func (s *SQLite) lockedTx(ctx context.Context, key int64, fn func(*sql.Tx) error) error {
	tx, err := s.eng.begin(ctx, s.db, key)
	if err != nil {
		return err
	}
	return finish(tx, fn(tx))
}

func finish(tx *sql.Tx, err error) error {
	if err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// advisoryKey hashes parts to a lock key. A collision only makes two
// unrelated writers wait for each other.
func advisoryKey(parts ...string) int64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
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

// CreateToken implements Store. A fleet token needs no site and MaxUses in
// 1..MaxFleetUses; a one-site token needs a site and gets MaxUses 1.
func (s *SQLite) CreateToken(ctx context.Context, t Token) error {
	if err := need("create token", t.Hash, t.Tenant, t.Client); err != nil {
		return err
	}
	maxUses := 1
	switch {
	case t.Fleet && t.Site != "":
		return fmt.Errorf("create token: %w: a fleet token names no site", ErrInvalid)
	case t.Fleet && (t.MaxUses < 1 || t.MaxUses > MaxFleetUses):
		return fmt.Errorf("create token: %w: fleet token uses %d: use 1-%d", ErrInvalid, t.MaxUses, MaxFleetUses)
	case t.Fleet:
		maxUses = t.MaxUses
	case t.Site == "":
		return fmt.Errorf("create token: %w: empty key", ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO tokens (hash, tenant, client, site, created_at, expires_at, fleet, max_uses) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.Hash, t.Tenant, t.Client, t.Site, nanos(t.CreatedAt), nanos(t.ExpiresAt), t.Fleet, maxUses)
	if err != nil {
		if isConstraint(err) {
			return fmt.Errorf("create token: %w: hash exists", ErrConflict)
		}
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// tokenIn reads the token whose secret hashes to hash inside tx
// (ErrNotFound).
func tokenIn(ctx context.Context, tx *sql.Tx, hash string) (Token, error) {
	t, err := scanToken(tx.QueryRowContext(ctx, `SELECT `+enrollTokenCols+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, ErrNotFound
	}
	return t, err
}

// ConsumeToken implements Store.
func (s *SQLite) ConsumeToken(ctx context.Context, hash string, now time.Time) (Token, error) {
	if err := need("consume token", hash); err != nil {
		return Token{}, err
	}
	var t Token
	err := s.lockedTx(ctx, advisoryKey("tokens", hash), func(tx *sql.Tx) error {
		var err error
		if t, err = tokenIn(ctx, tx, hash); err != nil {
			return err
		}
		switch {
		case t.Fleet:
			return fmt.Errorf("%w: a fleet token enrolls with a site name (EnrollFleetSite)", ErrInvalid)
		case !t.UsedAt.IsZero():
			return ErrTokenUsed
		case !t.RevokedAt.IsZero():
			return ErrTokenRevoked
		case !t.ExpiresAt.After(now):
			return ErrTokenExpired
		}
		t.UsedAt, t.Uses = now.UTC(), 1
		res, err := tx.ExecContext(ctx, `UPDATE tokens SET used_at = ?, uses = 1 WHERE hash = ? AND used_at = 0`, nanos(now), hash)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrTokenUsed
		}
		return recordEnrollment(ctx, tx, hash, t.Client, t.Site, now)
	})
	if err != nil {
		return t, fmt.Errorf("consume token: %w", err)
	}
	return t, nil
}

// PutScope implements Store; it publishes a scope Change for the client.
func (s *SQLite) PutScope(ctx context.Context, v ScopeVersion) error {
	if err := need("put scope", v.Client); err != nil {
		return err
	}
	if v.Version == 0 {
		return fmt.Errorf("put scope %s: %w: version 0", v.Client, ErrInvalid)
	}
	return s.lockedTx(ctx, advisoryKey("scopes", v.Client), func(tx *sql.Tx) error {
		var latest sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(version) FROM scopes WHERE client = ?`, v.Client).Scan(&latest); err != nil {
			return fmt.Errorf("put scope %s: %w", v.Client, err)
		}
		if latest.Valid && uint64(latest.Int64) >= v.Version {
			return fmt.Errorf("put scope %s v%d: %w: v%d is stored", v.Client, v.Version, ErrConflict, latest.Int64)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO scopes (client, version, bundle, created_at) VALUES (?, ?, ?, ?)`,
			v.Client, int64(v.Version), nonNil(v.Bundle), nanos(v.CreatedAt)); err != nil {
			return fmt.Errorf("put scope %s v%d: %w", v.Client, v.Version, err)
		}
		return s.eng.publish(ctx, tx, Change{Client: v.Client, Topic: TopicScope, Version: v.Version})
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

// AddGoal implements Store; a new goal publishes a goals Change for its site.
func (s *SQLite) AddGoal(ctx context.Context, g Goal) (uint64, error) {
	if err := need("add goal", g.Client, g.Site, g.ID); err != nil {
		return 0, err
	}
	return s.addCursored(ctx, "goals", "id", TopicGoals, g.Client, g.Site, g.ID, g.Payload)
}

// AddDecision implements Store; a new decision publishes an approvals
// Change for its site.
func (s *SQLite) AddDecision(ctx context.Context, d Decision) (uint64, error) {
	if err := need("add decision", d.Client, d.Site, d.ApprovalID); err != nil {
		return 0, err
	}
	return s.addCursored(ctx, "decisions", "approval_id", TopicApprovals, d.Client, d.Site, d.ApprovalID, d.Payload)
}

// addCursored inserts into a cursor-ordered table (table, idCol and topic
// are constants of this file, never input). The site's lock makes cursors
// of one site commit in the order they were allocated (lockedTx).
func (s *SQLite) addCursored(ctx context.Context, table, idCol, topic, client, site, id string, payload []byte) (uint64, error) {
	var cursor int64
	err := s.lockedTx(ctx, advisoryKey(table, client, site), func(tx *sql.Tx) error {
		byID := `SELECT cursor FROM ` + table + ` WHERE client = ? AND ` + idCol + ` = ?`
		err := tx.QueryRowContext(ctx, byID, client, id).Scan(&cursor)
		if err == nil || !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		// (client, id) is unique across sites: on PostgreSQL a concurrent
		// insert of the same id for another site holds another lock, so
		// conflict here and read the winner's cursor.
		err = tx.QueryRowContext(ctx, `INSERT INTO `+table+` (client, site, `+idCol+`, payload) VALUES (?, ?, ?, ?)
			ON CONFLICT (client, `+idCol+`) DO NOTHING RETURNING cursor`, client, site, id, nonNil(payload)).Scan(&cursor)
		if errors.Is(err, sql.ErrNoRows) {
			return tx.QueryRowContext(ctx, byID, client, id).Scan(&cursor)
		}
		if err != nil {
			return err
		}
		return s.eng.publish(ctx, tx, Change{Client: client, Site: site, Topic: topic, Version: uint64(cursor)})
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
	res, err := s.db.ExecContext(ctx, `INSERT INTO items (kind, client, site, id, payload, received_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (kind, client, id) DO NOTHING`, string(it.Kind), it.Client, it.Site, it.ID, nonNil(it.Payload), nanos(it.ReceivedAt))
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
	return s.ItemsPage(ctx, kind, client, 0, limit)
}

func isConstraint(err error) bool {
	return err != nil && strings.Contains(err.Error(), "constraint failed")
}
