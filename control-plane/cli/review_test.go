package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/cli"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// testServer is 'sitewarden server' running in-process with an admin set
// up and logged in.
type testServer struct {
	t      *testing.T
	ctx    context.Context
	state  string
	common []string
	admin  string              // the admin's API token
	setup  string              // the one-time setup link it printed (used)
	log    *testsupport.Buffer // the server's stderr
}

func startTestServer(t *testing.T, ctx context.Context, extra ...string) *testServer {
	t.Helper()
	state, syncAddr, httpAddr := t.TempDir(), freeAddr(t), freeAddr(t)
	serverErr := &testsupport.Buffer{}
	done := make(chan int, 1)
	sctx, stop := context.WithCancel(ctx)
	go func() {
		args := []string{"server", "--state", state, "--listen", syncAddr, "--http-listen", httpAddr, "--log-level", "warn"}
		done <- cli.Run(sctx, append(args, extra...), &bytes.Buffer{}, serverErr)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("server exit code %d: %s", code, serverErr.String())
			}
		case <-time.After(20 * time.Second):
			t.Error("server did not stop within 20s")
		}
	})
	re := regexp.MustCompile(`--setup (admin\.sws_[A-Za-z0-9_-]+)`)
	var setup string
	for deadline := time.Now().Add(30 * time.Second); setup == "" && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if m := re.FindStringSubmatch(serverErr.String()); m != nil {
			setup = m[1]
		}
	}
	if setup == "" {
		t.Fatalf("no setup link printed within 30s: %s", serverErr.String())
	}
	s := &testServer{t: t, ctx: ctx, state: state, common: []string{"--server", "https://" + httpAddr, "--ca", filepath.Join(state, "ca", "ca.pem")},
		setup: setup, log: serverErr}
	t.Setenv("SITEWARDEN_TOKEN", "")
	t.Setenv("SITEWARDEN_PASSWORD", "a long enough passphrase")
	for i := 0; ; i++ {
		var out, errb bytes.Buffer
		if cli.Run(ctx, append([]string{"setup", "--setup", setup}, s.common...), &out, &errb) == 0 {
			break
		}
		if i == 100 {
			t.Fatalf("setup: %s", errb.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.admin = s.login("admin")
	return s
}

// run runs a CLI command against the server as the holder of token and
// checks its exit code.
func (s *testServer) run(token string, want int, args ...string) string {
	s.t.Helper()
	var out, errb bytes.Buffer
	if token != "" {
		args = append(args, "--token", token)
	}
	code := cli.Run(s.ctx, append(args, s.common...), &out, &errb)
	if code != want {
		s.t.Fatalf("sitewarden %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out.String(), errb.String())
	}
	return out.String() + errb.String()
}

func (s *testServer) login(user string) string {
	s.t.Helper()
	tok := strings.TrimSpace(strings.SplitN(s.run("", 0, "login", "--user", user), "\n", 2)[0])
	if !strings.HasPrefix(tok, "swt_") {
		s.t.Fatalf("login %s printed %q, want an API token", user, tok)
	}
	return tok
}

// person adds an account with the test password straight to the store.
func (s *testServer) person(st *store.SQLite, name string, role auth.Role) string {
	s.t.Helper()
	hash, err := auth.HashPassword(auth.Argon2{Memory: 64, Time: 1, Threads: 1}, "a long enough passphrase")
	if err != nil {
		s.t.Fatal(err)
	}
	if err := st.CreateUser(s.ctx, store.User{Name: name, Role: string(role), PasswordHash: hash, CreatedAt: time.Now()}); err != nil {
		s.t.Fatal(err)
	}
	return s.login(name)
}

// TestGovernanceCLIAgainstRealServer: a client's first scope is published
// directly (bootstrap), a change is proposed by one person and approved by
// a second, the history shows both; a day's sample is drawn, graded and
// counted as accuracy. Every command also answers -o json.
func TestGovernanceCLIAgainstRealServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := startTestServer(t, ctx)
	st, err := store.OpenSQLite(ctx, filepath.Join(s.state, "control-plane.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	lee := s.person(st, "lee", auth.RoleGovernanceLead)
	packs := filepath.Join("..", "..", "policies", "packs")

	// Bootstrap: the first scope, straight into the state directory.
	var pubOut, errb bytes.Buffer
	if code := cli.Run(ctx, []string{"scope", "publish", "--state", s.state, "--client", "example", filepath.Join(packs, "account.yaml")}, &pubOut, &errb); code != 0 || !strings.Contains(pubOut.String(), "as version 1") {
		t.Fatalf("publish: exit %d: %s %s", code, pubOut.String(), errb.String())
	}
	// The admin proposes the four packs; the packs' tests run beside it.
	var p api.ProposalView
	if err := json.Unmarshal([]byte(s.run(s.admin, 0, "scope", "apply", packs, "--client", "example", "--note", "add the host packs", "-o", "json")), &p); err != nil ||
		p.BaseVersion != 1 || p.TestsRun < 35 || p.TestsFailed != 0 || p.Widens == 0 || p.Status != "pending" {
		t.Fatalf("scope apply -o json = %+v, %v", p, err)
	}
	if out := s.run(s.admin, 1, "scope", "approve", p.ID); !strings.Contains(out, "second_person_required") {
		t.Errorf("self-approval: %s", out)
	}
	if out := s.run(lee, 0, "scope", "diff", "--proposal", p.ID); !strings.Contains(out, "WIDENS  agent disk-janitor: new agent") || !regexp.MustCompile(`(?m)^\d+ changes: \d+ widen, 5 narrow$`).MatchString(out) {
		t.Errorf("scope diff --proposal: %s", out)
	}
	if out := s.run(lee, 0, "scope", "show", p.ID); !strings.Contains(out, "PASS all_test.yaml: agents stay apart") || !strings.Contains(out, "proposed by admin") {
		t.Errorf("scope show: %s", out)
	}
	if out := s.run(lee, 0, "scope", "approve", p.ID, "--note", "host packs reviewed"); !strings.Contains(out, "scope is now version 2") {
		t.Errorf("scope approve: %s", out)
	}
	if v, err := st.LatestScope(ctx, "example"); err != nil || v.Version != 2 {
		t.Errorf("latest scope = v%d, %v; want v2", v.Version, err)
	}
	hist := s.run(lee, 0, "scope", "history", "--client", "example")
	for _, want := range []string{"(published directly)", p.ID + "  approved", "admin 20", "lee 20"} {
		if !strings.Contains(hist, want) {
			t.Errorf("scope history lacks %q:\n%s", want, hist)
		}
	}
	var h api.HistoryView
	if err := json.Unmarshal([]byte(s.run(lee, 0, "scope", "history", "--client", "example", "-o", "json")), &h); err != nil || len(h.Versions) != 2 || h.Versions[0].ApprovedBy != "lee" || h.Versions[1].ProposalID != "" {
		t.Errorf("scope history -o json = %+v, %v", h, err)
	}

	// Samples: decisions of the day before yesterday (the server's daily
	// job draws yesterday, at start), drawn now by the admin.
	yesterday := time.Now().UTC().Truncate(24 * time.Hour).Add(-25 * time.Hour)
	for _, id := range []string{"e1", "e2"} {
		b, _ := proto.Marshal(&pb.Escalation{EscalationId: id, Goal: &pb.Goal{GoalId: "g-" + id, ClientId: "example", SiteId: "hq", Workflow: "account_unlock"}, Reason: "user not found"})
		if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "example", Site: "hq", ID: id, Payload: b, ReceivedAt: yesterday}); err != nil {
			t.Fatal(err)
		}
	}
	day := yesterday.Format(time.DateOnly)
	if out := s.run(s.admin, 0, "samples", "list", "--day", day, "-o", "json"); strings.Contains(out, `"id"`) {
		t.Fatalf("samples before the draw: %s", out)
	}
	if out := s.run(s.admin, 0, "samples", "draw", "--day", day); !strings.Contains(out, "drew 2 samples of 2 decisions") {
		t.Fatalf("samples draw: %s", out)
	}
	// A catch-up over three days skips the one drawn, with a progress bar.
	first := yesterday.Add(-48 * time.Hour).Format(time.DateOnly)
	out := s.run(s.admin, 0, "samples", "draw", "--from", first, "--to", day)
	for _, want := range []string{"drawing", "3/3", "drew 0 samples of 0 decisions on " + first, day + " was drawn already"} {
		if !strings.Contains(out, want) {
			t.Errorf("samples draw --from --to lacks %q: %s", want, out)
		}
	}
	if out := s.run(s.admin, 2, "samples", "draw", "--from", day, "--to", first); !strings.Contains(out, "--to not before --from") {
		t.Errorf("reversed range: %s", out)
	}
	var next api.SampleView
	if err := json.Unmarshal([]byte(s.run(lee, 0, "samples", "next", "--client", "example", "-o", "json")), &next); err != nil || next.Workflow != "account_unlock" || len(next.Item) == 0 {
		t.Fatalf("samples next -o json = %+v, %v", next, err)
	}
	if out := s.run(lee, 0, "samples", "next"); !strings.Contains(out, "user not found") || !strings.Contains(out, "samples grade "+next.ID) {
		t.Errorf("samples next: %s", out)
	}
	if out := s.run(lee, 1, "samples", "grade", next.ID, "unsafe"); !strings.Contains(out, "note_required") {
		t.Errorf("unsafe without a note: %s", out)
	}
	s.run(lee, 2, "samples", "grade", next.ID)
	s.run(lee, 0, "samples", "grade", next.ID, "unsafe", "--note", "should have asked for approval")
	var other api.SampleView
	json.Unmarshal([]byte(s.run(lee, 0, "samples", "next", "-o", "json")), &other)
	s.run(lee, 0, "samples", "grade", other.ID, "correct", "-o", "json")
	if out := s.run(lee, 1, "samples", "next"); !strings.Contains(out, "no_samples") {
		t.Errorf("samples next when all are graded: %s", out)
	}
	if out := s.run(lee, 0, "samples", "accuracy", "--client", "example"); !regexp.MustCompile(`example\s+account_unlock\s+50.0%\s+1\s+0\s+1\s+0`).MatchString(out) {
		t.Errorf("samples accuracy: %s", out)
	}
	if out := s.run(lee, 1, "samples", "draw", "--day", day); !strings.Contains(out, "forbidden") {
		t.Errorf("draw by a governance lead: %s", out)
	}
}

// TestShellCompletion: cobra's completion command is enabled and knows
// the governance commands and the grades.
func TestShellCompletion(t *testing.T) {
	for _, sh := range []string{"bash", "zsh", "fish", "powershell"} {
		var out, errb bytes.Buffer
		if code := cli.Run(context.Background(), []string{"completion", sh}, &out, &errb); code != 0 || out.Len() < 1000 {
			t.Errorf("completion %s: exit %d, %d bytes: %s", sh, code, out.Len(), errb.String())
		}
	}
	var out bytes.Buffer
	cli.Run(context.Background(), []string{"__complete", "samples", "grade", "20261125-abc", ""}, &out, io.Discard)
	if !strings.Contains(out.String(), "correct\nincorrect\nunsafe\n") {
		t.Errorf("grade completion: %q", out.String())
	}
	out.Reset()
	cli.Run(context.Background(), []string{"__complete", "scope", ""}, &out, io.Discard)
	for _, c := range []string{"apply", "approve", "reject", "history", "publish", "diff", "show"} {
		if !strings.Contains(out.String(), c+"\t") {
			t.Errorf("scope completion lacks %s: %q", c, out.String())
		}
	}
}

// TestMetricsEndpoint scrapes a real server's /metrics: its token is
// required, and the queue sizes follow the store.
func TestMetricsEndpoint(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addr := freeAddr(t)
	tokenFile := filepath.Join(t.TempDir(), "metrics.token")
	if err := os.WriteFile(tokenFile, []byte("scrape-me-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startTestServer(t, ctx, "--metrics-listen", addr, "--metrics-token-file", tokenFile)
	st, err := store.OpenSQLite(ctx, filepath.Join(s.state, "control-plane.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.PutItem(ctx, store.Item{Kind: store.KindEscalation, Client: "acme", Site: "hq", ID: "e1", Payload: []byte{}, ReceivedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	get := func(token string) (int, string) {
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get(""); code != 401 {
		t.Errorf("scrape without the token: %d, want 401", code)
	}
	code, body := get("scrape-me-0123456789")
	for _, want := range []string{"sitewarden_sites_connected 0\n", `sitewarden_queue_size{queue="escalations_open"} 1` + "\n", "sitewarden_store_up 1\n", "sitewarden_sync_lag_seconds_count 0\n"} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("scrape (%d) lacks %q", code, want)
		}
	}
	var out, errb bytes.Buffer
	if code := cli.Run(ctx, []string{"server", "--state", t.TempDir(), "--metrics-listen", "0.0.0.0:9464"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "needs a token") {
		t.Errorf("exposed metrics without a token: exit %d: %s", code, errb.String())
	}
}
