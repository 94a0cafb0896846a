package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/protocol"
)

// putToken stores an enrollment token of client whose hash repeats digit
// (a one-site token for site when site is set, else a fleet token of
// uses) and returns its hash.
func (e *env) putToken(client, site, digit string, uses int, expires time.Time) string {
	e.t.Helper()
	hash := strings.Repeat(digit, 64)
	tok := store.Token{Hash: hash, Identity: store.Identity{Tenant: "msp", Client: client, Site: site}, CreatedAt: t0.Add(-time.Hour), ExpiresAt: expires}
	if site == "" {
		tok.Fleet, tok.MaxUses = true, uses
	}
	if err := e.st.CreateToken(context.Background(), tok); err != nil {
		e.t.Fatal(err)
	}
	return hash
}

// enrollWith enrolls client/site with the fleet token hash, as the enroll
// server does.
func (e *env) enrollWith(hash, client, site string) error {
	at := t0.Add(-30 * time.Minute)
	_, err := e.st.EnrollFleetSite(context.Background(), hash, store.Site{Identity: store.Identity{Tenant: "msp", Client: client, Site: site},
		CertSerial: "s-" + site, EnrolledAt: at, AuditKey: make([]byte, 32)}, at)
	return err
}

// tokenRow returns the HTML table row of the token with this ID.
func tokenRow(body, id string) string {
	m := regexp.MustCompile(`(?s)<tr id="token-` + id + `">.*?</tr>`).FindString(body)
	return m
}

// TestEnrollTokensPage: the page lists each client's tokens with their
// kind, site, uses, times, state and the sites a fleet token enrolled; a
// client filter narrows it; neither secrets nor hashes appear; roles
// without the enroll permission (the client viewer, the supervisor) get
// 403 and no link to it.
func TestEnrollTokensPage(t *testing.T) {
	e := newEnv(t, nil)
	fleet := e.putToken("acme", "", "a", 5, t0.Add(time.Hour))
	for _, s := range []string{"pc1", "pc2"} {
		if err := e.enrollWith(fleet, "acme", s); err != nil {
			t.Fatal(err)
		}
	}
	one := e.putToken("acme", "branch", "b", 0, t0.Add(time.Hour))
	expired := e.putToken("acme", "", "c", 3, t0.Add(-time.Minute))
	globex := e.putToken("globex", "", "d", 2, t0.Add(time.Hour))
	if err := e.enrollWith(globex, "globex", "gx1"); err != nil {
		t.Fatal(err)
	}
	ops := e.login(auth.RoleOperationsEngineer)

	code, body := ops.get("/sites/enrollment-tokens?client=acme")
	if code != 200 {
		t.Fatalf("tokens page: %d %.500s", code, body)
	}
	row := tokenRow(body, store.TokenID(fleet))
	for _, want := range []string{"<td>fleet</td>", "2 / 5", "usable", "pc1", "pc2", "2026-11-26 09:00 UTC", "2026-11-26 11:00 UTC", "Revoke " + store.TokenID(fleet)} {
		if !strings.Contains(row, want) {
			t.Errorf("fleet token row lacks %q: %s", want, row)
		}
	}
	if row := tokenRow(body, store.TokenID(one)); !strings.Contains(row, "<td>site</td>") || !strings.Contains(row, "branch") || !strings.Contains(row, "0 / 1") {
		t.Errorf("one-site token row: %s", row)
	}
	if row := tokenRow(body, store.TokenID(expired)); !strings.Contains(row, "expired") || strings.Contains(row, "Revoke") {
		t.Errorf("expired token row (no revoke button wanted): %s", row)
	}
	if strings.Contains(body, store.TokenID(globex)) || strings.Contains(body, "gx1") {
		t.Error("acme's token list shows globex's token")
	}
	for _, h := range []string{fleet, one, expired, globex} {
		if strings.Contains(body, h[:store.TokenIDLen+1]) {
			t.Errorf("the page shows more of a token's hash than its ID")
		}
	}
	if _, body := ops.get("/sites/enrollment-tokens"); !strings.Contains(body, store.TokenID(fleet)) || !strings.Contains(body, store.TokenID(globex)) ||
		!strings.Contains(body, "gx1") {
		t.Errorf("all clients' tokens: %.2000s", body)
	}
	if _, body := ops.get("/sites/enrollment-tokens?client=initech"); !strings.Contains(body, "No enrollment tokens for initech") {
		t.Errorf("client without tokens: %.1000s", body)
	}
	if _, body := ops.get("/sites?client=acme"); !strings.Contains(body, `href="/sites/enrollment-tokens?client=acme"`) {
		t.Error("the sites page does not link the token page")
	}

	for _, r := range []auth.Role{auth.RoleClientViewer, auth.RoleSupervisor} {
		s := e.login(r)
		if code, body := s.get("/sites/enrollment-tokens?client=acme"); code != http.StatusForbidden || strings.Contains(body, store.TokenID(fleet)) {
			t.Errorf("%s on the token page: %d", r, code)
		}
		if _, body := s.get("/sites?client=acme"); strings.Contains(body, "/sites/enrollment-tokens") || strings.Contains(body, store.TokenID(fleet)) {
			t.Errorf("%s's sites page links or shows tokens", r)
		}
	}
}

