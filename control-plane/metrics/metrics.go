package metrics

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sitewarden/sitewarden/control-plane/notify"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
)

// Sync is what the metrics read of the sync server.
type Sync interface {
	// Connected returns how many sites hold a connection to this process.
	Connected() int
	// SyncStats returns the items received and their lag.
	SyncStats() syncserver.SyncStats
}

// Queues is what the metrics read of the store: open work over every
// client (store.Review).
type Queues interface {
	QueueSizes(ctx context.Context) (store.QueueSizes, error)
}

// Notify is what the metrics read of the outbound notifier: per target,
// pending deliveries (all replicas) and this process's delivered and
// failed totals.
type Notify interface {
	Stats(ctx context.Context) ([]notify.TargetStats, error)
}

var (
	_ Sync   = (*syncserver.Server)(nil)
	_ Queues = (*store.SQLite)(nil)
	_ Notify = (*notify.Notifier)(nil)
)

// Option adds an optional source to the metrics.
type Option func(*collector)

// WithNotify adds the notifier's metrics: sitewarden_notify_pending,
// sitewarden_notify_delivered_total and sitewarden_notify_failed_total,
// by target.
func WithNotify(n Notify) Option {
	return func(c *collector) { c.notify = n }
}

// Config says where metrics are served.
type Config struct {
	// Listen is host:port of the metrics listener; empty: no listener.
	Listen string
	// Token, when set, is required as "Authorization: Bearer <token>". A
	// Listen address that is not loopback needs one.
	Token string
	// QueryTimeout bounds the store query of one scrape.
	QueryTimeout time.Duration
}

// DefaultConfig returns no listener and a 5 s query timeout.
func DefaultConfig() Config { return Config{QueryTimeout: 5 * time.Second} }

// Validate reports a configuration that cannot work or would expose the
// metrics without authentication.
func (c Config) Validate() error {
	if c.QueryTimeout <= 0 {
		return fmt.Errorf("metrics: query timeout %s must be positive", c.QueryTimeout)
	}
	if c.Listen == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("metrics: listen address %q: %w", c.Listen, err)
	}
	ip := net.ParseIP(host)
	if c.Token == "" && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%w: %s; set a token (--metrics-token-file) or listen on 127.0.0.1", ErrExposed, c.Listen)
	}
	return nil
}

// collector reads the sync server and the store at each scrape.
type collector struct {
	sync    Sync
	queues  Queues
	timeout time.Duration
	log     *slog.Logger
	notify  Notify

	connected, items, lag, queue, up             *prometheus.Desc
	notifyPending, notifyDelivered, notifyFailed *prometheus.Desc
}

