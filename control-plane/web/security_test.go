package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/web"
)

// TestFormsNeedTokensAndThisOrigin checks the CSRF defences: a form post
// without the session's token, with another's token, or from another
// origin changes nothing; the login form needs its pre-session token.
func TestFormsNeedTokensAndThisOrigin(t *testing.T) {
	e := newEnv(t, nil)
	e.putEscalation("acme", "e1", "account_unlock")
	s := e.login(auth.RoleSupervisor)
	other := e.login(auth.RoleAdmin)
	for name, form := range map[string]url.Values{"no token": {"csrf": {"-"}}, "another session's token": {"csrf": {other.csrf}}} {
		if form.Get("csrf") == "-" {
			form.Del("csrf")
			saved := s.csrf
			s.csrf = ""
			code, _ := s.post("/escalations/acme/e1/claim", form)
			s.csrf = saved
			if code != http.StatusForbidden {
				t.Errorf("%s: %d, want 403", name, code)
			}
			continue
		}
		if code, _ := s.post("/escalations/acme/e1/claim", form); code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", name, code)
		}
	}
	req, _ := http.NewRequest("POST", e.srv.URL+"/escalations/acme/e1/claim", strings.NewReader(url.Values{"csrf": {s.csrf}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	if code, _ := s.do(req); code != http.StatusForbidden {
		t.Errorf("cross-origin post: %d, want 403", code)
	}
	if st, err := e.st.EscalationState(context.Background(), "acme", "e1"); err != nil || st.ClaimedBy != "" {
		t.Errorf("escalation changed by a refused post: %+v, %v", st, err)
	}
	if code, _ := s.post("/escalations/acme/e1/claim", nil); code != http.StatusSeeOther {
		t.Errorf("claim with the token: %d, want 303", code)
	}
	anon := e.anonymous()
	if code, _ := anon.post("/login", url.Values{"user": {"admin"}, "password": {password}}); code != http.StatusForbidden {
		t.Errorf("login without its form token: %d, want 403", code)
	}
	if code, body := anon.postPublic("/login", url.Values{"user": {"admin"}, "password": {"wrong password!"}}); code != http.StatusUnauthorized || !strings.Contains(body, "wrong account name or password") {
		t.Errorf("bad password: %d", code)
	}
	if code, _ := anon.postPublic("/login", url.Values{"user": {"admin"}, "password": {password}, "next": {"//evil.example/x"}}); code != http.StatusSeeOther {
		t.Errorf("login: %d", code)
	}
	resp, err := anon.c.Get(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("headers: CSP %q, XFO %q", csp, resp.Header.Get("X-Frame-Options"))
	}
	// The pages have no inline script or style for the CSP to block.
	for _, path := range []string{"/", "/escalations/acme/e1", "/sites", "/audit", "/report?client=acme", "/approvals"} {
		_, body := s.get(path)
		if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, "<style") || strings.Contains(body, " onclick=") {
			t.Errorf("%s has an inline script or style", path)
		}
	}
}

func TestExpiredApprovalCannotBeDecided(t *testing.T) {
	e := newEnv(t, nil)
	e.putApproval("acme", "a-old", t0.Add(-time.Minute))
	s := e.login(auth.RoleSupervisor)
	_, body := s.get("/approvals/acme/a-old")
	if !strings.Contains(body, "expired") || strings.Contains(body, `id="approve"`) {
		t.Errorf("the expired approval's page offers a decision")
	}
	if code, body := s.post("/approvals/acme/a-old/approve", nil); code != http.StatusConflict || !strings.Contains(body, "expired") {
		t.Errorf("approving an expired request: %d, want 409", code)
	}
	if ds, _ := e.st.DecisionsAfter(context.Background(), "acme", "hq", 0, 10); len(ds) != 0 {
		t.Errorf("decisions stored: %v", ds)
	}
	if _, body := s.get("/approvals"); strings.Contains(body, "a-old") {
		t.Error("an expired approval is listed as pending")
	}
}

// TestWitnessAlertShowsOnSites records an alert the way the sync server's
// checkpoint witness raises it and checks the Sites page shows it.
func TestWitnessAlertShowsOnSites(t *testing.T) {
	e := newEnv(t, nil)
	var passed []string
	rec := web.AlertRecorder{Store: e.st, Next: nextAlerter(func(id store.Identity, reason string) { passed = append(passed, id.Site+": "+reason) }),
		Log: nil, Now: func() time.Time { return t0 }}
	rec.AuditRewritten(context.Background(), store.Identity{Client: "acme", Site: "hq"}, "tree of size 5 does not extend tree of size 4")
	if len(passed) != 1 {
		t.Errorf("alert not passed on: %v", passed)
	}
	_, body := e.login(auth.RoleClientViewer).get("/sites")
	if !strings.Contains(body, "ALERT") || !strings.Contains(body, "does not extend tree of size 4") {
		t.Errorf("the sites page shows no alert: %.2000s", body)
	}
}

type nextAlerter func(id store.Identity, reason string)

func (f nextAlerter) AuditRewritten(_ context.Context, id store.Identity, reason string) {
	f(id, reason)
}