// TestCreatedTokenListedBySecretlessID: a fleet token made with the sites
// page's form is listed under its ID, and the page never shows its secret.
func TestCreatedTokenListedBySecretlessID(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.login(auth.RoleAdmin)
	code, body := admin.post("/sites/enrollment-tokens", url.Values{"fleet": {"1"}, "client": {"acme"}, "uses": {"3"}, "ttl": {"24h"}})
	m := regexp.MustCompile(`<pre>([^<]+)</pre>`).FindStringSubmatch(body)
	if code != 200 || m == nil {
		t.Fatalf("create fleet token: %d %.500s", code, body)
	}
	tok, err := protocol.DecodeToken(m[1])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(tok.Secret)
	id := store.TokenID(hex.EncodeToString(sum[:]))
	_, list := admin.get("/sites/enrollment-tokens?client=acme")
	if row := tokenRow(list, id); !strings.Contains(row, "0 / 3") || !strings.Contains(row, "usable") {
		t.Errorf("new token's row: %q", row)
	}
	if strings.Contains(list, m[1]) || strings.Contains(list, base64.RawURLEncoding.EncodeToString(tok.Secret)) || strings.Contains(list, hex.EncodeToString(sum[:])) {
		t.Error("the token page shows the secret or the hash")
	}
}

// TestRevokeEnrollTokenForm: the revoke form revokes through the API's
// shared action (the API then lists the token revoked and the store
// refuses to enroll with it); a second revoke is harmless and keeps the
// first time; a form without the session's CSRF token, a role without the
// enroll permission and another client's path change nothing.
func TestRevokeEnrollTokenForm(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	fleet := e.putToken("acme", "", "a", 5, t0.Add(time.Hour))
	globex := e.putToken("globex", "", "d", 2, t0.Add(time.Hour))
	id := store.TokenID(fleet)
	path := "/sites/enrollment-tokens/acme/" + id + "/revoke"
	revoked := func(hash string) bool {
		t.Helper()
		tok, err := e.st.TokenByHash(ctx, hash)
		if err != nil {
			t.Fatal(err)
		}
		return !tok.RevokedAt.IsZero()
	}

	ops, sup := e.login(auth.RoleOperationsEngineer), e.login(auth.RoleSupervisor)
	if code, _ := ops.post(path, url.Values{"csrf": {"not-the-session-token"}}); code != http.StatusForbidden || revoked(fleet) {
		t.Errorf("revoke with a wrong CSRF token: %d, revoked %v", code, revoked(fleet))
	}
	if code, _ := sup.post(path, nil); code != http.StatusForbidden || revoked(fleet) {
		t.Errorf("supervisor revoke: %d, revoked %v", code, revoked(fleet))
	}
	if code, _ := ops.post("/sites/enrollment-tokens/globex/"+id+"/revoke", nil); code != http.StatusNotFound || revoked(fleet) {
		t.Errorf("revoke acme's token under globex: %d, revoked %v", code, revoked(fleet))
	}
	if code, _ := ops.post("/sites/enrollment-tokens/acme/NOT-AN-ID/revoke", nil); code != http.StatusBadRequest {
		t.Errorf("revoke a malformed ID: %d, want 400", code)
	}

	code, body := ops.post(path, nil)
	if code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %.500s", code, body)
	}
	_, page := ops.get("/sites/enrollment-tokens?client=acme&done=" + url.QueryEscape("token "+id+" of acme revoked: it enrolls nothing more"))
	if row := tokenRow(page, id); !strings.Contains(row, "revoked") || strings.Contains(row, "Revoke") || !strings.Contains(page, "enrolls nothing more") {
		t.Errorf("after revoking, the row is %q", row)
	}
	views, err := e.api.EnrollTokens(ctx, auth.Principal{User: "admin", Role: auth.RoleAdmin}, "acme")
	if err != nil || len(views) != 1 || views[0].ID != id || views[0].State != "revoked" || !views[0].RevokedAt.Equal(t0) {
		t.Errorf("the API lists %+v, %v; want %s revoked at %v", views, err, id, t0)
	}
	if err := e.enrollWith(fleet, "acme", "pc9"); !errors.Is(err, store.ErrTokenRevoked) {
		t.Errorf("enrolling with the revoked token = %v, want ErrTokenRevoked", err)
	}
	if !strings.Contains(e.logs.String(), `"msg":"enrollment token revoked"`) || strings.Contains(e.logs.String(), fleet) {
		t.Error("the revocation is not logged by the shared action, or the log shows the hash")
	}
	if code, _ := ops.post(path, nil); code != http.StatusSeeOther {
		t.Errorf("second revoke: %d, want 303 (idempotent)", code)
	}
	if tok, _ := e.st.TokenByHash(ctx, fleet); !tok.RevokedAt.Equal(t0) {
		t.Errorf("second revoke moved RevokedAt to %v", tok.RevokedAt)
	}
	if revoked(globex) {
		t.Error("revoking acme's token revoked globex's")
	}
}
