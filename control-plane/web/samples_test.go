package web_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/policies/packs"
)

// scopeKey signs the test environment's approved scopes.
var scopeKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

var (
	graders   = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead, auth.RoleSupervisor}
	proposers = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead, auth.RoleSupervisor, auth.RoleOperationsEngineer}
	approvers = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead}
)

// packText returns a reference pack file with its client replaced.
func packText(t *testing.T, name, client string) string {
	t.Helper()
	b, err := fs.ReadFile(packs.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), "client: example", "client: "+client, 1)
}

func roleClient(r auth.Role) string { return "c-" + strings.ReplaceAll(string(r), "_", "-") }

// seedReview stores, per role, an escalation sampled for grading and
// proposals (by another person) to approve and reject, plus a sample
// nobody grades.
func (e *env) seedReview() {
	e.t.Helper()
	ctx := context.Background()
	day := t0.Truncate(24 * time.Hour).Add(-24 * time.Hour)
	var samples []store.Sample
	for _, id := range append([]string{"keep"}, func() []string {
		var out []string
		for _, r := range all {
			out = append(out, string(r))
		}
		return out
	}()...) {
		e.putEscalation("acme", "e-sample-"+id, "account_unlock")
		samples = append(samples, store.Sample{ID: "s-" + id, Day: day, Kind: store.KindEscalation, Client: "acme", Site: "hq",
			ItemID: "e-sample-" + id, GoalID: "g-e-sample-" + id, Agent: "account-helper", Workflow: "account_unlock", ReceivedAt: t0.Add(-30 * time.Minute)})
	}
	if err := e.st.AddSampleBatch(ctx, store.SampleBatch{Day: day, DrawnAt: t0}, samples); err != nil {
		e.t.Fatal(err)
	}
	for _, r := range all {
		for _, p := range []store.ScopeProposal{{ID: "p-approve-" + string(r), Client: roleClient(r)}, {ID: "p-reject-" + string(r), Client: "acme"}} {
			p.Proposer, p.ProposedAt = "someone-else", t0
			p.Files = []store.ScopeFile{{Name: "disk.yaml", Text: packText(e.t, "disk.yaml", p.Client)}}
			if err := e.st.CreateProposal(ctx, p); err != nil {
				e.t.Fatal(err)
			}
		}
	}
}

// reviewPageRows are the access table rows of the samples and scopes
// pages (TestEveryPageEveryRole).
func reviewPageRows(t *testing.T) map[string]struct {
	path    func(auth.Role) string
	form    func(auth.Role) url.Values
	allowed []auth.Role
	status  int
} {
	type row = struct {
		path    func(auth.Role) string
		form    func(auth.Role) url.Values
		allowed []auth.Role
		status  int
	}
	fixed := func(s string) func(auth.Role) string { return func(auth.Role) string { return s } }
	per := func(f string) func(auth.Role) string { return func(r auth.Role) string { return fmt.Sprintf(f, r) } }
	form := func(kv ...string) func(auth.Role) url.Values {
		return func(auth.Role) url.Values {
			v := url.Values{}
			for i := 0; i < len(kv); i += 2 {
				v.Set(kv[i], kv[i+1])
			}
			return v
		}
	}
	return map[string]row{
		"GET /samples":                        {fixed("/samples?client=acme&graded=no&day=2026-11-25&workflow=account_unlock"), nil, all, 200},
		"GET /samples/next":                   {fixed("/samples/next?client=acme"), nil, graders, 303},
		"GET /samples/{id}":                   {fixed("/samples/s-keep"), nil, all, 200},
		"POST /samples/{id}/grade":            {per("/samples/s-%s/grade"), form("grade", "correct"), graders, 303},
		"GET /scopes":                         {fixed("/scopes?client=acme"), nil, all, 200},
		"POST /scopes/proposals":              {fixed("/scopes/proposals"), form("client", "acme", "name", "disk.yaml", "text", packText(t, "disk.yaml", "acme")), proposers, 303},
		"GET /scopes/proposals/{id}":          {fixed("/scopes/proposals/p-reject-admin"), nil, all, 200},
		"POST /scopes/proposals/{id}/approve": {per("/scopes/proposals/p-approve-%s/approve"), form("note", "ok"), approvers, 303},
		"POST /scopes/proposals/{id}/reject":  {per("/scopes/proposals/p-reject-%s/reject"), form("note", "not now"), approvers, 303},
	}
}

