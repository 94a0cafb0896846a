package store_test

import (
	"context"
	"errors"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
	"github.com/sitewarden/sitewarden/control-plane/store/storetest"
)

// TestPostgresContract runs the contract suite against a real PostgreSQL
// server (one fresh database per case).
func TestPostgresContract(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	storetest.Run(t, func(t *testing.T) store.Store {
		return openPG(t, srv.CreateDatabase(t))
	})
}

func openPG(t *testing.T, dsn string) *store.Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// twoReplicas opens two stores on one fresh database, as two replicas
// would, closed when the test ends.
func twoReplicas(t *testing.T) (a, b *store.Postgres) {
	t.Helper()
	dsn := pgtest.Start(t, pgtest.Options{}).CreateDatabase(t)
	a, b = openPG(t, dsn), openPG(t, dsn)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestMigrationListsMatch checks every SQLite migration has its PostgreSQL
// body under the same number and name, and no other.
func TestMigrationListsMatch(t *testing.T) {
	names := func(glob string) []string {
		m, err := filepath.Glob(glob)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m {
			m[i] = path.Base(filepath.ToSlash(m[i]))
		}
		slices.Sort(m)
		return m
	}
	lite, pg := names("migrations/*.sql"), names("migrations/postgres/*.sql")
	if len(lite) == 0 || !slices.Equal(lite, pg) {
		t.Errorf("migrations differ:\n  sqlite:   %v\n  postgres: %v\nwrite migrations/postgres/<same name>.sql for each SQLite migration", lite, pg)
	}
}

// TestPostgresConcurrentReplicas opens two stores on one database (two
// replicas) at once: migrations apply once, and cursors a site reads while
// both replicas add goals for it arrive with no gap (a later cursor never
// becomes visible before an earlier one).
func TestPostgresConcurrentReplicas(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDatabase(t)
	var a, b *store.Postgres
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = openPG(t, dsn) }()
	go func() { defer wg.Done(); b = openPG(t, dsn) }()
	wg.Wait()
	if a == nil || b == nil {
		t.FailNow()
	}
	defer a.Close()
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if v, err := a.SchemaVersion(ctx); err != nil || v < 3 {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
	const writers, each = 6, 40
	var written atomic.Int64
	var wwg sync.WaitGroup
	for w := range writers {
		wwg.Add(1)
		go func() {
			defer wwg.Done()
			s := []*store.Postgres{a, b}[w%2]
			for i := range each {
				id := string(rune('a'+w)) + "-" + time.Duration(i).String()
				if _, err := s.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: id, Payload: []byte(id)}); err != nil {
					t.Error(err)
					return
				}
				written.Add(1)
			}
		}()
	}
	seen := map[string]bool{}
	var cursor uint64
	deadline := time.Now().Add(45 * time.Second)
	stopped := make(chan struct{})
	go func() { wwg.Wait(); close(stopped) }()
	for len(seen) < writers*each && time.Now().Before(deadline) {
		select {
		case <-stopped:
			if len(seen) == int(written.Load()) {
				deadline = time.Now()
			}
		default:
		}
		gs, err := b.GoalsAfter(ctx, "acme", "hq", cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			if seen[g.ID] {
				t.Fatalf("goal %s read twice", g.ID)
			}
			seen[g.ID] = true
			cursor = g.Cursor
		}
	}
	wwg.Wait()
	if len(seen) != int(written.Load()) || len(seen) != writers*each {
		t.Errorf("reader following the cursor saw %d goals of %d written: a cursor became visible after a later one", len(seen), written.Load())
	}
}

