package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/syncserver"
	"github.com/sitewarden/sitewarden/internal/testsupport"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

const password = "a long enough passphrase"

var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

type env struct {
	t      *testing.T
	st     *store.SQLite
	srv    *httptest.Server
	auth   *auth.Service
	api    *api.Server
	tokens map[auth.Role]string
	notes  *testsupport.Notifier
	logs   *bytes.Buffer
}

// newEnv runs the real API over real HTTP on a real SQLite store, with
// one account and API token per role.
func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "cp.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	acfg := auth.DefaultConfig()
	acfg.Argon2 = auth.Argon2{Memory: 64, Time: 1, Threads: 1} // cheap for tests
	acfg.InsecureCookies = true                                // httptest serves plain HTTP
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
	e := &env{t: t, st: st, auth: a, tokens: map[auth.Role]string{}, notes: &testsupport.Notifier{}, logs: logs}
	fleetFn := func(ctx context.Context, client string, uses int, ttl time.Duration) (string, time.Time, error) {
		tok, err := enroll.CreateFleetToken(ctx, st, ca, "127.0.0.1:7443", "msp", client, uses, ttl, t0)
		return tok.Encode(), tok.Expires, err
	}
	e.api, err = api.New(api.DefaultConfig(), st, a, e.notes, enrollFn, log, now, governance(st), api.WithFleetEnroll(fleetFn))
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.api)
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
		tok, _, err := a.CreateAPIToken(ctx, string(r), "test", 0)
		if err != nil {
			t.Fatal(err)
		}
		e.tokens[r] = tok
	}
	for _, c := range []string{"acme", "globex"} {
		if err := st.UpsertSite(ctx, store.Site{Identity: store.Identity{Tenant: "msp", Client: c, Site: "hq"}, CertSerial: "01", EnrolledAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *env) putEscalation(client, id string) {
	e.t.Helper()
	b, _ := proto.Marshal(&pb.Escalation{EscalationId: id, Goal: &pb.Goal{GoalId: "g-" + id, ClientId: client, SiteId: "hq"}, Reason: "ldap down", SuggestedNextStep: "retry"})
	if _, err := e.st.PutItem(context.Background(), store.Item{Kind: store.KindEscalation, Client: client, Site: "hq", ID: id, Payload: b, ReceivedAt: t0}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) putApproval(client, id string, expires time.Time) {
	e.t.Helper()
	b, _ := proto.Marshal(&pb.ApprovalRequest{ApprovalId: id, GoalId: "g-" + id, Agent: "account-helper", Workflow: "password_reset",
		Action: &pb.PlanStep{Action: "reset_password"}, Target: map[string]string{"user": "dana"}, ExpiresAt: timestamppb.New(expires)})
	if _, err := e.st.PutItem(context.Background(), store.Item{Kind: store.KindApprovalRequest, Client: client, Site: "hq", ID: id, Payload: b, ReceivedAt: t0}); err != nil {
		e.t.Fatal(err)
	}
}

// do sends a request with an optional bearer token and decodes the JSON
// answer into out (when not nil).
func (e *env) do(method, path, token, body string, out any) (int, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, b, err)
		}
	}
	return resp.StatusCode, string(b)
}

var (
	all      = auth.Roles()
	writers  = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead, auth.RoleSupervisor}
	goalers  = []auth.Role{auth.RoleAdmin, auth.RoleSupervisor, auth.RoleOperationsEngineer}
	enrolls  = []auth.Role{auth.RoleAdmin, auth.RoleOperationsEngineer}
	adminOly = []auth.Role{auth.RoleAdmin}
)

// revokeHash is the hash of the fleet token the access table revokes.
const revokeHash = "abcdef01234567890000000000000000000000000000000000000000000000ff"

