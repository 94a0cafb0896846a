package metrics_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/metrics"
	"github.com/sitewarden/sitewarden/control-plane/notify"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

// TestNotifyMetrics runs a real notifier against two real receivers on
// loopback, one accepting and one failing, and scrapes its metrics.
func TestNotifyMetrics(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer up.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) }))
	defer down.Close()
	cfg := notify.DefaultConfig()
	cfg.BaseURL, cfg.Poll = "https://cp.example.com", 20*time.Millisecond
	cfg.Targets = []notify.Target{
		{Name: "up", URL: up.URL, Format: notify.FormatSlack, AllowHTTP: true, Timeout: time.Second},
		{Name: "down", URL: down.URL, Format: notify.FormatSlack, AllowHTTP: true, Timeout: time.Second},
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := notify.New(cfg, st, log)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = n.Run(rctx); close(done) }()
	defer func() { stop(); <-done }()
	if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "e1", Payload: []byte{}, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	h, err := metrics.Handler(metrics.DefaultConfig(), nil, nil, log, metrics.WithNotify(n))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`sitewarden_notify_delivered_total{target="up"} 1`, `sitewarden_notify_pending{target="down"} 1`,
		`sitewarden_notify_pending{target="up"} 0`, `sitewarden_notify_failed_total{target="down"} 0`}
	var body string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		_, body = scrape(t, h, "")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(body, w)
		}
		if ok {
			return
		}
	}
	t.Fatalf("metrics lack %v:\n%s", want, body)
}
