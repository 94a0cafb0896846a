package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/enroll"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/control-plane/web/webtest"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// seedSite gives acme/hq a heartbeat, a published scope newer than the
// one it applied, goals of the last 14 days and older, an open and a
// claimed escalation, a pending approval and a witness alert; acme/branch
// and globex/hq get goals and alerts of their own that acme/hq's page must
// not count.
func (e *env) seedSite() {
	e.t.Helper()
	ctx := context.Background()
	st := e.st
	h, err := proto.Marshal(&pb.Health{UptimeSeconds: 3600, QueueDepths: map[string]uint64{"outbox": 3, "goals": 1}, ScopeVersion: 2,
		ScopeExpiresAt: timestamppb.New(t0.Add(72 * time.Hour)), AuditTreeSize: 7,
		Model:   &pb.ModelStatus{Name: "llama3.2", State: "ready", Endpoint: "http://127.0.0.1:11434"},
		Plugins: []*pb.PluginStatus{{Name: "directory", Version: "1.0.0", State: "ready"}, {Name: "host", Version: "1.0.0", State: "crashed", LastError: "exit status 2"}}})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := st.TouchSite(ctx, store.Identity{Tenant: "msp", Client: "acme", Site: "hq"}, t0.Add(-20*time.Second), "1.4.2", h); err != nil {
		e.t.Fatal(err)
	}
	if err := st.UpsertSite(ctx, store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme", Site: "branch"}, EnrolledAt: t0}); err != nil {
		e.t.Fatal(err)
	}
	for v := uint64(1); v <= 3; v++ {
		if err := st.PutScope(ctx, store.ScopeVersion{Client: "acme", Version: v, Bundle: []byte{1}, CreatedAt: t0.Add(-time.Duration(4-v) * time.Hour)}); err != nil {
			e.t.Fatal(err)
		}
	}
	goal := func(client, site, id string, at time.Time, status pb.OutcomeStatus) {
		g := &pb.Goal{GoalId: id, ClientId: client, SiteId: site, Workflow: "account_unlock", CreatedAt: timestamppb.New(at)}
		p, _ := proto.Marshal(g)
		if _, err := st.AddGoal(ctx, store.Goal{Client: client, Site: site, ID: id, Payload: p}); err != nil {
			e.t.Fatal(err)
		}
		if status == pb.OutcomeStatus_OUTCOME_STATUS_UNSPECIFIED {
			return
		}
		o := &pb.Outcome{GoalId: id, Status: status, StartedAt: timestamppb.New(at), FinishedAt: timestamppb.New(at.Add(time.Minute))}
		if err := webtest.Put(ctx, st, store.KindOutcome, client, site, id, o, at.Add(time.Minute)); err != nil {
			e.t.Fatal(err)
		}
	}
	// acme/hq in the last 14 days: 3 resolved, 1 escalated, 1 still assigned.
	for i, s := range []pb.OutcomeStatus{pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED, pb.OutcomeStatus_OUTCOME_STATUS_RESOLVED,
		pb.OutcomeStatus_OUTCOME_STATUS_ESCALATED, pb.OutcomeStatus_OUTCOME_STATUS_UNSPECIFIED} {
		goal("acme", "hq", fmt.Sprintf("g-hq-%d", i), t0.Add(-time.Duration(i)*24*time.Hour), s)
	}
	goal("acme", "hq", "g-hq-old", t0.Add(-20*24*time.Hour), pb.OutcomeStatus_OUTCOME_STATUS_DENIED)
	goal("acme", "branch", "g-branch", t0.Add(-time.Hour), pb.OutcomeStatus_OUTCOME_STATUS_FAILED)
	goal("globex", "hq", "g-globex", t0.Add(-time.Hour), pb.OutcomeStatus_OUTCOME_STATUS_FAILED)
	e.putEscalation("acme", "e-site-open", "account_unlock")
	e.putEscalation("acme", "e-site-claimed", "account_unlock")
	if err := st.ClaimEscalation(ctx, "acme", "e-site-claimed", "supervisor", t0.Add(-time.Minute)); err != nil {
		e.t.Fatal(err)
	}
	e.putEscalation("globex", "e-globex-site", "account_unlock")
	e.putApproval("acme", "a-site-pending", t0.Add(time.Hour))
	for _, a := range []store.AuditAlert{{Client: "acme", Site: "hq", Reason: "hq log rewritten"}, {Client: "acme", Site: "branch", Reason: "branch log rewritten"}} {
		a.At = t0.Add(-time.Hour)
		if err := st.RecordAuditAlert(ctx, a); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestSitePage checks what the site page shows of acme/hq, from seeded
// heartbeat, scope, goals, escalations, approvals, alerts and tokens.
func TestSitePage(t *testing.T) {
	e := newEnv(t, nil)
	e.seedSite()
	admin := e.login(auth.RoleAdmin)
	// A token created as on the sites page: its secret is shown there once
	// and never on the site page.
	code, body := admin.post("/sites/enrollment-tokens", url.Values{"client": {"acme"}, "site": {"hq"}, "ttl": {"1h"}})
	secret := regexp.MustCompile(`<pre>([^<]+)</pre>`).FindStringSubmatch(body)
	if code != 200 || secret == nil {
		t.Fatalf("create token: %d, secret shown %v", code, secret != nil)
	}
	code, body = admin.get("/sites/acme/hq")
	if code != 200 {
		t.Fatalf("GET /sites/acme/hq: %d %.500s", code, body)
	}
	for _, want := range []string{
		"Site acme / hq", `<span class="online">online</span>`, "(up 1h0m0s)", "(20s ago)", "1.4.2",
		"planner: model llama3.2 (ready)",
		"3 item(s) in the runner's outbox", "queues: goals=1 outbox=3",
		"tree size 5 at 2026-11-26 10:00 UTC", "log size reported 7, records mirrored 6", "inconsistent with the witnessed checkpoint",
		`<strong class="error">ALERT</strong> (1)`, "hq log rewritten",
		"directory 1.0.0", `<span class="plugin-crashed">crashed</span>`, "exit status 2",
		"v2 <span", "bundle valid until 2026-11-29 10:00 UTC", "v3 <span", "behind: the site has not applied v3 yet", `href="/scopes?client=acme"`,
		// 5 goals assigned by the control plane and the 2 escalations' goals
		// (still assigned); the escalation rate counts finished goals only.
		"7 goal(s): 3 resolved, 1 escalated, 0 denied, 0 failed; escalation rate 25.0%",
		`<svg class="chart"`, "2026-11-26 resolved: 1", "2026-11-23 escalated: 1",
		"Open escalations (1), claimed (1)", `href="/escalations/acme/e-site-open"`, `href="/escalations/acme/e-site-claimed"`, "claimed (supervisor)",
		`href="/escalations?client=acme&amp;site=hq"`,
		"Pending approvals (1)", `href="/approvals/acme/a-site-pending"`,
		`<td class="token-unused">unused</td>`, "2026-11-26 11:00 UTC",
		`href="/audit?client=acme&amp;site=hq"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the site page lacks %q", want)
		}
	}
	for _, not := range []string{secret[1], "branch log rewritten", "e-globex-site", "2026-11-06"} {
		if strings.Contains(body, not) {
			t.Errorf("the site page shows %q, which is not acme/hq's (or a secret)", not)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
	// The certificate: env enrolls acme/hq with no expiry recorded; a
	// renewed one shows its renewal state.
	if !strings.Contains(body, `<span class="cert-unknown">unknown</span>`) {
		t.Error("the site page does not say the certificate is unknown")
	}
}

// TestSitePageCertificate checks the certificate's state at t0: valid,
// renewal due (less than a third of its life left), expired.
func TestSitePageCertificate(t *testing.T) {
	e := newEnv(t, nil)
	v := e.login(auth.RoleSupervisor)
	for _, c := range []struct {
		issued, notAfter time.Time
		want             []string
	}{
		{t0.Add(-10 * 24 * time.Hour), t0.Add(80 * 24 * time.Hour), []string{`class="cert-valid">valid`, "the runner renews from 2027-01-15 10:00 UTC"}},
		{t0.Add(-70 * 24 * time.Hour), t0.Add(20 * 24 * time.Hour), []string{`class="cert-renewal due">renewal due`, "renews on its next connection"}},
		{t0.Add(-90 * 24 * time.Hour), t0.Add(-time.Hour), []string{`class="cert-expired">expired`, "enroll it again with a new token"}},
	} {
		if err := e.st.UpsertSite(context.Background(), store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme", Site: "hq"}, CertSerial: "0b",
			CertNotAfter: c.notAfter, EnrolledAt: c.issued}); err != nil {
			t.Fatal(err)
		}
		code, body := v.get("/sites/acme/hq")
		if code != 200 {
			t.Fatalf("GET /sites/acme/hq: %d", code)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("certificate until %v: the page lacks %q", c.notAfter, w)
			}
		}
	}
}

// TestSitePageIsolation checks a client viewer reaches its own client's
// site page and no other client's (403, as every page of another client
// answers, whether the site exists or not, so nothing leaks), and an
// unknown site is 404.
func TestSitePageIsolation(t *testing.T) {
	e := newEnv(t, nil)
	e.seedSite()
	v := e.login(auth.RoleClientViewer)
	for path, want := range map[string]int{
		"/sites/globex/hq":    http.StatusForbidden,
		"/sites/globex/nope":  http.StatusForbidden,
		"/sites/acme/nope":    http.StatusNotFound,
		"/sites/acme/hq":      http.StatusOK,
		"/sites/acme/branch":  http.StatusOK,
		"/sites/acme/hq/more": http.StatusNotFound,
	} {
		code, body := v.get(path)
		if code != want {
			t.Errorf("viewer GET %s: %d, want %d: %.200s", path, code, want, body)
		}
		if strings.Contains(body, "globex") {
			t.Errorf("viewer GET %s shows globex", path)
		}
	}
	sup := e.login(auth.RoleOperationsEngineer)
	if code, body := sup.get("/sites/globex/hq"); code != 200 || !strings.Contains(body, "Site globex / hq") || strings.Contains(body, "hq log rewritten") {
		t.Errorf("operations engineer GET /sites/globex/hq: %d, or it shows acme's alert", code)
	}
	if code, _ := sup.get("/sites/globex/nope"); code != http.StatusNotFound {
		t.Errorf("operations engineer GET an unknown site: %d, want 404", code)
	}
}

// TestSiteLinks checks every page naming a site links its page.
func TestSiteLinks(t *testing.T) {
	e := newEnv(t, nil)
	e.seedSite()
	s := e.login(auth.RoleSupervisor)
	link := `href="/sites/acme/hq"`
	for _, path := range []string{"/sites", "/escalations", "/escalations/acme/e-site-open", "/approvals", "/approvals/acme/a-site-pending",
		"/audit?client=acme&site=hq"} {
		code, body := s.get(path)
		if code != 200 {
			t.Errorf("GET %s: %d", path, code)
			continue
		}
		if !strings.Contains(body, link) {
			t.Errorf("GET %s does not link acme/hq's page", path)
		}
	}
	// The witness alert on the sites page links the site it is about.
	if _, body := s.get("/sites"); !strings.Contains(body, `the audit log of <a href="/sites/acme/branch">acme/branch</a>`) {
		t.Error("the sites page's alert does not link its site")
	}
}

// TestFleetTokenPages creates a fleet token on the sites page (shown once),
// enrolls a site with it the way the enrollment endpoint does (the store's
// transaction), and finds the token on that site's page with its uses.
func TestFleetTokenPages(t *testing.T) {
	e := newEnv(t, nil)
	admin := e.login(auth.RoleAdmin)
	code, body := admin.post("/sites/enrollment-tokens", url.Values{"client": {"acme"}, "fleet": {"1"}, "uses": {"5"}, "ttl": {"168h"}})
	m := regexp.MustCompile(`<pre>([^<]+)</pre>`).FindStringSubmatch(body)
	if code != 200 || m == nil || !strings.Contains(body, "up to 5 new sites of acme") {
		t.Fatalf("create fleet token: %d %.800s", code, body)
	}
	tok, err := enroll.DecodeToken(html.UnescapeString(m[1]))
	if err != nil || !tok.Fleet {
		t.Fatalf("shown token = %+v, %v", tok, err)
	}
	if code, _ := admin.post("/sites/enrollment-tokens", url.Values{"client": {"acme"}, "fleet": {"1"}, "uses": {"0"}}); code != 400 {
		t.Errorf("fleet token with 0 uses: %d, want 400", code)
	}
	if _, err := e.st.EnrollFleetSite(context.Background(), enroll.SecretHash(tok.Secret),
		store.Site{Identity: store.Identity{Tenant: "msp", Client: "acme", Site: "pc1"}, CertSerial: "0a", EnrolledAt: t0, CertNotAfter: t0.Add(90 * 24 * time.Hour)}, t0); err != nil {
		t.Fatal(err)
	}
	code, body = admin.get("/sites/acme/pc1")
	if code != 200 {
		t.Fatalf("GET /sites/acme/pc1: %d", code)
	}
	for _, want := range []string{"<code>" + enroll.TokenID(tok) + "</code>", "fleet (1/5 used)", `class="token-enrolled"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the site page lacks %q", want)
		}
	}
	if strings.Contains(body, m[1]) {
		t.Error("the site page shows the token")
	}
}