// TestEveryEndpointEveryRole walks every route with every role's API token
// and checks the answer is the success status for allowed roles and 403
// for the rest. A route without a row here fails the test.
func TestEveryEndpointEveryRole(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	extra := map[auth.Role]string{}
	for _, r := range all {
		e.putEscalation("acme", "e-claim-"+string(r))
		e.putEscalation("acme", "e-resolve-"+string(r))
		e.putEscalation("acme", "e-return-"+string(r))
		e.putApproval("acme", "a-approve-"+string(r), t0.Add(time.Hour))
		e.putApproval("acme", "a-deny-"+string(r), t0.Add(time.Hour))
		_, tk, err := e.auth.CreateAPIToken(ctx, string(r), "extra", 0)
		if err != nil {
			t.Fatal(err)
		}
		extra[r] = tk.ID
	}
	e.seedAudit()
	e.seedReview(t)
	if _, err := e.st.AddGoal(ctx, store.Goal{Client: "acme", Site: "hq", ID: "g1", Payload: []byte{}}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateUser(ctx, store.User{Name: "target", Role: "supervisor", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateToken(ctx, store.Token{Hash: revokeHash, Identity: store.Identity{Tenant: "msp", Client: "acme"}, Fleet: true, MaxUses: 3,
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		path    func(auth.Role) string
		body    func(auth.Role) string
		allowed []auth.Role // nil: public, every caller gets status
		status  int
	}
	fixed := func(s string) func(auth.Role) string { return func(auth.Role) string { return s } }
	per := func(f string) func(auth.Role) string { return func(r auth.Role) string { return fmt.Sprintf(f, r) } }
	table := map[string]row{
		"POST /api/v1/setup":                                  {fixed("/api/v1/setup"), fixed(`{"setup":"x.y","password":"` + password + `"}`), nil, 400},
		"POST /api/v1/session":                                {fixed("/api/v1/session"), per(`{"user":"%s","password":"` + password + `"}`), nil, 200},
		"GET /api/v1/session":                                 {fixed("/api/v1/session"), nil, all, 200},
		"DELETE /api/v1/session":                              {fixed("/api/v1/session"), nil, all, 204},
		"GET /api/v1/sites":                                   {fixed("/api/v1/sites?client=acme"), nil, all, 200},
		"GET /api/v1/sites/{client}/{site}":                   {fixed("/api/v1/sites/acme/hq"), nil, all, 200},
		"GET /api/v1/escalations":                             {fixed("/api/v1/escalations?client=acme"), nil, all, 200},
		"GET /api/v1/escalations/{client}/{id}":               {per("/api/v1/escalations/acme/e-claim-%s"), nil, all, 200},
		"POST /api/v1/escalations/{client}/{id}/claim":        {per("/api/v1/escalations/acme/e-claim-%s/claim"), nil, writers, 200},
		"POST /api/v1/escalations/{client}/{id}/resolve":      {per("/api/v1/escalations/acme/e-resolve-%s/resolve"), fixed(`{"note":"done"}`), writers, 200},
		"POST /api/v1/escalations/{client}/{id}/return":       {per("/api/v1/escalations/acme/e-return-%s/return"), fixed(`{"guidance":"reset it via the portal"}`), writers, 200},
		"GET /api/v1/audit/export":                            {fixed("/api/v1/audit/export?client=acme&site=hq"), nil, all, 200},
		"GET /api/v1/approvals":                               {fixed("/api/v1/approvals?client=acme"), nil, all, 200},
		"GET /api/v1/approvals/{client}/{id}":                 {per("/api/v1/approvals/acme/a-approve-%s"), nil, all, 200},
		"POST /api/v1/approvals/{client}/{id}/approve":        {per("/api/v1/approvals/acme/a-approve-%s/approve"), fixed(`{"note":"ok"}`), writers, 200},
		"POST /api/v1/approvals/{client}/{id}/deny":           {per("/api/v1/approvals/acme/a-deny-%s/deny"), fixed(`{"note":"no"}`), writers, 200},
		"POST /api/v1/goals":                                  {fixed("/api/v1/goals"), fixed(`{"client":"acme","site":"hq","agent":"a","workflow":"w"}`), goalers, 201},
		"GET /api/v1/goals/{client}/{id}":                     {fixed("/api/v1/goals/acme/g1"), nil, all, 200},
		"POST /api/v1/enrollment-tokens":                      {fixed("/api/v1/enrollment-tokens"), per(`{"client":"acme","site":"new-%s"}`), enrolls, 201},
		"GET /api/v1/enrollment-tokens":                       {fixed("/api/v1/enrollment-tokens?client=acme"), nil, enrolls, 200},
		"POST /api/v1/enrollment-tokens/{client}/{id}/revoke": {fixed("/api/v1/enrollment-tokens/acme/" + store.TokenID(revokeHash) + "/revoke"), nil, enrolls, 200},
		"GET /api/v1/tokens":                                  {fixed("/api/v1/tokens"), nil, all, 200},
		"POST /api/v1/tokens":                                 {fixed("/api/v1/tokens"), fixed(`{"name":"laptop"}`), all, 201},
		"DELETE /api/v1/tokens/{id}":                          {func(r auth.Role) string { return "/api/v1/tokens/" + extra[r] }, nil, all, 204},
		"GET /api/v1/users":                                   {fixed("/api/v1/users"), nil, adminOly, 200},
		"POST /api/v1/users":                                  {fixed("/api/v1/users"), per(`{"name":"new-%s","role":"supervisor"}`), adminOly, 201},
		"PATCH /api/v1/users/{name}":                          {fixed("/api/v1/users/target"), fixed(`{"disabled":false}`), adminOly, 200},
	}
	for k, rw := range reviewRows(t) {
		table[k] = rw
	}
	seen := map[string]bool{}
	for _, rt := range e.api.Routes() {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		rw, ok := table[key]
		if !ok {
			t.Errorf("route %s has no row in the access table: add one", key)
			continue
		}
		if (rw.allowed == nil) != (rt.Perm == "") {
			t.Errorf("route %s: public in the table is %v, in the server %v", key, rw.allowed == nil, rt.Perm == "")
		}
		for _, r := range all {
			body := ""
			if rw.body != nil {
				body = rw.body(r)
			}
			token := e.tokens[r]
			allowed := rw.allowed == nil
			for _, a := range rw.allowed {
				allowed = allowed || a == r
			}
			if rw.allowed == nil {
				token = ""
			}
			code, resp := e.do(rt.Method, rw.path(r), token, body, nil)
			want := rw.status
			if !allowed {
				want = http.StatusForbidden
			}
			if code != want {
				t.Errorf("%s as %s: status %d, want %d: %s", key, r, code, want, resp)
			}
			if rw.allowed != nil {
				if code, _ := e.do(rt.Method, rw.path(r), "", body, nil); code != http.StatusUnauthorized {
					t.Errorf("%s without credentials: status %d, want 401", key, code)
				}
			}
		}
	}
	for key := range table {
		if !seen[key] {
			t.Errorf("table row %s names no route", key)
		}
	}
}

func TestClientViewerSeesOnlyItsClient(t *testing.T) {
	e := newEnv(t)
	e.putEscalation("globex", "e1")
	viewer := e.tokens[auth.RoleClientViewer]
	for _, path := range []string{"/api/v1/sites?client=globex", "/api/v1/sites/globex/hq", "/api/v1/escalations?client=globex", "/api/v1/escalations/globex/e1", "/api/v1/approvals?client=globex"} {
		if code, body := e.do("GET", path, viewer, "", nil); code != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403: %s", path, code, body)
		}
	}
	var p api.Page[api.SiteView]
	if code, _ := e.do("GET", "/api/v1/sites", viewer, "", &p); code != 200 || len(p.Items) != 1 || p.Items[0].Client != "acme" {
		t.Errorf("viewer's default client list = %d %+v", code, p)
	}
	if code, _ := e.do("GET", "/api/v1/escalations/globex/e1", e.tokens[auth.RoleSupervisor], "", nil); code != 200 {
		t.Errorf("supervisor reading globex: %d", code)
	}
}

func TestStrictDecodingAndErrors(t *testing.T) {
	e := newEnv(t)
	tok := e.tokens[auth.RoleSupervisor]
	var er struct{ Error api.Error }
	for _, body := range []string{`{"client":"acme","site":"hq","agent":"a","workflow":"w","extra":1}`, `{"client":"acme"} {}`, `not json`} {
		code, raw := e.do("POST", "/api/v1/goals", tok, body, &er)
		if code != 400 || er.Error.Code != "bad_json" || er.Error.Hint == "" {
			t.Errorf("POST %s: %d %s, want 400 bad_json with a hint", body, code, raw)
		}
	}
	big := `{"client":"` + strings.Repeat("a", 70<<10) + `"}`
	if code, raw := e.do("POST", "/api/v1/goals", tok, big, &er); code != 413 {
		t.Errorf("oversized body: %d %s, want 413", code, raw)
	}
	if code, _ := e.do("GET", "/api/v1/escalations", tok, "", &er); code != 400 || er.Error.Code != "client_required" {
		t.Errorf("list without client: %d %+v", code, er)
	}
	if code, _ := e.do("GET", "/api/v1/nope", tok, "", &er); code != 404 || er.Error.Code != "no_route" {
		t.Errorf("unknown path: %d %+v", code, er)
	}
	if code, _ := e.do("GET", "/api/v1/escalations?client=acme&page_token=!!", tok, "", &er); code != 400 || er.Error.Code != "bad_page" {
		t.Errorf("bad page token: %d %+v", code, er)
	}
}

func TestPagination(t *testing.T) {
	e := newEnv(t)
	for i := range 5 {
		e.putEscalation("acme", fmt.Sprintf("e%d", i))
	}
	var got []string
	next := ""
	for range 10 {
		var p api.Page[api.EscalationView]
		if code, raw := e.do("GET", "/api/v1/escalations?client=acme&limit=2&page_token="+next, e.tokens[auth.RoleAdmin], "", &p); code != 200 {
			t.Fatalf("page: %d %s", code, raw)
		}
		for _, it := range p.Items {
			got = append(got, it.ID)
		}
		if next = p.NextPageToken; next == "" {
			break
		}
	}
	if strings.Join(got, ",") != "e0,e1,e2,e3,e4" {
		t.Errorf("pages gave %v, want e0..e4 once each in order", got)
	}
}

func TestApproveDeliversDecisionAndGoalNotifies(t *testing.T) {
	if api.TopicGoals != syncserver.StreamGoals || api.TopicApprovals != syncserver.StreamApprovals {
		t.Fatal("api topics differ from the sync server's streams")
	}
	e := newEnv(t)
	e.putApproval("acme", "a1", t0.Add(time.Hour))
	e.putApproval("acme", "a-old", t0.Add(-time.Minute))
	tok := e.tokens[auth.RoleSupervisor]
	var v api.ApprovalView
	if code, raw := e.do("POST", "/api/v1/approvals/acme/a1/approve", tok, `{"note":"verified by phone"}`, &v); code != 200 || v.Status != "approved" || v.DecidedBy != "supervisor" {
		t.Fatalf("approve: %d %s", code, raw)
	}
	ds, err := e.st.DecisionsAfter(context.Background(), "acme", "hq", 0, 10)
	if err != nil || len(ds) != 1 {
		t.Fatalf("decisions for the site = %v, %v; want 1", ds, err)
	}
	var d pb.ApprovalDecision
	if err := proto.Unmarshal(ds[0].Payload, &d); err != nil || d.GetVerdict() != pb.Verdict_VERDICT_APPROVED || d.GetReason() != "verified by phone" || d.GetGoalId() != "g-a1" {
		t.Errorf("stored decision = %v, %v", &d, err)
	}
	var er struct{ Error api.Error }
	if code, _ := e.do("POST", "/api/v1/approvals/acme/a1/deny", tok, `{}`, &er); code != 409 || er.Error.Code != "already_decided" {
		t.Errorf("second decision: %d %+v", code, er)
	}
	if code, _ := e.do("POST", "/api/v1/approvals/acme/a-old/approve", tok, `{}`, &er); code != 409 || er.Error.Code != "expired" {
		t.Errorf("expired approval: %d %+v", code, er)
	}
	var g api.GoalView
	if code, raw := e.do("POST", "/api/v1/goals", tok, `{"client":"acme","site":"hq","id":"g9","agent":"account-helper","workflow":"account_unlock","subject":{"user":"bob"}}`, &g); code != 201 || g.Status != "assigned" {
		t.Fatalf("submit goal: %d %s", code, raw)
	}
	if code, _ := e.do("POST", "/api/v1/goals", tok, `{"client":"acme","site":"nowhere","agent":"a","workflow":"w"}`, &er); code != 404 || er.Error.Code != "unknown_site" {
		t.Errorf("goal for unknown site: %d %+v", code, er)
	}
	want := []string{fmt.Sprintf("acme/hq approvals %d", ds[0].Cursor), fmt.Sprintf("acme/hq goals %d", g.Cursor)}
	if strings.Join(e.notes.Calls(), ";") != strings.Join(want, ";") {
		t.Errorf("notifications %v, want %v", e.notes.Calls(), want)
	}
}

func TestCookieSessionNeedsCSRF(t *testing.T) {
	e := newEnv(t)
	e.putEscalation("acme", "e1")
	var s api.SessionView
	req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/session", strings.NewReader(`{"user":"supervisor","password":"`+password+`"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(resp.Body).Decode(&s)
	resp.Body.Close()
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == auth.SessionCookie {
			cookie = c
		}
	}
	if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || s.CSRFToken == "" {
		t.Fatalf("login: cookie %+v, session %+v", cookie, s)
	}
	post := func(csrf string) int {
		req, _ := http.NewRequest("POST", e.srv.URL+"/api/v1/escalations/acme/e1/claim", nil)
		req.AddCookie(cookie)
		if csrf != "" {
			req.Header.Set(auth.CSRFHeader, csrf)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != 403 {
		t.Errorf("cookie POST without CSRF: %d, want 403", code)
	}
	if code := post("wrong"); code != 403 {
		t.Errorf("cookie POST with wrong CSRF: %d, want 403", code)
	}
	if code := post(s.CSRFToken); code != 200 {
		t.Errorf("cookie POST with CSRF: %d, want 200", code)
	}
	if strings.Contains(e.logs.String(), password) || strings.Contains(e.logs.String(), cookie.Value) {
		t.Error("a password or session secret appears in the log")
	}
}
