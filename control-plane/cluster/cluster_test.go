package cluster_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sitewarden/sitewarden/control-plane/cluster"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/store/pgtest"
)

type notified struct {
	mu  sync.Mutex
	got []string
	all []string
	ch  chan struct{}
}

func (n *notified) NotifyAll(topic string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.all = append(n.all, topic)
	return 1
}

func (n *notified) allTopics() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return strings.Join(n.all, ",")
}

func (n *notified) Notify(client, site, topic string, version uint64) int {
	n.mu.Lock()
	n.got = append(n.got, client+"/"+site+"/"+topic)
	n.mu.Unlock()
	n.ch <- struct{}{}
	return 1
}

// TestRelayAcrossReplicas: a goal written through replica A's store
// reaches replica B's notifier through PostgreSQL, and not A's own.
func TestRelayAcrossReplicas(t *testing.T) {
	srv := pgtest.Start(t, pgtest.Options{})
	dsn := srv.CreateDatabase(t)
	// The relays, listeners and pools end with the test (the test server's
	// own goroutine ends at its cleanup, after this check).
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := store.OpenPostgres(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	log := slog.New(slog.DiscardHandler)
	na, nb := &notified{ch: make(chan struct{}, 8)}, &notified{ch: make(chan struct{}, 8)}
	rctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	ready := make(chan struct{}, 2)
	for _, r := range []struct {
		s *store.Postgres
		n *notified
	}{{a, na}, {b, nb}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = cluster.Relay(rctx, r.s, r.n, log, func() { ready <- struct{}{} })
		}()
	}
	<-ready
	<-ready
	if _, err := a.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: "g1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-nb.ch:
	case <-time.After(10 * time.Second):
		t.Fatal("goal written through A did not reach B's notifier")
	}
	select {
	case <-na.ch:
		t.Error("A relayed its own change")
	case <-time.After(200 * time.Millisecond):
	}
	if got := nb.allTopics(); got != "" {
		t.Errorf("NotifyAll(%s) before any reconnect", got)
	}
	// PostgreSQL drops both listeners' connections: once back, each
	// replica tells its sites to fetch everything (what it may have missed).
	if n := srv.TerminateListeners(t); n != 2 {
		t.Fatalf("terminated %d listening sessions, want 2", n)
	}
	<-ready
	<-ready
	deadline := time.Now().Add(10 * time.Second)
	for nb.allTopics() != "scope,goals,approvals" && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := nb.allTopics(); got != "scope,goals,approvals" {
		t.Errorf("after the listener reconnected, NotifyAll(%s), want scope,goals,approvals", got)
	}
	stop()
	wg.Wait()
	if strings.Join(nb.got, ",") != "acme/hq/goals" {
		t.Errorf("B notified %v", nb.got)
	}
}

// TestScheduleOnce: two schedulers sharing a LocalOnce run a job once per
// period; a bad job is refused.
func TestScheduleOnce(t *testing.T) {
	once := store.NewLocalOnce()
	var runs atomic.Int64
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	job := cluster.Job{Name: "sweep", Period: time.Hour, Run: func(context.Context) error { runs.Add(1); return nil }}
	fixed := func() time.Time { return time.Date(2026, 11, 26, 10, 30, 0, 0, time.UTC) }
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cluster.Schedule(ctx, once, []cluster.Job{job}, 20*time.Millisecond, fixed, log); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := runs.Load(); n != 1 {
		t.Errorf("job ran %d times in one period, want 1", n)
	}
	mu.Lock()
	if c := strings.Count(logs.String(), "background job ran"); c != 1 {
		t.Errorf("logged %d runs, want 1:\n%s", c, logs.String())
	}
	mu.Unlock()
	if err := cluster.Schedule(ctx, once, []cluster.Job{{Name: "x", Period: time.Millisecond, Run: job.Run}}, time.Second, nil, log); err == nil {
		t.Error("a 1ms period was accepted")
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
