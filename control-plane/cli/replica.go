package cli

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/cluster"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
	"github.com/sitewarden/sitewarden/control-plane/web"
)

// openStore opens SQLite in the state directory (storeURL empty) or the
// PostgreSQL database storeURL names.
func openStore(ctx context.Context, dir, storeURL string) (store.Store, error) {
	switch {
	case storeURL == "":
		return store.OpenSQLite(ctx, filepath.Join(dir, dbFile))
	case strings.HasPrefix(storeURL, "postgres://"), strings.HasPrefix(storeURL, "postgresql://"):
		return store.OpenPostgres(ctx, storeURL)
	default:
		return nil, usageError{errors.New("--store: use postgres://user@host:port/db (or leave it empty for SQLite in --state)")}
	}
}

// alerter records witness alerts for the Sites page when the store keeps
// them, and logs them.
func alerter(st store.Store, log *slog.Logger) syncserver.Alerter {
	next := syncserver.LogAlerter{Log: log}
	if rec, ok := st.(interface {
		RecordAuditAlert(ctx context.Context, a store.AuditAlert) error
	}); ok {
		return web.AlertRecorder{Store: rec, Next: next, Log: log}
	}
	return next
}

var (
	_ cluster.Notifier = (*syncserver.Server)(nil)
	_ cluster.CatchUp  = (*syncserver.Server)(nil)
	// Both stores serve the web UI and the daily samples.
	_ web.Store  = (*store.Postgres)(nil)
	_ web.Store  = (*store.SQLite)(nil)
	_ store.Once = (*store.Postgres)(nil)
)

// sessionSweepPeriod is how often expired login sessions are deleted.
const sessionSweepPeriod = time.Hour

// startReplica starts the work a replica shares with the others: relaying
// changes written through other replicas to the sites connected here
// (PostgreSQL stores), and the once-per-period background jobs. The
// returned function stops them and waits.
func startReplica(ctx context.Context, st store.Store, n cluster.Notifier, log *slog.Logger) func() {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	running := 0
	if ch, ok := st.(cluster.Changes); ok {
		running++
		go func() {
			defer func() { done <- struct{}{} }()
			_ = cluster.Relay(ctx, ch, n, log, nil)
		}()
	}
	once, ok := st.(store.Once)
	if !ok {
		once = store.NewLocalOnce()
	}
	jobs := []cluster.Job{{Name: "session-sweep", Period: sessionSweepPeriod, Run: func(ctx context.Context) error {
		_, err := st.DeleteExpiredSessions(ctx, time.Now())
		return err
	}}}
	running++
	go func() {
		defer func() { done <- struct{}{} }()
		if err := cluster.Schedule(ctx, once, jobs, time.Minute, nil, log); err != nil {
			log.Error("background jobs not started", "err", err.Error())
		}
	}()
	return func() {
		cancel()
		for range running {
			<-done
		}
	}
}
