package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
)

var (
	all     = auth.Roles()
	writers = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead, auth.RoleSupervisor}
	enrolls = []auth.Role{auth.RoleAdmin, auth.RoleOperationsEngineer}
)

// TestEveryPageEveryRole walks every page and form action of the UI with
// every role's signed-in session and checks the allowed roles get the
// page's success status and the others 403; signed out, pages redirect to
// the login and actions answer 401. A route without a row fails the test.
func TestEveryPageEveryRole(t *testing.T) {
	e := newEnv(t, nil)
	for _, r := range all {
		e.putEscalation("acme", "e-claim-"+string(r), "account_unlock")
		e.putEscalation("acme", "e-resolve-"+string(r), "account_unlock")
		e.putEscalation("acme", "e-return-"+string(r), "account_unlock")
		e.putApproval("acme", "a-approve-"+string(r), t0.Add(time.Hour))
		e.putApproval("acme", "a-deny-"+string(r), t0.Add(time.Hour))
	}
	type row struct {
		path    func(auth.Role) string
		form    func(auth.Role) url.Values
		allowed []auth.Role // nil: public
		status  int
	}
	fixed := func(s string) func(auth.Role) string { return func(auth.Role) string { return s } }
	per := func(f string) func(auth.Role) string { return func(r auth.Role) string { return fmt.Sprintf(f, r) } }
	form := func(kv ...string) func(auth.Role) url.Values {
		return func(r auth.Role) url.Values {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], strings.ReplaceAll(kv[i+1], "%s", string(r)))
			}
			return v
		}
	}
	table := map[string]row{
		"GET /login":                            {fixed("/login"), nil, nil, 200},
		"POST /login":                           {fixed("/login"), form("user", "%s", "password", password), nil, 303},
		"GET /setup":                            {fixed("/setup"), nil, nil, 200},
		"POST /setup":                           {fixed("/setup"), form("setup", "nobody.sws_x", "password", password, "password2", password), nil, 400},
		"POST /logout":                          {fixed("/logout"), nil, all, 303},
		"GET /{$}":                              {fixed("/?client=acme"), nil, all, 200},
		"GET /escalations":                      {fixed("/escalations?client=acme&state=open&age=1h&workflow=account_unlock&site=hq"), nil, all, 200},
		"GET /escalations/{client}/{id}":        {per("/escalations/acme/e-claim-%s"), nil, all, 200},
		"POST /escalations/{client}/{id}/claim": {per("/escalations/acme/e-claim-%s/claim"), nil, writers, 303},
		"POST /escalations/{client}/{id}/resolve":            {per("/escalations/acme/e-resolve-%s/resolve"), form("note", "fixed the DC"), writers, 303},
		"POST /escalations/{client}/{id}/return":             {per("/escalations/acme/e-return-%s/return"), form("guidance", "use the secondary DC"), writers, 303},
		"GET /approvals":                                     {fixed("/approvals?client=acme"), nil, all, 200},
		"GET /approvals/{client}/{id}":                       {per("/approvals/acme/a-approve-%s"), nil, all, 200},
		"POST /approvals/{client}/{id}/approve":              {per("/approvals/acme/a-approve-%s/approve"), form("reason", "called the user"), writers, 303},
		"POST /approvals/{client}/{id}/deny":                 {per("/approvals/acme/a-deny-%s/deny"), form("reason", "not verified"), writers, 303},
		"GET /sites":                                         {fixed("/sites?client=acme"), nil, all, 200},
		"POST /sites/enrollment-tokens":                      {fixed("/sites/enrollment-tokens"), form("client", "acme", "site", "new-%s", "ttl", "1h"), enrolls, 200},
		"GET /sites/{client}/{site}":                         {fixed("/sites/acme/hq"), nil, all, 200},
		"GET /sites/enrollment-tokens":                       {fixed("/sites/enrollment-tokens?client=acme"), nil, enrolls, 200},
		"POST /sites/enrollment-tokens/{client}/{id}/revoke": {fixed("/sites/enrollment-tokens/acme/" + store.TokenID(e.putToken("acme", "", "e", 3, t0.Add(time.Hour))) + "/revoke"), nil, enrolls, 303},
		"GET /audit":        {fixed("/audit?client=acme&site=hq&kind=action_result&from=2026-11-01&to=2026-12-01"), nil, all, 200},
		"GET /audit/export": {fixed("/audit/export?client=acme&site=hq"), nil, all, 200},
		"GET /report":       {fixed("/report?client=acme&month=2026-11"), nil, all, 200},
	}
	e.seedReview()
	for k, rw := range reviewPageRows(t) {
		table[k] = rw
	}
	sessions := map[auth.Role]*session{}
	for _, r := range all {
		sessions[r] = e.login(r)
	}
	seen := map[string]bool{}
	for _, pg := range e.ui.Pages() {
		key := pg.Method + " " + pg.Pattern
		seen[key] = true
		rw, ok := table[key]
		if !ok {
			t.Errorf("page %s has no row in the access table: add one", key)
			continue
		}
		if (rw.allowed == nil) != (pg.Perm == "") {
			t.Errorf("page %s: public in the table is %v, in the server %v", key, rw.allowed == nil, pg.Perm == "")
		}
		if key == "POST /logout" {
			continue // checked last: it ends the sessions
		}
		for _, r := range all {
			var f url.Values
			if rw.form != nil {
				f = rw.form(r)
			}
			allowed := rw.allowed == nil
			for _, a := range rw.allowed {
				allowed = allowed || a == r
			}
			want := rw.status
			if !allowed {
				want = http.StatusForbidden
			}
			var code int
			var body string
			switch {
			case rw.allowed == nil && pg.Method == "POST":
				code, body = e.anonymous().postPublic(rw.path(r), f)
			case rw.allowed == nil:
				code, body = e.anonymous().get(rw.path(r))
			case pg.Method == "POST":
				code, body = sessions[r].post(rw.path(r), f)
			default:
				code, body = sessions[r].get(rw.path(r))
			}
			if code != want {
				t.Errorf("%s as %s: status %d, want %d: %.300s", key, r, code, want, body)
			}
			if rw.allowed == nil {
				continue
			}
			anon := e.anonymous()
			if pg.Method == "GET" {
				if code, _ := anon.get(rw.path(r)); code != http.StatusSeeOther {
					t.Errorf("%s signed out: status %d, want 303 to the login", key, code)
				}
			} else if code, _ := anon.post(rw.path(r), f); code != http.StatusUnauthorized {
				t.Errorf("%s signed out: status %d, want 401", key, code)
			}
		}
	}
	for key := range table {
		if !seen[key] {
			t.Errorf("table row %s names no page", key)
		}
	}
	for _, r := range all {
		if code, _ := sessions[r].post("/logout", nil); code != http.StatusSeeOther {
			t.Errorf("logout as %s: %d", r, code)
		}
		if code, _ := sessions[r].get("/"); code != http.StatusSeeOther {
			t.Errorf("overview after logout as %s: %d, want 303 to the login", r, code)
		}
	}
	if strings.Contains(e.logs.String(), password) {
		t.Error("a password appears in the log")
	}
}

