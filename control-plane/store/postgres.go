package store

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The PostgreSQL migrations mirror migrations/*.sql one for one (same
// number, same name, same tables and keys); only the body differs where
// the dialects do (types, identity columns, quoting). A test checks the two
// lists match.
//
//go:embed migrations/postgres/*.sql
var pgMigrations embed.FS

// Postgres is the Store for several control-plane replicas sharing one
// PostgreSQL database. Writes are durable when a method returns (as
// durable as the server's synchronous_commit makes them). Scope versions,
// goals and decisions also publish a Change (see ListenChanges) in the
// same transaction, so every replica learns of them on commit.
type Postgres struct {
	pool *pgxpool.Pool
	// shared runs the portable Stats and Review code (postgres_shared.go).
	shared *SQLite
	// origin names this process in the changes it publishes, so that its
	// own listener can skip them (it notified its sites directly).
	origin string
}

var _ Store = (*Postgres)(nil)

// defaultPoolConns is the connection pool's size unless the connection
// string sets pool_max_conns: a replica's sync streams query concurrently
// (every site fetching a new scope at once).
const defaultPoolConns = 16

// migrationLock is the advisory lock key held while migrating, so that
// replicas starting together apply each migration once.
const migrationLock = 0x5317_3A2D

// OpenPostgres connects to the database named by dsn (a postgres:// URL or
// key=value string; pool_max_conns and the other pgxpool parameters
// apply) and applies every embedded migration it has not applied yet.
func OpenPostgres(ctx context.Context, dsn string) (*Postgres, error) {
	if dsn == "" {
		return nil, fmt.Errorf("open store: %w: empty PostgreSQL connection string", ErrInvalid)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included: keep it out.
		return nil, fmt.Errorf("open store: %w: PostgreSQL connection string does not parse; use postgres://user@host:port/db (with sslmode and other parameters as a query)", ErrInvalid)
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = defaultPoolConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open store: connect to PostgreSQL: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	p := &Postgres{pool: pool, origin: hex.EncodeToString(b[:]), shared: newSharedSQL(pool)}
	if err := p.migrate(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open store (PostgreSQL %s/%s): %w; check the server is up and the user may create tables", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return p, nil
}

// Origin names this process in the changes it publishes.
func (p *Postgres) Origin() string { return p.origin }

// pgMigrationNames lists the PostgreSQL migrations in order.
func pgMigrationNames() ([]string, error) {
	names, err := fs.Glob(pgMigrations, "migrations/postgres/*.sql")
	sort.Strings(names)
	return names, err
}

func (p *Postgres) migrate(ctx context.Context) error {
	names, err := pgMigrationNames()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return p.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		for _, name := range names {
			base := path.Base(name)
			v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
			if err != nil {
				return fmt.Errorf("migrate: migration %s has no numeric prefix", base)
			}
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, v).Scan(&n); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if n > 0 {
				continue
			}
			body, err := pgMigrations.ReadFile(name)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("migrate: apply %s: %w", base, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, v, time.Now().UnixNano()); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		return nil
	})
}

// SchemaVersion returns the newest migration applied.
func (p *Postgres) SchemaVersion(ctx context.Context) (int, error) {
	var v *int
	if err := p.pool.QueryRow(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// Close closes the connection pool.
func (p *Postgres) Close() error {
	err := p.shared.db.Close()
	p.pool.Close()
	return err
}

func (p *Postgres) tx(ctx context.Context, fn func(pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, p.pool, fn)
}

// lockKey serializes transactions on one key (released at commit): what
// SQLite's single writer gives for free. Cursors in particular must become
// visible in the order they are allocated, or a site that fetched past a
// later cursor would never see an earlier one that committed after it.
func lockKey(ctx context.Context, tx pgx.Tx, parts ...string) error {
	_, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, advisoryKey(parts...))
	return err
}

// advisoryKey hashes parts to an advisory lock key. A collision only makes
// two unrelated writers wait for each other.
func advisoryKey(parts ...string) int64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return int64(h.Sum64())
}

// isUnique reports a unique, primary key or foreign key violation (the
// constraint failures SQLite's isConstraint reports).
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "23505" || pe.Code == "23503")
}

// UpsertSite implements Store.
func (p *Postgres) UpsertSite(ctx context.Context, st Site) error {
	if err := need("upsert site", st.Tenant, st.Client, st.Site); err != nil {
		return err
	}
	var auditKey []byte
	if len(st.AuditKey) > 0 {
		auditKey = st.AuditKey
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO sites (tenant, client, site, cert_serial, cert_not_after, enrolled_at, last_seen, runner_version, health, audit_key)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (client, site) DO UPDATE SET tenant = excluded.tenant, cert_serial = excluded.cert_serial,
			cert_not_after = excluded.cert_not_after, enrolled_at = excluded.enrolled_at,
			audit_key = COALESCE(excluded.audit_key, sites.audit_key)`,
		st.Tenant, st.Client, st.Site, st.CertSerial, nanos(st.CertNotAfter), nanos(st.EnrolledAt), nanos(st.LastSeen), st.RunnerVersion, st.Health, auditKey)
	if err != nil {
		return fmt.Errorf("upsert site %s/%s: %w", st.Client, st.Site, err)
	}
	return nil
}

// Site implements Store.
func (p *Postgres) Site(ctx context.Context, client, site string) (Site, error) {
	if err := need("get site", client, site); err != nil {
		return Site{}, err
	}
	st, err := scanSite(p.pool.QueryRow(ctx, `SELECT `+siteCols+` FROM sites WHERE client = $1 AND site = $2`, client, site))
	if errors.Is(err, pgx.ErrNoRows) {
		return Site{}, fmt.Errorf("site %s/%s: %w", client, site, ErrNotFound)
	}
	if err != nil {
		return Site{}, fmt.Errorf("get site %s/%s: %w", client, site, err)
	}
	return st, nil
}

// collect scans every row with scan, closing rows.
func collect[T any](rows pgx.Rows, err error, scan func(pgx.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// Sites implements Store.
func (p *Postgres) Sites(ctx context.Context, client string) ([]Site, error) {
	if err := need("list sites", client); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT `+siteCols+` FROM sites WHERE client = $1 ORDER BY site`, client)
	out, err := collect(rows, err, func(r pgx.Rows) (Site, error) { return scanSite(r) })
	if err != nil {
		return nil, fmt.Errorf("list sites of %s: %w", client, err)
	}
	return out, nil
}

// TouchSite implements Store.
func (p *Postgres) TouchSite(ctx context.Context, id Identity, seen time.Time, runnerVersion string, health []byte) error {
	if err := need("touch site", id.Client, id.Site); err != nil {
		return err
	}
	tag, err := p.pool.Exec(ctx, `UPDATE sites SET last_seen = $1, runner_version = $2, health = $3 WHERE client = $4 AND site = $5`,
		nanos(seen), runnerVersion, health, id.Client, id.Site)
	if err != nil {
		return fmt.Errorf("touch site %s/%s: %w", id.Client, id.Site, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("touch site %s/%s: %w", id.Client, id.Site, ErrNotFound)
	}
	return nil
}

// CreateToken implements Store.
func (p *Postgres) CreateToken(ctx context.Context, t Token) error {
	if err := need("create token", t.Hash, t.Tenant, t.Client, t.Site); err != nil {
		return err
	}
	_, err := p.pool.Exec(ctx, `INSERT INTO tokens (hash, tenant, client, site, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Hash, t.Tenant, t.Client, t.Site, nanos(t.CreatedAt), nanos(t.ExpiresAt))
	if isUnique(err) {
		return fmt.Errorf("create token: %w: hash exists", ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

// ConsumeToken implements Store.
func (p *Postgres) ConsumeToken(ctx context.Context, hash string, now time.Time) (Token, error) {
	if err := need("consume token", hash); err != nil {
		return Token{}, err
	}
	var t Token
	err := p.tx(ctx, func(tx pgx.Tx) error {
		var created, expires, used int64
		err := tx.QueryRow(ctx, `SELECT hash, tenant, client, site, created_at, expires_at, used_at FROM tokens WHERE hash = $1 FOR UPDATE`, hash).
			Scan(&t.Hash, &t.Tenant, &t.Client, &t.Site, &created, &expires, &used)
		if errors.Is(err, pgx.ErrNoRows) {
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
		tag, err := tx.Exec(ctx, `UPDATE tokens SET used_at = $1 WHERE hash = $2 AND used_at = 0`, nanos(now), hash)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return ErrTokenUsed
		}
		return nil
	})
	if err != nil {
		return t, fmt.Errorf("consume token: %w", err)
	}
	return t, nil
}

// PutScope implements Store; it publishes a scope Change for the client.
func (p *Postgres) PutScope(ctx context.Context, v ScopeVersion) error {
	if err := need("put scope", v.Client); err != nil {
		return err
	}
	if v.Version == 0 {
		return fmt.Errorf("put scope %s: %w: version 0", v.Client, ErrInvalid)
	}
	return p.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, "scopes", v.Client); err != nil {
			return fmt.Errorf("put scope %s: %w", v.Client, err)
		}
		var latest *int64
		if err := tx.QueryRow(ctx, `SELECT MAX(version) FROM scopes WHERE client = $1`, v.Client).Scan(&latest); err != nil {
			return fmt.Errorf("put scope %s: %w", v.Client, err)
		}
		if latest != nil && uint64(*latest) >= v.Version {
			return fmt.Errorf("put scope %s v%d: %w: v%d is stored", v.Client, v.Version, ErrConflict, *latest)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO scopes (client, version, bundle, created_at) VALUES ($1, $2, $3, $4)`,
			v.Client, int64(v.Version), nonNil(v.Bundle), nanos(v.CreatedAt)); err != nil {
			return fmt.Errorf("put scope %s v%d: %w", v.Client, v.Version, err)
		}
		return p.publish(ctx, tx, Change{Client: v.Client, Topic: TopicScope, Version: v.Version})
	})
}

// LatestScope implements Store.
func (p *Postgres) LatestScope(ctx context.Context, client string) (ScopeVersion, error) {
	if err := need("latest scope", client); err != nil {
		return ScopeVersion{}, err
	}
	v := ScopeVersion{Client: client}
	var ver, created int64
	err := p.pool.QueryRow(ctx, `SELECT version, bundle, created_at FROM scopes WHERE client = $1 ORDER BY version DESC LIMIT 1`, client).
		Scan(&ver, &v.Bundle, &created)
	if errors.Is(err, pgx.ErrNoRows) {
		return ScopeVersion{}, fmt.Errorf("scope of %s: %w", client, ErrNotFound)
	}
	if err != nil {
		return ScopeVersion{}, fmt.Errorf("latest scope of %s: %w", client, err)
	}
	v.Version, v.CreatedAt = uint64(ver), fromNanos(created)
	return v, nil
}

// AddGoal implements Store; a new goal publishes a goals Change for its site.
func (p *Postgres) AddGoal(ctx context.Context, g Goal) (uint64, error) {
	if err := need("add goal", g.Client, g.Site, g.ID); err != nil {
		return 0, err
	}
	return p.addCursored(ctx, "goals", "id", TopicGoals, g.Client, g.Site, g.ID, g.Payload)
}

// AddDecision implements Store; a new decision publishes an approvals
// Change for its site.
func (p *Postgres) AddDecision(ctx context.Context, d Decision) (uint64, error) {
	if err := need("add decision", d.Client, d.Site, d.ApprovalID); err != nil {
		return 0, err
	}
	return p.addCursored(ctx, "decisions", "approval_id", TopicApprovals, d.Client, d.Site, d.ApprovalID, d.Payload)
}

// addCursored inserts into a cursor-ordered table (table, idCol and topic
// are constants of this file, never input). The site's lock makes cursors
// of one site commit in the order they were allocated.
func (p *Postgres) addCursored(ctx context.Context, table, idCol, topic, client, site, id string, payload []byte) (uint64, error) {
	var cursor int64
	err := p.tx(ctx, func(tx pgx.Tx) error {
		if err := lockKey(ctx, tx, table, client, site); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT cursor FROM `+table+` WHERE client = $1 AND `+idCol+` = $2`, client, id).Scan(&cursor)
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// (client, id) is unique across sites: a concurrent insert of the
		// same id for another site holds another lock, so conflict here.
		err = tx.QueryRow(ctx, `INSERT INTO `+table+` (client, site, `+idCol+`, payload) VALUES ($1, $2, $3, $4)
			ON CONFLICT (client, `+idCol+`) DO NOTHING RETURNING cursor`, client, site, id, nonNil(payload)).Scan(&cursor)
		if errors.Is(err, pgx.ErrNoRows) {
			return tx.QueryRow(ctx, `SELECT cursor FROM `+table+` WHERE client = $1 AND `+idCol+` = $2`, client, id).Scan(&cursor)
		}
		if err != nil {
			return err
		}
		return p.publish(ctx, tx, Change{Client: client, Site: site, Topic: topic, Version: uint64(cursor)})
	})
	if err != nil {
		return 0, fmt.Errorf("add to %s %s/%s: %w", table, client, id, err)
	}
	return uint64(cursor), nil
}

// GoalsAfter implements Store.
func (p *Postgres) GoalsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]Goal, error) {
	if err := need("goals after", client, site); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT cursor, id, payload FROM goals WHERE client = $1 AND site = $2 AND cursor > $3 ORDER BY cursor LIMIT $4`,
		client, site, int64(after), checkLimit(limit))
	out, err := collect(rows, err, func(r pgx.Rows) (Goal, error) {
		g := Goal{Client: client, Site: site}
		var c int64
		err := r.Scan(&c, &g.ID, &g.Payload)
		g.Cursor = uint64(c)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("goals of %s/%s: %w", client, site, err)
	}
	return out, nil
}

// DecisionsAfter implements Store.
func (p *Postgres) DecisionsAfter(ctx context.Context, client, site string, after uint64, limit int) ([]Decision, error) {
	if err := need("decisions after", client, site); err != nil {
		return nil, err
	}
	rows, err := p.pool.Query(ctx, `SELECT cursor, approval_id, payload FROM decisions WHERE client = $1 AND site = $2 AND cursor > $3 ORDER BY cursor LIMIT $4`,
		client, site, int64(after), checkLimit(limit))
	out, err := collect(rows, err, func(r pgx.Rows) (Decision, error) {
		d := Decision{Client: client, Site: site}
		var c int64
		err := r.Scan(&c, &d.ApprovalID, &d.Payload)
		d.Cursor = uint64(c)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("decisions of %s/%s: %w", client, site, err)
	}
	return out, nil
}

// PutItem implements Store.
func (p *Postgres) PutItem(ctx context.Context, it Item) (bool, error) {
	if !it.Kind.Valid() {
		return false, fmt.Errorf("put item: %w: kind %q", ErrInvalid, it.Kind)
	}
	if err := need("put "+string(it.Kind), it.Client, it.Site, it.ID); err != nil {
		return false, err
	}
	tag, err := p.pool.Exec(ctx, `INSERT INTO items (kind, client, site, id, payload, received_at) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (kind, client, id) DO NOTHING`, string(it.Kind), it.Client, it.Site, it.ID, nonNil(it.Payload), nanos(it.ReceivedAt))
	if err != nil {
		return false, fmt.Errorf("put %s %s/%s: %w", it.Kind, it.Client, it.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// Items implements Store.
func (p *Postgres) Items(ctx context.Context, kind Kind, client string, limit int) ([]Item, error) {
	return p.ItemsPage(ctx, kind, client, 0, limit)
}
