package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/web"
	"github.com/sitewarden/sitewarden/control-plane/web/webtest"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	"github.com/sitewarden/sitewarden/protocol/audit"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

const password = "a long enough passphrase"

// t0 is the tests' clock: a fixed time, so expiries are deterministic.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

type env struct {
	t     *testing.T
	st    *store.SQLite
	srv   *httptest.Server
	ui    *web.Server
	auth  *auth.Service
	api   *api.Server
	notes *testsupport.Notifier
	logs  *bytes.Buffer
	vkey  string
}

// newEnv serves the real API and UI, as the server mounts them, over real
// HTTP on a real SQLite store with one account per role (the client
// viewer reads acme) and sites acme/hq (with a witnessed audit log) and
// globex/hq.
func newEnv(t testing.TB, st *store.SQLite) *env {
	ctx := context.Background()
	dir := t.TempDir()
	if st == nil {
		var err error
		if st, err = store.OpenSQLite(ctx, filepath.Join(dir, "cp.db")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
	}
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil))
	acfg := auth.DefaultConfig()
	acfg.Argon2 = auth.Argon2{Memory: 64, Time: 1, Threads: 1} // cheap for tests
	acfg.InsecureCookies = true                                // httptest serves plain HTTP
	acfg.MaxFailures = 1000
	now := func() time.Time { return t0 }
	a, err := auth.New(acfg, st, log, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := enroll.LoadOrCreateCA(filepath.Join(dir, "ca"), t0)
	if err != nil {
		t.Fatal(err)
	}
	enrollFn := func(ctx context.Context, client, site string, ttl time.Duration) (string, time.Time, error) {
		tok, err := enroll.CreateToken(ctx, st, ca, "127.0.0.1:7443", store.Identity{Tenant: "msp", Client: client, Site: site}, ttl, t0)
		return tok.Encode(), tok.Expires, err
	}
	e := &env{st: st, notes: &testsupport.Notifier{}, logs: logs, auth: a}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	gov := api.WithGovernance(api.Governance{Review: st, ScopeKey: scopeKey}) // samples and scopes (samples_test.go)
	fleet := api.WithFleetEnroll(func(ctx context.Context, client string, uses int, ttl time.Duration) (string, time.Time, error) {
		tok, err := enroll.CreateFleetToken(ctx, st, ca, "127.0.0.1:7443", "msp", client, uses, ttl, t0)
		return tok.Encode(), tok.Expires, err
	})
	if e.api, err = api.New(api.DefaultConfig(), st, a, e.notes, enrollFn, log, now, gov, fleet); err != nil {
		t.Fatal(err)
	}
	cfg := web.DefaultConfig()
	cfg.InsecureCookies = true
	if e.ui, err = web.New(cfg, web.Deps{Actions: e.api, Sessions: a, Store: st, Accuracy: st.Accuracy, Log: log, Now: now}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", e.api)
	mux.Handle("/", e.ui)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	for _, r := range auth.Roles() {
		hash, err := auth.HashPassword(acfg.Argon2, password)
		if err != nil {
			t.Fatal(err)
		}
		client := ""
		if r == auth.RoleClientViewer {
			client = "acme"
		}
		if err := st.CreateUser(ctx, store.User{Name: string(r), Role: string(r), Client: client, PasswordHash: hash, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"acme", "globex"} {
		if err := st.UpsertSite(ctx, store.Site{Identity: store.Identity{Tenant: "msp", Client: c, Site: "hq"}, CertSerial: "01", EnrolledAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	var recs []audit.Record
	for i := range 6 {
		recs = append(recs, audit.Record{Kind: audit.KindActionResult, Time: t0.Add(time.Duration(i-6) * time.Hour), Client: "acme", Site: "hq",
			Agent: "account-helper", GoalID: "g-e-resolve", Actor: "agent", Payload: []byte(`{"step":` + fmt.Sprint(i) + `}`)})
	}
	if e.vkey, err = webtest.AuditLog(ctx, st, "msp", "acme", "hq", key, recs, 5, t0); err != nil {
		t.Fatal(err)
	}
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// putEscalation stores an escalation as a site's runner sends it.
func (e *env) putEscalation(client, id, workflow string) {
	e.t.Helper()
	esc := &pb.Escalation{EscalationId: id, Reason: "LDAP unreachable", SuggestedNextStep: "check the domain controller",
		Goal: &pb.Goal{GoalId: "g-" + id, ClientId: client, SiteId: "hq", Agent: "account-helper", Workflow: workflow,
			Subject: map[string]string{"user": "dana"}, TicketText: "please unlock <b>dana</b>", CreatedAt: timestamppb.New(t0.Add(-time.Hour))},
		Plan: &pb.Plan{Planner: "playbook:unlock", Steps: []*pb.PlanStep{{Action: "unlock_account", ParamsJson: []byte(`{"user":"dana"}`)}}},
		Attempts: []*pb.Attempt{{Step: 1, Proposed: &pb.PlanStep{Action: "unlock_account", ParamsJson: []byte(`{"user":"dana"}`)},
			Decision: &pb.PolicyDecision{Effect: pb.Effect_EFFECT_ALLOW, RuleId: "unlock-any", Mode: "autonomous"}, Status: "failed",
			Error: "ldap: connection refused", Observations: []*pb.Observation{{Key: "dc", Value: "dc01"}}, AuditIndex: 3}},
		RaisedAt: timestamppb.New(t0.Add(-30 * time.Minute))}
	if err := webtest.Put(context.Background(), e.st, store.KindEscalation, client, "hq", id, esc, t0.Add(-30*time.Minute)); err != nil {
		e.t.Fatal(err)
	}
}

// putApproval stores an approval request as a site's runner sends it.
func (e *env) putApproval(client, id string, expires time.Time) {
	e.t.Helper()
	a := &pb.ApprovalRequest{ApprovalId: id, GoalId: "g-" + id, Agent: "account-helper", Workflow: "password_reset",
		Action: &pb.PlanStep{Action: "reset_password", ParamsJson: []byte(`{"user":"dana","notify":"manager"}`), Rationale: "the user asked"},
		Target: map[string]string{"user": "dana", "ou": "Sales"}, Decision: &pb.PolicyDecision{Effect: pb.Effect_EFFECT_NEEDS_APPROVAL, RuleId: "reset-needs-approval"},
		RequestedAt: timestamppb.New(t0.Add(-time.Minute)), ExpiresAt: timestamppb.New(expires)}
	if err := webtest.Put(context.Background(), e.st, store.KindApprovalRequest, client, "hq", id, a, t0.Add(-time.Minute)); err != nil {
		e.t.Fatal(err)
	}
}

// session is a signed-in HTTP client: cookies, no redirects followed.
type session struct {
	e    *env
	c    *http.Client
	csrf string
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
var tokenField = regexp.MustCompile(`name="token" value="([^"]+)"`)

func (e *env) anonymous() *session {
	jar, _ := cookiejar.New(nil)
	return &session{e: e, c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// login signs in through the login form as the role's account.
func (e *env) login(r auth.Role) *session {
	e.t.Helper()
	b := e.anonymous()
	code, _ := b.postPublic("/login", url.Values{"user": {string(r)}, "password": {password}, "next": {"/"}})
	if code != http.StatusSeeOther {
		e.t.Fatalf("login as %s: %d", r, code)
	}
	code, body := b.get("/")
	m := csrfField.FindStringSubmatch(body)
	if code != 200 || m == nil {
		e.t.Fatalf("overview after login as %s: %d, csrf field %v", r, code, m)
	}
	b.csrf = m[1]
	return b
}

func (b *session) do(req *http.Request) (int, string) {
	b.e.t.Helper()
	resp, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func (b *session) get(path string) (int, string) {
	req, _ := http.NewRequest("GET", b.e.srv.URL+path, nil)
	return b.do(req)
}

// post sends a form with the session's CSRF token.
func (b *session) post(path string, form url.Values) (int, string) {
	if form == nil {
		form = url.Values{}
	}
	if b.csrf != "" && form.Get("csrf") == "" {
		form.Set("csrf", b.csrf)
	}
	req, _ := http.NewRequest("POST", b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.e.srv.URL)
	return b.do(req)
}

// postPublic fetches the form first for its pre-session token (login, setup).
func (b *session) postPublic(path string, form url.Values) (int, string) {
	_, page := b.get(path)
	m := tokenField.FindStringSubmatch(page)
	if m == nil {
		b.e.t.Fatalf("no token field on %s", path)
	}
	form.Set("token", m[1])
	return b.post(path, form)
}
