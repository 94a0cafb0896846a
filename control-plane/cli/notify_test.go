package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/cli"
	"github.com/sitewarden/sitewarden/control-plane/notify"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

const notifySecret = "cli-test-secret-0123456789"

// hook is a real webhook receiver on loopback that verifies signatures
// and counts event ids; while down it answers 503.
type hook struct {
	*httptest.Server
	mu       sync.Mutex
	down     bool
	requests int
	ids      []string
	count    map[string]int
	events   []notify.Event
	bad      int
}

func newHook(t *testing.T) *hook {
	h := &hook{count: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		h.mu.Lock()
		defer h.mu.Unlock()
		h.requests++
		if h.down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if err := notify.Verify(notifySecret, r.Header.Get(notify.HeaderSignature), r.Header.Get(notify.HeaderTimestamp), body, time.Now(), 5*time.Minute); err != nil {
			h.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var e notify.Event
		if err := json.Unmarshal(body, &e); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		h.ids = append(h.ids, e.ID)
		h.events = append(h.events, e)
		h.count[e.ID]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) set(down bool) {
	h.mu.Lock()
	h.down = down
	h.mu.Unlock()
}

func (h *hook) snapshot() (requests int, ids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.requests, append([]string(nil), h.ids...)
}

func writeNotifyConfig(t *testing.T, mode os.FileMode, hookURL string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.yaml")
	cfg := fmt.Sprintf(`base_url: https://cp.example.com:8443
poll: 50ms
retry_min: 50ms
retry_max: 200ms
targets:
  - name: psa
    url: %s/hook
    allow_http: true
    timeout: 2s
    secret: %s
`, hookURL, notifySecret)
	if err := os.WriteFile(path, []byte(cfg), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServerProcess starts `sitewarden server` as a real child process
// (the test binary, installed in $PATH by TestMain) and waits until it is
// ready.
func startServerProcess(t *testing.T, state, cfgPath string) *exec.Cmd {
	t.Helper()
	bin, err := exec.LookPath("sitewarden")
	if err != nil {
		t.Fatalf("sitewarden not in PATH (TestMain installs it): %v", err)
	}
	logs := &testsupport.Buffer{}
	cmd := exec.Command(bin, "server", "--state", state, "--listen", freeAddr(t), "--http-listen", freeAddr(t), "--notify-config", cfgPath, "--log-level", "info")
	cmd.Stderr, cmd.Stdout = logs, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), "control plane ready"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("server not ready within 30s: %s", logs.String())
		}
	}
	if !strings.Contains(logs.String(), "notifications on") {
		t.Fatalf("server did not start its notifier: %s", logs.String())
	}
	return cmd
}

// TestNotifyThroughServer stores escalations while the receiver is down,
// kills the server (SIGKILL) with the deliveries pending, restarts it and
// checks each event arrives once, signed with the target's secret.
func TestNotifyThroughServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	h := newHook(t)
	h.set(true)
	cfgPath := writeNotifyConfig(t, 0o600, h.URL)
	state := t.TempDir()
	first := startServerProcess(t, state, cfgPath)

	st, err := store.OpenSQLite(ctx, filepath.Join(state, "control-plane.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range 3 {
		payload, _ := proto.Marshal(&pb.Escalation{EscalationId: fmt.Sprint(i), Goal: &pb.Goal{GoalId: fmt.Sprintf("g%d", i), Workflow: "account_unlock"}, Reason: "no in-scope path left"})
		if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: fmt.Sprintf("e%d", i), Payload: payload, ReceivedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := st.NotifyPendingCounts(ctx)
		if n, _ := h.snapshot(); err == nil && c["psa"] == 3 && n >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("deliveries not pending and retried within 30s")
		}
	}
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()

	h.set(false)
	startServerProcess(t, state, cfgPath)
	// A row the killed server had claimed waits for its lease to expire
	// (the target's 2 s timeout + 30 s), so allow that and some more.
	for deadline := time.Now().Add(50 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, ids := h.snapshot(); len(ids) >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("events not delivered within 50s of the restart (a dead claim's lease is 32 s)")
		}
	}
	time.Sleep(500 * time.Millisecond) // ten more polls: no duplicate
	h.mu.Lock()
	defer h.mu.Unlock()
	want := []string{"escalation.opened:acme:e0", "escalation.opened:acme:e1", "escalation.opened:acme:e2"}
	if strings.Join(h.ids, ",") != strings.Join(want, ",") || h.bad != 0 {
		t.Fatalf("receiver got %v (bad signatures %d); want %v once each, in order", h.ids, h.bad, want)
	}
	e := h.events[0]
	if e.Type != notify.EventEscalationOpened || e.Link != "https://cp.example.com:8443/escalations/acme/e0" || e.GoalID != "g0" || e.Tenant != "default" {
		t.Fatalf("event = %+v", e)
	}
}

func TestServerRefusesReadableNotifyConfig(t *testing.T) {
	cfgPath := writeNotifyConfig(t, 0o644, "http://127.0.0.1:1")
	var out, errb bytes.Buffer
	code := cli.Run(context.Background(), []string{"server", "--state", t.TempDir(), "--listen", freeAddr(t), "--http-listen", freeAddr(t), "--notify-config", cfgPath}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "readable by group or others") || !strings.Contains(errb.String(), "chmod 600") {
		t.Fatalf("exit %d, stderr %s; want 2 and a chmod 600 hint", code, errb.String())
	}
}

func TestNotifyTestCommand(t *testing.T) {
	ctx := context.Background()
	h := newHook(t)
	cfgPath := writeNotifyConfig(t, 0o600, h.URL)
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		if code := cli.Run(ctx, append([]string{"notify", "test", "--notify-config", cfgPath}, args...), &out, &errb); code != want {
			t.Fatalf("notify test %v: exit %d, want %d: %s%s", args, code, want, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	if out := run(0, "--target", "psa"); !strings.Contains(out, "psa: HTTP 204") {
		t.Fatalf("output %q", out)
	}
	if _, ids := h.snapshot(); len(ids) != 1 || !strings.HasPrefix(ids[0], "test:") {
		t.Fatalf("receiver got %v", ids)
	}
	h.set(true)
	if out := run(1); !strings.Contains(out, "psa: HTTP 503") || !strings.Contains(out, "1 of 1 targets failed") {
		t.Fatalf("output %q", out)
	}
	if out := run(2, "--target", "nope"); !strings.Contains(out, `unknown notify target "nope"`) {
		t.Fatalf("output %q", out)
	}
}