// TestClientViewerSeesOnlyItsClient checks a client viewer never sees
// another client's data on any page.
func TestClientViewerSeesOnlyItsClient(t *testing.T) {
	e := newEnv(t, nil)
	e.putEscalation("acme", "e-acme", "account_unlock")
	e.putEscalation("globex", "e-globex", "account_unlock")
	e.putApproval("acme", "a-acme", t0.Add(time.Hour))
	e.putApproval("globex", "a-globex", t0.Add(time.Hour))
	v := e.login(auth.RoleClientViewer)
	for _, path := range []string{"/?client=globex", "/escalations?client=globex", "/escalations/globex/e-globex", "/approvals?client=globex",
		"/approvals/globex/a-globex", "/sites?client=globex", "/sites/globex/hq", "/audit?client=globex", "/audit/export?client=globex&site=hq", "/report?client=globex"} {
		if code, body := v.get(path); code != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403: %.200s", path, code, body)
		}
	}
	for _, path := range []string{"/", "/escalations", "/approvals?show=all", "/sites", "/sites/acme/hq", "/audit?kind=", "/report"} {
		code, body := v.get(path)
		if code != 200 {
			t.Errorf("viewer GET %s: %d", path, code)
		}
		if strings.Contains(body, "globex") {
			t.Errorf("viewer GET %s shows globex: %.500s", path, body)
		}
	}
	if _, body := v.get("/escalations"); !strings.Contains(body, "e-acme") {
		t.Error("viewer's queue lacks its own client's escalation")
	}
	sup := e.login(auth.RoleSupervisor)
	if _, body := sup.get("/escalations"); !strings.Contains(body, "e-globex") || !strings.Contains(body, "e-acme") {
		t.Error("supervisor's queue lacks an escalation")
	}
}