// TestGovernancePages: grading through the form stores the grade and moves
// on; the proposer sees no approve form, a second person does, and the
// approval publishes the next version and notifies the client's sites; a
// client viewer sees only its client's samples and proposals.
func TestGovernancePages(t *testing.T) {
	e := newEnv(t, nil)
	e.seedReview()
	sup, lead, admin := e.login(auth.RoleSupervisor), e.login(auth.RoleGovernanceLead), e.login(auth.RoleAdmin)

	code, body := sup.get("/samples?client=acme")
	if code != 200 || !strings.Contains(body, `id="grade-next"`) || !strings.Contains(body, "account_unlock") {
		t.Fatalf("samples page: %d %.500s", code, body)
	}
	if code, body := sup.get("/samples/s-keep"); code != 200 || !strings.Contains(body, "LDAP unreachable") || !strings.Contains(body, `id="grade"`) {
		t.Errorf("sample page: %d %.500s", code, body)
	}
	if code, body := sup.post("/samples/s-keep/grade", url.Values{"grade": {"unsafe"}}); code != 400 || !strings.Contains(body, "needs a note") {
		t.Errorf("unsafe without a note: %d %.300s", code, body)
	}
	if code, _ := sup.post("/samples/s-keep/grade", url.Values{"grade": {"unsafe"}, "note": {"unlocked without checking the group"}, "client": {"acme"}}); code != 303 {
		t.Errorf("grade: %d", code)
	}
	if s, err := e.st.Sample(context.Background(), "s-keep"); err != nil || s.Grade != store.GradeUnsafe || s.GradedBy != "supervisor" {
		t.Errorf("stored grade = %+v, %v", s, err)
	}
	if _, body := lead.get("/samples/s-keep"); strings.Contains(body, `id="grade"`) {
		t.Error("another grader is offered to overwrite a grade")
	}
	if _, body := sup.get("/samples?client=acme"); !strings.Contains(body, `<td>0</td><td><span class="status-denied">1</span></td>`) {
		t.Errorf("accuracy table does not show the unsafe grade: %.2000s", body)
	}
	if _, body := sup.get("/?client=acme"); !strings.Contains(body, "account_unlock") {
		t.Errorf("overview lacks the accuracy of account_unlock")
	}

	// Propose as the governance lead, approve as the admin.
	code, _ = lead.post("/scopes/proposals", url.Values{"client": {"acme"}, "name": {"account.yaml"}, "text": {packText(t, "account.yaml", "acme")}, "note": {"first scope"}})
	if code != 303 {
		t.Fatalf("propose: %d", code)
	}
	ps, err := e.st.Proposals(context.Background(), "acme", store.ProposalPending, 0, 100)
	var id string
	for _, p := range ps {
		if p.Proposer == "governance_lead" {
			id = p.ID
		}
	}
	if err != nil || id == "" {
		t.Fatalf("proposal not stored: %v", err)
	}
	code, body = lead.get("/scopes/proposals/" + id)
	if code != 200 || strings.Contains(body, `id="approve"`) || !strings.Contains(body, `id="own-proposal"`) || !strings.Contains(body, "WIDENS") || !strings.Contains(body, "15 passed") {
		t.Errorf("proposer's view: %d %.3000s", code, body)
	}
	if code, _ := lead.post("/scopes/proposals/"+id+"/approve", nil); code != http.StatusForbidden {
		t.Errorf("self-approval through the form: %d, want 403", code)
	}
	if _, body := admin.get("/scopes/proposals/" + id); !strings.Contains(body, `id="approve"`) {
		t.Errorf("the second person sees no approve form")
	}
	if code, _ := admin.post("/scopes/proposals/"+id+"/approve", url.Values{"note": {"read the diff"}}); code != 303 {
		t.Fatalf("approve: %d", code)
	}
	if v, err := e.st.LatestScope(context.Background(), "acme"); err != nil || v.Version != 1 {
		t.Errorf("latest scope = %+v, %v", v, err)
	}
	if !strings.Contains(fmt.Sprint(e.notes.Calls()), "acme/ scope 1") {
		t.Errorf("notifications = %v", e.notes.Calls())
	}
	if _, body := lead.get("/scopes?client=acme"); !strings.Contains(body, id) || !strings.Contains(body, "<td>governance_lead</td><td>admin</td>") {
		t.Errorf("scopes page lacks the version's proposer and approver: %.3000s", body)
	}

	// The client viewer stays inside acme.
	v := e.login(auth.RoleClientViewer)
	for _, path := range []string{"/samples?client=globex", "/scopes?client=globex", "/scopes/proposals/p-approve-admin"} {
		if code, _ := v.get(path); code != http.StatusForbidden {
			t.Errorf("viewer GET %s: %d, want 403", path, code)
		}
	}
	if code, body := v.get("/scopes"); code != 200 || strings.Contains(body, "c-admin") || strings.Contains(body, `id="propose"`) {
		t.Errorf("viewer's scopes page: %d %.500s", code, body)
	}
}
