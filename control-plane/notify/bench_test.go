package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/store"
)

// BenchmarkDeliveryLatency stores escalations every 2 ms and reports the
// median and 90th percentile time from the store write to the receiver
// (a real HTTPS server on loopback), with the default poll interval and a
// short one.
func BenchmarkDeliveryLatency(b *testing.B) {
	for _, poll := range []time.Duration{DefaultConfig().Poll, 100 * time.Millisecond} {
		b.Run("poll="+poll.String(), func(b *testing.B) {
			st, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "cp.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			var mu sync.Mutex
			arrived := map[string]time.Time{}
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mu.Lock()
				arrived[r.Header.Get(HeaderEventID)] = time.Now()
				mu.Unlock()
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			cfg := DefaultConfig()
			cfg.BaseURL, cfg.Poll = "https://cp.example.com", poll
			cfg.Targets = []Target{{Name: "psa", URL: srv.URL, Format: FormatJSON, Secret: testSecret, Timeout: 5 * time.Second}}
			n, err := New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				b.Fatal(err)
			}
			n.send = NewSender(srv.Client())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = n.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()
			stored := map[string]time.Time{}
			b.ResetTimer()
			for i := range b.N {
				id := fmt.Sprintf("e%d", i)
				stored["escalation.opened:acme:"+id] = time.Now()
				if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: id, Payload: []byte{}, ReceivedAt: time.Now()}); err != nil {
					b.Fatal(err)
				}
				time.Sleep(2 * time.Millisecond)
			}
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
				mu.Lock()
				k := len(arrived)
				mu.Unlock()
				if k >= b.N {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d delivered within a minute", k, b.N)
				}
			}
			b.StopTimer()
			var lat []time.Duration
			mu.Lock()
			for id, at := range stored {
				lat = append(lat, arrived[id].Sub(at))
			}
			mu.Unlock()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median_ms")
			b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90_ms")
			b.ReportMetric(float64(len(lat)), "events")
		})
	}
}
