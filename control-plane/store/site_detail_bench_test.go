package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkSiteGoalCounts counts one site's goals over 14 days when its
// client has 100,000 goals over 100 sites and 100 days (SQLite), with the
// goal_facts (client, site, day) index of migration 6 and, as the baseline
// in the same run, without it (the client's whole key range scanned).
func BenchmarkSiteGoalCounts(b *testing.B) {
	ctx := context.Background()
	s, err := OpenSQLite(ctx, filepath.Join(b.TempDir(), "cp.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const goals, sites, days = 100_000, 100, 100
	now := time.Now().UTC()
	day0 := dayOf(nanos(now)) - days
	err = s.tx(ctx, func(tx *sql.Tx) error {
		st, err := tx.PrepareContext(ctx, `INSERT INTO goal_facts (client, goal_id, site, workflow, day, status) VALUES ('acme', ?, ?, 'account_unlock', ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range goals {
			status := []string{"resolved", "escalated", "failed", "assigned"}[i%4]
			if _, err := st.ExecContext(ctx, fmt.Sprintf("g-%06d", i), fmt.Sprintf("site-%03d", i%sites), day0+int64(i/(goals/days)), status); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	from := now.Add(-14 * 24 * time.Hour)
	run := func(b *testing.B) {
		var n int
		for b.Loop() {
			cs, err := s.SiteGoalCounts(ctx, "acme", "site-042", from, now)
			if err != nil {
				b.Fatal(err)
			}
			n = len(cs)
		}
		if n == 0 {
			b.Fatal("no counts")
		}
	}
	b.Run("index", run)
	if _, err := s.db.ExecContext(ctx, `DROP INDEX goal_facts_site_day`); err != nil {
		b.Fatal(err)
	}
	b.Run("client-scan", run)
}