// TestPostgresChanges checks scope versions, goals and decisions reach a
// listener on another replica, and a replica skips its own.
func TestPostgresChanges(t *testing.T) {
	a, b := twoReplicas(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got := make(chan store.Change, 16)
	ready := make(chan struct{}, 2)
	for _, s := range []*store.Postgres{a, b} {
		go s.ListenChanges(ctx, nil, func() { ready <- struct{}{} }, func(c store.Change) { got <- c })
	}
	<-ready
	<-ready
	if err := a.PutScope(ctx, store.ScopeVersion{Client: "acme", Version: 3, Bundle: []byte("b")}); err != nil {
		t.Fatal(err)
	}
	gc, err := a.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: "g1"}); err != nil { // duplicate: no change
		t.Fatal(err)
	}
	dc, err := b.AddDecision(ctx, store.Decision{Client: "acme", Site: "branch", ApprovalID: "ap1"})
	if err != nil {
		t.Fatal(err)
	}
	// A failed write publishes nothing.
	if err := a.PutScope(ctx, store.ScopeVersion{Client: "acme", Version: 2}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("older scope: %v", err)
	}
	want := []store.Change{
		{Origin: a.Origin(), Client: "acme", Topic: store.TopicScope, Version: 3},
		{Origin: a.Origin(), Client: "acme", Site: "hq", Topic: store.TopicGoals, Version: gc},
		{Origin: b.Origin(), Client: "acme", Site: "branch", Topic: store.TopicApprovals, Version: dc},
	}
	for _, w := range want {
		select {
		case c := <-got:
			if c != w {
				t.Errorf("change = %+v, want %+v", c, w)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("change %+v not delivered", w)
		}
	}
	select {
	case c := <-got:
		t.Errorf("unexpected change %+v (own changes are skipped, duplicates publish nothing)", c)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestRunOnce checks a period runs once across two replicas, concurrent
// callers skip while one runs, and a failed run is retried.
func TestRunOnce(t *testing.T) {
	a, b := twoReplicas(t)
	testOnce(t, a, b)
	l := store.NewLocalOnce()
	testOnce(t, l, l)
}

func testOnce(t *testing.T, a, b store.Once) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	var runs atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := []store.Once{a, b}[i%2].RunOnce(ctx, "daily-sample", day, func(context.Context) error {
				runs.Add(1)
				time.Sleep(20 * time.Millisecond)
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	// Late callers for the same period: still done.
	for _, o := range []store.Once{a, b} {
		if ran, err := o.RunOnce(ctx, "daily-sample", day, func(context.Context) error { runs.Add(1); return nil }); ran || err != nil {
			t.Errorf("second run of a done period: ran=%v, %v", ran, err)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("daily-sample ran %d times for one day, want 1", n)
	}
	boom := errors.New("boom")
	if ran, err := a.RunOnce(ctx, "sweep", day, func(context.Context) error { return boom }); !ran || !errors.Is(err, boom) {
		t.Errorf("failing job: ran=%v, %v", ran, err)
	}
	if ran, err := b.RunOnce(ctx, "sweep", day, func(context.Context) error { return nil }); !ran || err != nil {
		t.Errorf("retry after failure: ran=%v, %v; want it run again", ran, err)
	}
	if ran, err := b.RunOnce(ctx, "sweep", day.Add(24*time.Hour), func(context.Context) error { return nil }); !ran || err != nil {
		t.Errorf("next period: ran=%v, %v", ran, err)
	}
}

func TestOpenPostgresErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := store.OpenPostgres(ctx, ""); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("empty DSN: %v, want ErrInvalid", err)
	}
	if _, err := store.OpenPostgres(ctx, "postgres://u:s3cret@[::1"); err == nil || !errors.Is(err, store.ErrInvalid) || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad DSN: %v, want ErrInvalid without the password", err)
	}
	if _, err := store.OpenPostgres(ctx, "postgres://u:s3cret@/db?host="+t.TempDir()+"&connect_timeout=2"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("no server: %v, want an error without the password", err)
	}
}

// TestPostgresReviewContract runs the store.Review contract suite against
// PostgreSQL.
func TestPostgresReviewContract(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	storetest.RunReview(t, func(t *testing.T) storetest.ReviewStore {
		return openPG(t, srv.CreateDatabase(t))
	})
}

// TestPostgresCoreWritesNoSerializationFailure races the core store's
// read-then-write methods on two replicas of one database: every call
// ends in success or the contract's sentinel (one token consumer wins,
// one claimer wins, a scope version is stored once), never in a
// serialization failure or another surprise.
func TestPostgresCoreWritesNoSerializationFailure(t *testing.T) {
	a, b := twoReplicas(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	now := time.Now()
	const rounds, workers = 15, 8
	for r := range rounds {
		hash := "tok-" + time.Duration(r).String()
		if err := a.CreateToken(ctx, store.Token{Hash: hash, Identity: store.Identity{Tenant: "t", Client: "acme", Site: "hq"}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	records := [][]byte{[]byte("r0"), []byte("r1"), []byte("r2"), []byte("r3")}
	var calls, unexpected atomic.Int64
	var consumed, claimed [rounds]atomic.Int64
	check := func(op string, err error, allowed ...error) {
		calls.Add(1)
		if err == nil {
			return
		}
		for _, e := range allowed {
			if errors.Is(err, e) {
				return
			}
		}
		unexpected.Add(1)
		t.Errorf("%s: %v", op, err)
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := []*store.Postgres{a, b}[w%2]
			user := "u" + time.Duration(w).String()
			for r := range rounds {
				rs := time.Duration(r).String()
				_, err := s.ConsumeToken(ctx, "tok-"+rs, now)
				if err == nil {
					consumed[r].Add(1)
				}
				check("consume token", err, store.ErrTokenUsed)
				check("put scope", s.PutScope(ctx, store.ScopeVersion{Client: "acme", Version: uint64(r + 1), Bundle: []byte(rs)}), store.ErrConflict)
				err = s.ClaimEscalation(ctx, "acme", "esc-"+rs, user, now)
				if err == nil {
					claimed[r].Add(1)
				}
				check("claim escalation", err, store.ErrConflict)
				check("append audit", s.AppendAudit(ctx, "acme", "hq", uint64(4*r), records))
				check("put checkpoint", s.PutCheckpoint(ctx, store.Checkpoint{Client: "acme", Site: "hq", Size: uint64(4 * (r + 1)), Root: []byte(rs)}), store.ErrConflict)
				_, err = s.AddDecision(ctx, store.Decision{Client: "acme", Site: "hq", ApprovalID: "ap-" + rs})
				check("add decision", err)
			}
		}()
	}
	wg.Wait()
	for r := range rounds {
		if n := consumed[r].Load(); n != 1 {
			t.Errorf("token %d consumed %d times, want once", r, n)
		}
		if n := claimed[r].Load(); n != 1 {
			t.Errorf("escalation %d claimed by %d users, want one", r, n)
		}
	}
	if n, err := a.AuditSize(ctx, "acme", "hq"); err != nil || n != 4*rounds {
		t.Errorf("AuditSize = %d, %v; want %d", n, err, 4*rounds)
	}
	t.Logf("%d concurrent core writes on two replicas, %d failed otherwise than the contract says", calls.Load(), unexpected.Load())
}

// TestPostgresFleetTokenReplicas: two replicas (two stores on one
// database) enroll 50 sites at once with one fleet token of 20 uses:
// exactly 20 succeed, on whichever replica.
func TestPostgresFleetTokenReplicas(t *testing.T) {
	a, b := twoReplicas(t)
	const hash = "f1ee7000000000000000000000000000000000000000000000000000000000b2"
	storetest.CreateFleetToken(t, a, hash, 20)
	if won := storetest.FleetRace(t, []store.Store{a, b}, hash, 50); won != 20 {
		t.Errorf("%d of 50 enrollments on two replicas succeeded with a 20-use token, want 20", won)
	}
}
