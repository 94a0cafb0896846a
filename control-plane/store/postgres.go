package store

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"

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
//
// Its Store, Stats and Review methods are the SQLite store's portable
// code, run through the adapting connector of postgres_shared.go;
// PostgreSQL's own are the change notifications (postgres_notify.go),
// Once, and retries of the few SERIALIZABLE transactions (postgres_stats.go).
type Postgres struct {
	*shared
	pool *pgxpool.Pool
	// origin names this process in the changes it publishes, so that its
	// own listener can skip them (it notified its sites directly).
	origin string
}

// shared names the embedded portable code (the SQLite store's) in Postgres.
type shared = SQLite

var _ Store = (*Postgres)(nil)

// defaultPoolConns is the connection pool's size unless the connection
// string sets pool_max_conns: a replica's sync streams query concurrently
// (every site fetching a new scope at once).
const defaultPoolConns = 16

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
	origin := hex.EncodeToString(b[:])
	p := &Postgres{shared: newSharedSQL(pool, origin), pool: pool, origin: origin}
	if err := p.migrate(ctx, pgMigrations, "migrations/postgres/*.sql"); err != nil {
		p.Close()
		return nil, fmt.Errorf("open store (PostgreSQL %s/%s): %w; check the server is up and the user may create tables", cfg.ConnConfig.Host, cfg.ConnConfig.Database, err)
	}
	return p, nil
}

// Origin names this process in the changes it publishes.
func (p *Postgres) Origin() string { return p.origin }

// Close closes the connection pool.
func (p *Postgres) Close() error {
	err := p.db.Close()
	p.pool.Close()
	return err
}
