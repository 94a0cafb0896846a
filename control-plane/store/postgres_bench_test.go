package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
)

// BenchmarkPostgresCoreWrites measures what running the shared
// database/sql code costs on PostgreSQL: each iteration stores an
// escalation (PutItem) and adds a goal (AddGoal: lock, read, insert,
// notify) through the store, and does the same with pgx directly on the
// same database, the way the native pgx store did (the baseline). It
// reports both medians and their ratios.
func BenchmarkPostgresCoreWrites(b *testing.B) {
	dsn := pgtest.Start(b, pgtest.Options{}).CreateDatabase(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	st, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	var item, rawItem, goal, rawGoal []time.Duration
	timed := func(into *[]time.Duration, fn func() error) {
		start := time.Now()
		if err := fn(); err != nil {
			b.Fatal(err)
		}
		*into = append(*into, time.Since(start))
	}
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprint(i)
		timed(&item, func() error {
			_, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "s" + id, Payload: []byte(id), ReceivedAt: time.Now()})
			return err
		})
		timed(&rawItem, func() error {
			_, err := pool.Exec(ctx, `INSERT INTO items (kind, client, site, id, payload, received_at) VALUES ($1, $2, $3, $4, $5, $6)
				ON CONFLICT (kind, client, id) DO NOTHING`, "escalation", "acme", "hq", "r"+id, []byte(id), time.Now().UnixNano())
			return err
		})
		timed(&goal, func() error {
			_, err := st.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: "s" + id, Payload: []byte(id)})
			return err
		})
		timed(&rawGoal, func() error { return pgxAddGoal(ctx, pool, "acme", "hq", "r"+id, []byte(id)) })
	}
	b.StopTimer()
	med := func(d []time.Duration) float64 {
		slices.Sort(d)
		return float64(d[len(d)/2].Microseconds()) / 1000
	}
	b.ReportMetric(med(item), "ms-p50-putitem")
	b.ReportMetric(med(rawItem), "ms-p50-putitem-pgx")
	b.ReportMetric(med(item)/med(rawItem), "ratio-putitem/pgx")
	b.ReportMetric(med(goal), "ms-p50-addgoal")
	b.ReportMetric(med(rawGoal), "ms-p50-addgoal-pgx")
	b.ReportMetric(med(goal)/med(rawGoal), "ratio-addgoal/pgx")
}

// pgxAddGoal is the baseline: AddGoal as the native pgx store wrote it.
func pgxAddGoal(ctx context.Context, pool *pgxpool.Pool, client, site, id string, payload []byte) error {
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "goals/"+client+"/"+site); err != nil {
			return err
		}
		var cursor int64
		err := tx.QueryRow(ctx, `SELECT cursor FROM goals WHERE client = $1 AND id = $2`, client, id).Scan(&cursor)
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO goals (client, site, id, payload) VALUES ($1, $2, $3, $4)
			ON CONFLICT (client, id) DO NOTHING RETURNING cursor`, client, site, id, payload).Scan(&cursor); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `SELECT pg_notify($1, $2)`, store.ChangesChannel, fmt.Sprintf(`{"c":%q,"s":%q,"t":"goals","v":%d}`, client, site, cursor))
		return err
	})
}