func newCollector(s Sync, q Queues, timeout time.Duration, log *slog.Logger) *collector {
	return &collector{sync: s, queues: q, timeout: timeout, log: log,
		connected: prometheus.NewDesc("sitewarden_sites_connected", "Sites holding a sync connection to this control plane process.", nil, nil),
		items:     prometheus.NewDesc("sitewarden_sync_items_received_total", "Items stored from sites (escalations, approval requests, outcomes), by kind; redeliveries not counted.", []string{"kind"}, nil),
		lag:       prometheus.NewDesc("sitewarden_sync_lag_seconds", "Time from an item's creation on its site to its storage on the control plane.", nil, nil),
		queue: prometheus.NewDesc("sitewarden_queue_size", "Open supervisors' work over every client: escalations_open, approvals_pending, samples_ungraded, proposals_pending.",
			[]string{"queue"}, nil),
		up: prometheus.NewDesc("sitewarden_store_up", "1 when the last scrape read the store, 0 when it failed.", nil, nil),
		notifyPending: prometheus.NewDesc("sitewarden_notify_pending", "Notification deliveries waiting in the outbox (every replica's), by target.",
			[]string{"target"}, nil),
		notifyDelivered: prometheus.NewDesc("sitewarden_notify_delivered_total", "Notifications this process delivered, by target.", []string{"target"}, nil),
		notifyFailed: prometheus.NewDesc("sitewarden_notify_failed_total", "Notifications this process gave up on (retries exhausted, refused, outbox full), by target.",
			[]string{"target"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.connected, c.items, c.lag, c.queue, c.up, c.notifyPending, c.notifyDelivered, c.notifyFailed} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	if c.sync != nil {
		ch <- prometheus.MustNewConstMetric(c.connected, prometheus.GaugeValue, float64(c.sync.Connected()))
		st := c.sync.SyncStats()
		for _, k := range []store.Kind{store.KindEscalation, store.KindApprovalRequest, store.KindOutcome} {
			ch <- prometheus.MustNewConstMetric(c.items, prometheus.CounterValue, float64(st.Items[k]), string(k))
		}
		buckets := make(map[float64]uint64, len(syncserver.LagBuckets))
		for i, b := range syncserver.LagBuckets {
			buckets[b.Seconds()] = st.LagCounts[i]
		}
		ch <- prometheus.MustNewConstHistogram(c.lag, st.LagCount, st.LagSum.Seconds(), buckets)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if c.notify != nil {
		c.collectNotify(ctx, ch)
	}
	if c.queues == nil {
		return
	}
	q, err := c.queues.QueueSizes(ctx)
	if err != nil {
		c.log.Warn("metrics: read queue sizes", "err", err)
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, 1)
	for name, n := range map[string]int{"escalations_open": q.OpenEscalations, "approvals_pending": q.PendingApprovals,
		"samples_ungraded": q.UngradedSamples, "proposals_pending": q.PendingProposals} {
		ch <- prometheus.MustNewConstMetric(c.queue, prometheus.GaugeValue, float64(n), name)
	}
}

func (c *collector) collectNotify(ctx context.Context, ch chan<- prometheus.Metric) {
	stats, err := c.notify.Stats(ctx)
	if err != nil {
		c.log.Warn("metrics: read notification outbox", "err", err)
		return
	}
	for _, s := range stats {
		ch <- prometheus.MustNewConstMetric(c.notifyPending, prometheus.GaugeValue, float64(s.Pending), s.Target)
		ch <- prometheus.MustNewConstMetric(c.notifyDelivered, prometheus.CounterValue, float64(s.Delivered), s.Target)
		ch <- prometheus.MustNewConstMetric(c.notifyFailed, prometheus.CounterValue, float64(s.Failed), s.Target)
	}
}

// Handler returns the /metrics handler: the control plane's metrics, and
// the Go runtime's and the process's. It checks the token when cfg has one.
func Handler(cfg Config, s Sync, q Queues, log *slog.Logger, opts ...Option) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	col := newCollector(s, q, cfg.QueryTimeout, log)
	for _, o := range opts {
		o(col)
	}
	if err := reg.Register(col); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn), Timeout: cfg.QueryTimeout + time.Second})
	mux := http.NewServeMux()
	want := []byte("Bearer " + cfg.Token)
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Token != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="sitewarden metrics"`)
			http.Error(w, "metrics need Authorization: Bearer <the metrics token>", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
	return mux, nil
}

// Server is a running metrics listener.
type Server struct {
	hs   *http.Server
	ln   net.Listener
	done chan error
}

// Start serves /metrics on cfg.Listen until Stop; nil, nil when cfg.Listen
// is empty.
func Start(cfg Config, s Sync, q Queues, log *slog.Logger, opts ...Option) (*Server, error) {
	if cfg.Listen == "" {
		return nil, cfg.Validate()
	}
	h, err := Handler(cfg, s, q, log, opts...)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("metrics listen on %s: %w; pick another --metrics-listen", cfg.Listen, err)
	}
	srv := &Server{ln: ln, done: make(chan error, 1), hs: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout: cfg.QueryTimeout + 10*time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}}
	go func() { srv.done <- srv.hs.Serve(ln) }()
	log.Info("metrics ready", "metrics_listen", ln.Addr().String(), "token", cfg.Token != "")
	return srv, nil
}

// Addr is the listener's address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Stop shuts the listener down within ctx.
func (s *Server) Stop(ctx context.Context) {
	if s == nil {
		return
	}
	_ = s.hs.Shutdown(ctx)
	<-s.done
}
