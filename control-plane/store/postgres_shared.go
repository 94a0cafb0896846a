package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// The store's code is written once, in portable SQL over database/sql
// (sqlite*.go), and runs on PostgreSQL through a connector that adapts the
// few things that differ:
//
//   - placeholders: SQLite's ? become $1, $2, ... (outside quotes);
//   - row order: SQLite's rowid is the seq identity column on PostgreSQL
//     (items, audit_records);
//   - constraint errors: unique and foreign key violations carry
//     "constraint failed", the words the SQLite code matches;
//   - isolation: transactions default to SERIALIZABLE, the guarantee
//     SQLite's single writer gives the read-then-write transactions there
//     (a conflict is an error, 40001, never a lost update; the Postgres
//     methods that run such transactions retry it).
//
// and through pgEngine, the dialect hook for what SQL alone cannot say:
// the core store's read-then-write transactions (lockedTx) run at READ
// COMMITTED under a transaction advisory lock on their key (a site's
// cursor, a client's scope, a token), so they wait for each other instead
// of failing with a serialization conflict, and scope versions, goals and
// decisions publish a Change with pg_notify in their transaction.
//
// The contract suites (storetest.Run, storetest.RunReview, the stats
// tests) run against both stores.

// newSharedSQL returns the SQLite implementation over a database/sql handle on
// pool, adapted as above; origin names this process in the changes it
// publishes.
func newSharedSQL(pool *pgxpool.Pool, origin string) *SQLite {
	db := sql.OpenDB(rebindConnector{stdlib.GetPoolConnector(pool)})
	// Idle connections go back to pool, which Once shares.
	db.SetMaxIdleConns(0)
	return &SQLite{db: db, eng: pgEngine{origin: origin}}
}

// pgEngine is PostgreSQL's engine.
type pgEngine struct{ origin string }

var _ engine = pgEngine{}

// begin implements engine: READ COMMITTED, so that each statement after the
// lock sees what the lock's previous holder committed (a SERIALIZABLE
// snapshot would be taken before the wait).
func (pgEngine) begin(ctx context.Context, db *sql.DB, key int64) (*sql.Tx, error) {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelReadCommitted})
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?)`, key); err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	return tx, nil
}

// publish implements engine with NOTIFY on ChangesChannel: PostgreSQL
// delivers it to every listener when (and only if) tx commits.
func (e pgEngine) publish(ctx context.Context, tx *sql.Tx, c Change) error {
	c.Origin = e.origin
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `SELECT pg_notify(?, ?)`, ChangesChannel, string(b))
	return err
}

type rebindConnector struct{ c driver.Connector }

func (r rebindConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := r.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{c: c.(*stdlib.Conn)}, nil
}

func (r rebindConnector) Driver() driver.Driver { return r.c.Driver() }

type rebindConn struct{ c *stdlib.Conn }

var (
	_ driver.QueryerContext     = (*rebindConn)(nil)
	_ driver.ExecerContext      = (*rebindConn)(nil)
	_ driver.ConnPrepareContext = (*rebindConn)(nil)
	_ driver.ConnBeginTx        = (*rebindConn)(nil)
	_ driver.NamedValueChecker  = (*rebindConn)(nil)
	_ driver.SessionResetter    = (*rebindConn)(nil)
	_ driver.Pinger             = (*rebindConn)(nil)
)

func (r *rebindConn) Prepare(q string) (driver.Stmt, error) { return r.c.Prepare(rebind(q)) }
func (r *rebindConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return r.c.PrepareContext(ctx, rebind(q))
}
func (r *rebindConn) Close() error { return r.c.Close() }
func (r *rebindConn) Begin() (driver.Tx, error) {
	return r.BeginTx(context.Background(), driver.TxOptions{})
}
func (r *rebindConn) CheckNamedValue(*driver.NamedValue) error { return nil }
func (r *rebindConn) ResetSession(ctx context.Context) error   { return r.c.ResetSession(ctx) }
func (r *rebindConn) Ping(ctx context.Context) error           { return r.c.Ping(ctx) }

func (r *rebindConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.Isolation == driver.IsolationLevel(sql.LevelDefault) {
		opts.Isolation = driver.IsolationLevel(sql.LevelSerializable)
	}
	return r.c.BeginTx(ctx, opts)
}

func (r *rebindConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	res, err := r.c.ExecContext(ctx, rebind(q), pgArgs(args))
	return res, constraintErr(err)
}

func (r *rebindConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	rows, err := r.c.QueryContext(ctx, rebind(q), pgArgs(args))
	return rows, constraintErr(err)
}

// pgArgs turns the values database/sql passes through unchanged (our
// CheckNamedValue accepts all) into ones pgx encodes: named string and
// types (Kind, Grade, ProposalStatus) to string, unsigned and plain ints
// to int64, flags to 0/1 and times to Unix nanoseconds (as the SQLite
// columns hold them).
func pgArgs(args []driver.NamedValue) []driver.NamedValue {
	for i, a := range args {
		switch v := a.Value.(type) {
		case Kind:
			args[i].Value = string(v)
		case Grade:
			args[i].Value = string(v)
		case ProposalStatus:
			args[i].Value = string(v)
		case uint64:
			args[i].Value = int64(v)
		case int:
			args[i].Value = int64(v)
		case bool:
			// SQLite stores flags as 0/1 INTEGER; so do these tables.
			if v {
				args[i].Value = int64(1)
			} else {
				args[i].Value = int64(0)
			}
		case time.Time:
			args[i].Value = nanos(v)
		}
	}
	return args
}

// constraintErr makes PostgreSQL's integrity violations read as SQLite's
// (isConstraint), keeping the original error wrapped.
func constraintErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23") {
		return fmt.Errorf("constraint failed: %w", err)
	}
	return err
}

// rebind rewrites SQLite-flavoured SQL for PostgreSQL: ? placeholders to
// $n and the rowid column to seq, leaving quoted text alone.
func rebind(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		ch := q[i]
		switch {
		case ch == '\'' || ch == '"':
			j := strings.IndexByte(q[i+1:], ch)
			if j < 0 {
				b.WriteString(q[i:])
				return b.String()
			}
			b.WriteString(q[i : i+j+2])
			i += j + 1
		case ch == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		case (ch == 'r' || ch == 'R') && strings.EqualFold(safeSlice(q, i, i+5), "rowid") && !identChar(q, i-1) && !identChar(q, i+5):
			b.WriteString("seq")
			i += 4
		default:
			b.WriteByte(ch)
		}
	}
	return b.String()
}

func safeSlice(s string, i, j int) string {
	if j > len(s) {
		return ""
	}
	return s[i:j]
}

func identChar(s string, i int) bool {
	if i < 0 || i >= len(s) {
		return false
	}
	c := s[i]
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
