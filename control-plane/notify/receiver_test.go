package notify

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/store"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

const testSecret = "test-secret-0123456789"

// receiver is a real HTTPS webhook receiver on loopback. It verifies
// signatures of JSON bodies and records what it accepted; respond, when
// set, picks the answer of request n (0-based) before acceptance.
type receiver struct {
	*httptest.Server
	t *testing.T

	mu       sync.Mutex
	requests int
	got      []Event
	raw      [][]byte
	count    map[string]int
	respond  func(n int) (status int, delay time.Duration)
	badSigs  int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{t: t, count: map[string]int{}}
	r.Server = httptest.NewTLSServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
	r.mu.Lock()
	n := r.requests
	r.requests++
	respond := r.respond
	r.mu.Unlock()
	if respond != nil {
		status, delay := respond(n)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-req.Context().Done():
				return
			}
		}
		if status != http.StatusOK {
			w.WriteHeader(status)
			return
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Header.Get(HeaderSignature) != "" {
		if err := Verify(testSecret, req.Header.Get(HeaderSignature), req.Header.Get(HeaderTimestamp), body, time.Now(), 5*time.Minute); err != nil {
			r.badSigs++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	}
	var e Event
	if err := json.Unmarshal(body, &e); err == nil && e.ID != "" {
		if e.ID != req.Header.Get(HeaderEventID) {
			r.t.Errorf("body id %q, header id %q", e.ID, req.Header.Get(HeaderEventID))
		}
		r.got = append(r.got, e)
		r.count[e.ID]++
	}
	r.raw = append(r.raw, body)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.got...)
}

func (r *receiver) bodies() [][]byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.raw...)
}

func (r *receiver) target(name, format string) Target {
	return Target{Name: name, URL: r.URL + "/hook/" + name, Format: format, Secret: testSecret, Timeout: 2 * time.Second}
}

// waitFor polls cond every 10 ms for at most d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func openLite(t *testing.T, path string) *store.SQLite {
	t.Helper()
	s, err := store.OpenSQLite(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tempDB(t *testing.T) string { return filepath.Join(t.TempDir(), "cp.db") }

func fastConfig(targets ...Target) Config {
	c := DefaultConfig()
	c.BaseURL = "https://cp.example.com"
	c.Tenant = "msp"
	c.Poll = 20 * time.Millisecond
	c.RetryMin = 20 * time.Millisecond
	c.RetryMax = 100 * time.Millisecond
	c.Targets = targets
	return c
}

// startNotifier runs a notifier whose sender trusts the receiver's
// certificate; the returned function stops it and waits.
func startNotifier(t *testing.T, cfg Config, st Store, rc *receiver) (*Notifier, func()) {
	t.Helper()
	n, err := New(cfg, st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	n.send = NewSender(rc.Client())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = n.Run(ctx); close(done) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("notifier did not stop within 10s")
			}
		})
	}
	t.Cleanup(stop)
	return n, stop
}

func putEscalation(t *testing.T, st store.Store, client, id, reason string) {
	t.Helper()
	payload, _ := proto.Marshal(&pb.Escalation{EscalationId: id, Goal: &pb.Goal{GoalId: "g-" + id, Workflow: "account_unlock"}, Reason: reason})
	if _, err := st.PutItem(context.Background(), store.Item{Kind: store.KindEscalation, Client: client, Site: "hq", ID: id, Payload: payload, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

func putApproval(t *testing.T, st store.Store, client, id string, expires time.Time) {
	t.Helper()
	payload, _ := proto.Marshal(&pb.ApprovalRequest{ApprovalId: id, GoalId: "g-" + id, Workflow: "account_unlock",
		Action: &pb.PlanStep{Action: "directory.unlock_account"}, ExpiresAt: timestamppb.New(expires)})
	if _, err := st.PutItem(context.Background(), store.Item{Kind: store.KindApprovalRequest, Client: client, Site: "hq", ID: id, Payload: payload, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}
