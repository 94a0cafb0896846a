package metrics_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/metrics"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
)

// fixedSync stands in for the sync server's two read-only accessors, so
// the exposition of given values can be checked exactly; the real server
// behind them is scraped in control-plane/cli's TestMetricsEndpoint.
type fixedSync struct{ st syncserver.SyncStats }

func (f fixedSync) Connected() int                  { return 3 }
func (f fixedSync) SyncStats() syncserver.SyncStats { return f.st }

func scrape(t *testing.T, h http.Handler, auth string) (int, string) {
	t.Helper()
	req := httptest.NewRequest("GET", "/metrics", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestMetricsExposition(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, id := range []string{"e1", "e2"} {
		if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: id, Payload: []byte{}, ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.PutItem(ctx, store.Item{Kind: store.KindApprovalRequest, Client: "acme", Site: "hq", ID: "a1", Payload: []byte{}, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	lag := syncserver.SyncStats{Items: map[store.Kind]uint64{store.KindEscalation: 5}, LagCounts: make([]uint64, len(syncserver.LagBuckets)), LagCount: 5, LagSum: 90 * time.Second}
	for i := range lag.LagCounts {
		lag.LagCounts[i] = min(uint64(i+1), 5)
	}
	h, err := metrics.Handler(metrics.DefaultConfig(), fixedSync{lag}, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	code, body := scrape(t, h, "")
	for _, want := range []string{
		"sitewarden_sites_connected 3\n",
		`sitewarden_sync_items_received_total{kind="escalation"} 5` + "\n",
		`sitewarden_sync_items_received_total{kind="outcome"} 0` + "\n",
		`sitewarden_sync_lag_seconds_bucket{le="0.1"} 1` + "\n",
		`sitewarden_sync_lag_seconds_bucket{le="+Inf"} 5` + "\n",
		"sitewarden_sync_lag_seconds_sum 90\n",
		`sitewarden_queue_size{queue="escalations_open"} 2` + "\n",
		`sitewarden_queue_size{queue="approvals_pending"} 1` + "\n",
		`sitewarden_queue_size{queue="samples_ungraded"} 0` + "\n",
		`sitewarden_queue_size{queue="proposals_pending"} 0` + "\n",
		"sitewarden_store_up 1\n",
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("scrape (%d) lacks %q", code, want)
		}
	}
	// A closed store shows as down, not as a failed scrape.
	st.Close()
	if code, body := scrape(t, h, ""); code != 200 || !strings.Contains(body, "sitewarden_store_up 0\n") || strings.Contains(body, "sitewarden_queue_size") {
		t.Errorf("scrape with the store down: %d\n%s", code, body)
	}
}

func TestMetricsToken(t *testing.T) {
	cfg := metrics.DefaultConfig()
	cfg.Token = "0123456789abcdef-metrics"
	h, err := metrics.Handler(cfg, fixedSync{syncserver.SyncStats{LagCounts: make([]uint64, len(syncserver.LagBuckets))}}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	for _, auth := range []string{"", "Bearer wrong", "Bearer " + cfg.Token + "x", cfg.Token} {
		if code, _ := scrape(t, h, auth); code != 401 {
			t.Errorf("Authorization %q: %d, want 401", auth, code)
		}
	}
	if code, body := scrape(t, h, "Bearer "+cfg.Token); code != 200 || !strings.Contains(body, "sitewarden_sites_connected 3") {
		t.Errorf("with the token: %d %s", code, body)
	}
}

func TestMetricsConfig(t *testing.T) {
	for _, tc := range []struct {
		listen, token string
		exposed       bool
	}{
		{"127.0.0.1:9464", "", false},
		{"[::1]:9464", "", false},
		{"localhost:9464", "", false},
		{"0.0.0.0:9464", "", true},
		{":9464", "", true},
		{"10.0.0.5:9464", "", true},
		{"0.0.0.0:9464", "a-long-enough-token", false},
		{"", "", false},
	} {
		cfg := metrics.DefaultConfig()
		cfg.Listen, cfg.Token = tc.listen, tc.token
		if err := cfg.Validate(); errors.Is(err, metrics.ErrExposed) != tc.exposed {
			t.Errorf("Validate(%q, token %v) = %v, want exposed=%v", tc.listen, tc.token != "", err, tc.exposed)
		}
	}
	if srv, err := metrics.Start(metrics.DefaultConfig(), nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil))); srv != nil || err != nil {
		t.Errorf("Start without an address = %v, %v; want nothing started", srv, err)
	}
}
