package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	stdsync "sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/cluster"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
	renroll "github.com/sitewarden/sitewarden/runner/enroll"
	rsync "github.com/sitewarden/sitewarden/runner/sync"
)

// pgReplica is a sync server on a shared PostgreSQL store that relays the
// other replicas' changes to its sites (what 'sitewarden server --store
// postgres://...' wires), in this process.
type pgReplica struct {
	st  *store.Postgres
	srv *syncserver.Server
	// relayed is when the relay last passed a change to srv.
	relayed atomic.Int64
}

// timedNotifier records when the relay notifies, then notifies.
type timedNotifier struct{ r *pgReplica }

func (t timedNotifier) Notify(client, site, topic string, version uint64) int {
	t.r.relayed.Store(time.Now().UnixNano())
	return t.r.srv.Notify(client, site, topic, version)
}

// startPGReplicas starts n replicas on dsn with p's CA. The sync servers'
// store polling for scopes is off: changes travel by LISTEN/NOTIFY only.
func startPGReplicas(b *testing.B, p *plane, dsn string, n int, tune func(*syncserver.Config)) []*pgReplica {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg stdsync.WaitGroup
	var out []*pgReplica
	ready := make(chan struct{}, n)
	log := slog.New(slog.DiscardHandler)
	for range n {
		st, err := store.OpenPostgres(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		cert, err := p.ca.ServerCert([]string{"127.0.0.1"}, time.Now(), time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		cfg := syncserver.DefaultConfig()
		cfg.Listen, cfg.ScopeWatchInterval = "127.0.0.1:0", 0
		if tune != nil {
			tune(&cfg)
		}
		srv, err := syncserver.New(cfg, st, cert, p.ca.Pool(), nil, log, "bench", nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := srv.Listen(); err != nil {
			b.Fatal(err)
		}
		r := &pgReplica{st: st, srv: srv}
		wg.Add(2)
		go func() { defer wg.Done(); _ = srv.Serve(ctx) }()
		go func() {
			defer wg.Done()
			_ = cluster.Relay(ctx, st, timedNotifier{r}, log, func() { ready <- struct{}{} })
		}()
		out = append(out, r)
	}
	for range n {
		<-ready
	}
	b.Cleanup(func() {
		cancel()
		wg.Wait()
		for _, r := range out {
			r.st.Close()
		}
	})
	return out
}

// BenchmarkReplicasFleet connects simulated sites ($SITEWARDEN_BENCH_SITES,
// default 2,000) split between two replicas on one PostgreSQL server
// (durable settings) and measures, per iteration, the time for a scope
// version published through replica 0 to reach every site (and, of it, the
// hop from the write's start to replica 1's relay notifying): replica 0
// notifies its own sites, PostgreSQL NOTIFY carries the change to replica
// 1, which notifies its sites; each site then fetches the bundle from the
// replica it is connected to. Compare with BenchmarkSyncFleet (one SQLite
// node) in the same run.
func BenchmarkReplicasFleet(b *testing.B) {
	n := benchSites(b)
	p := startPlane(b, 0)
	pg := pgtest.Start(b, pgtest.Options{Durable: true})
	reps := startPGReplicas(b, p, pg.CreateDatabase(b), 2, func(c *syncserver.Config) {
		c.HeartbeatInterval = 30 * time.Second
		c.IdleTimeout = 2 * time.Minute
		c.RetryAbove = 1 << 20
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var reached atomic.Int64
	var want atomic.Uint64
	conns := lightFleet(ctx, b, n, func(i int) (string, tls.Certificate) {
		return reps[i%2].srv.Addr().String(), siteCert(b, p, "acme", fmt.Sprintf("s%04d", i))
	}, p.ca.Pool(), &want, &reached)
	if b.Failed() {
		return
	}
	deadline := time.Now().Add(time.Minute)
	for reps[0].srv.Connected()+reps[1].srv.Connected() < n && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	var worst, worstHop, total time.Duration
	var viaNotify int64
	// publish sends version v through replica 0 and waits until every site
	// fetched it.
	publish := func(v uint64) (took, hop time.Duration) {
		reached.Store(0)
		want.Store(v)
		raw, err := proto.Marshal(p.scopeBundle(b, "acme", v))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := reps[0].st.PutScope(ctx, store.ScopeVersion{Client: "acme", Version: v, Bundle: raw, CreatedAt: start}); err != nil {
			b.Fatal(err)
		}
		reps[0].srv.Notify("acme", "", rsync.TopicScope, v)
		for reached.Load() < int64(n) {
			if time.Since(start) > time.Minute {
				b.Fatalf("scope v%d reached %d of %d sites in a minute", v, reached.Load(), n)
			}
			time.Sleep(time.Millisecond)
		}
		return time.Since(start), time.Duration(reps[1].relayed.Load() - start.UnixNano())
	}
	// One untimed round first: the replicas' pools open their connections
	// (a replica's steady state, not its first minute).
	publish(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		took, hop := publish(uint64(i + 2))
		worst, worstHop, total = max(worst, took), max(worstHop, hop), total+took
		viaNotify = int64(reps[1].srv.Connected())
	}
	b.StopTimer()
	b.ReportMetric(float64(worst.Milliseconds()), "ms-worst-fanout")
	b.ReportMetric(float64((total / time.Duration(b.N)).Milliseconds()), "ms-mean-fanout")
	b.ReportMetric(float64(n), "sites")
	b.ReportMetric(float64(viaNotify), "sites-via-other-replica")
	b.ReportMetric(float64(worstHop.Microseconds())/1000, "ms-worst-notify-hop")
	for _, c := range conns {
		if c != nil {
			c.CloseWithError(0, "")
		}
	}
}

// BenchmarkReplicasEscalationDurable measures, per escalation, the time
// from the runner raising it (durable outbox write included) to the
// control plane's Ack of its durable store write, on loopback: through a
// PostgreSQL replica (fsync and synchronous_commit on) and, in the same
// run, through the single-node SQLite control plane (synchronous=FULL).
// p50 and p99 of each, and the p99 ratio PostgreSQL / SQLite.
func BenchmarkReplicasEscalationDurable(b *testing.B) {
	p := startPlane(b, 0)
	pg := pgtest.Start(b, pgtest.Options{Durable: true})
	reps := startPGReplicas(b, p, pg.CreateDatabase(b), 2, nil)
	dir := enrollSite(b, p, "acme", "hq")
	creds := mustLoad(b, dir)
	site, err := p.store.Site(context.Background(), "acme", "hq")
	if err != nil {
		b.Fatal(err)
	}
	if err := reps[0].st.UpsertSite(context.Background(), site); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	pgLat := durableLatencies(b, dir+"/pg", creds, reps[0].srv.Addr().String(), b.N)
	liteLat := durableLatencies(b, dir+"/sqlite", creds, p.addr, b.N)
	b.StopTimer()
	pct := func(lat []time.Duration, q int) float64 {
		return float64(lat[min(len(lat)-1, len(lat)*q/100)].Microseconds()) / 1000
	}
	if len(pgLat) == 0 || len(liteLat) == 0 {
		b.Fatal("no latencies recorded")
	}
	b.ReportMetric(pct(pgLat, 50), "ms-p50-postgres")
	b.ReportMetric(pct(pgLat, 99), "ms-p99-postgres")
	b.ReportMetric(pct(liteLat, 50), "ms-p50-sqlite")
	b.ReportMetric(pct(liteLat, 99), "ms-p99-sqlite")
	b.ReportMetric(pct(pgLat, 99)/pct(liteLat, 99), "ratio-p99-postgres/sqlite")
}

// durableLatencies raises n escalations one at a time from a site (its
// outbox and inbox in dir) connected to addr, and returns their sorted
// raise-to-durable-ack latencies.
func durableLatencies(b *testing.B, dir string, creds renroll.Credentials, addr string, n int) []time.Duration {
	b.Helper()
	base, err := rsync.OpenDirOutbox(filepath.Join(dir, "outbox"), 0)
	if err != nil {
		b.Fatal(err)
	}
	ob := &timedOutbox{DirOutbox: base, added: map[string]time.Time{}}
	in, _ := rsync.OpenDirInbox(filepath.Join(dir, "inbox"))
	sc, _ := rsync.OpenScopeCache(filepath.Join(dir, "scope"), creds.ScopeKey, "acme", nil)
	cfg := rsync.DefaultConfig()
	cfg.Address = addr
	cl, err := rsync.New(cfg, creds.Cert, creds.CA, rsync.Deps{Outbox: ob, Inbox: in, Scope: sc})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = cl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	eventually(b, 10*time.Second, "connected", cl.Connected)
	// Ten untimed escalations first, so that pools and caches are warm on
	// both stores alike.
	const warm = 10
	for i := range n + warm {
		if i == warm {
			ob.mu.Lock()
			ob.lat = ob.lat[:0]
			ob.mu.Unlock()
		}
		it, _ := rsync.NewItem(escalation("acme", "hq", i))
		if err := ob.Add(ctx, it); err != nil {
			b.Fatal(err)
		}
		cl.Kick()
		deadline := time.Now().Add(30 * time.Second)
		for ob.Len() > 0 {
			if time.Now().After(deadline) {
				b.Fatalf("escalation %d not acknowledged in 30s", i)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	ob.mu.Lock()
	defer ob.mu.Unlock()
	lat := slices.Clone(ob.lat)
	slices.Sort(lat)
	return lat
}
