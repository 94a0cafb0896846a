package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/sitewarden/sitewarden/control-plane/api"
	"github.com/sitewarden/sitewarden/control-plane/auth"
	"github.com/sitewarden/sitewarden/control-plane/store"
	"github.com/sitewarden/sitewarden/policies"
	"github.com/sitewarden/sitewarden/policies/packs"
	"github.com/sitewarden/sitewarden/protocol"
	pb "github.com/sitewarden/sitewarden/protocol/proto/sitewarden/v1"
)

// scopeKey signs the test environment's approved scopes.
var scopeKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// governance is the option newEnv gives the API.
func governance(st *store.SQLite) api.Option {
	return api.WithGovernance(api.Governance{Review: st, ScopeKey: scopeKey})
}

var (
	graders   = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead, auth.RoleSupervisor}
	proposers = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead, auth.RoleSupervisor, auth.RoleOperationsEngineer}
	approvers = []auth.Role{auth.RoleAdmin, auth.RoleGovernanceLead}
)

// pack returns a reference pack file's text with its client replaced.
func pack(t *testing.T, name, client string) string {
	t.Helper()
	b, err := fs.ReadFile(packs.FS, name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), "client: example", "client: "+client, 1)
}

func proposalBody(t *testing.T, client string, files ...string) string {
	t.Helper()
	req := api.ProposalRequest{Client: client, Note: "test"}
	for _, f := range files {
		req.Files = append(req.Files, store.ScopeFile{Name: f, Text: pack(t, f, client)})
	}
	b, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// seedReview stores, per role, a sample to grade and proposals to approve
// and reject (by another person), plus an ungraded sample nobody grades.
func (e *env) seedReview(t *testing.T) {
	ctx := context.Background()
	var samples []store.Sample
	for _, id := range append([]string{"keep"}, rolesOf(all)...) {
		samples = append(samples, store.Sample{ID: "s-" + id, Day: t0.Truncate(24 * time.Hour).Add(-24 * time.Hour), Kind: store.KindEscalation,
			Client: "acme", Site: "hq", ItemID: "item-" + id, Workflow: "account_unlock", ReceivedAt: t0})
	}
	if err := e.st.AddSampleBatch(ctx, store.SampleBatch{Day: samples[0].Day, DrawnAt: t0}, samples); err != nil {
		t.Fatal(err)
	}
	for _, r := range all {
		for _, p := range []store.ScopeProposal{
			{ID: "p-approve-" + string(r), Client: "c-" + strings.ReplaceAll(string(r), "_", "-")},
			{ID: "p-reject-" + string(r), Client: "acme"},
		} {
			p.Proposer, p.ProposedAt = "target", t0
			p.Files = []store.ScopeFile{{Name: "disk.yaml", Text: pack(t, "disk.yaml", p.Client)}}
			if err := e.st.CreateProposal(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func rolesOf(rs []auth.Role) []string {
	var out []string
	for _, r := range rs {
		out = append(out, string(r))
	}
	return out
}

// reviewRows are the access table rows of the review routes (see
// TestEveryEndpointEveryRole).
func reviewRows(t *testing.T) map[string]struct {
	path, body func(auth.Role) string
	allowed    []auth.Role
	status     int
} {
	fixed := func(s string) func(auth.Role) string { return func(auth.Role) string { return s } }
	per := func(f string) func(auth.Role) string { return func(r auth.Role) string { return fmt.Sprintf(f, r) } }
	type row = struct {
		path, body func(auth.Role) string
		allowed    []auth.Role
		status     int
	}
	return map[string]row{
		"GET /api/v1/samples":                        {fixed("/api/v1/samples?client=acme"), nil, all, 200},
		"GET /api/v1/samples/next":                   {fixed("/api/v1/samples/next?client=acme"), nil, graders, 200},
		"GET /api/v1/samples/{id}":                   {fixed("/api/v1/samples/s-keep"), nil, all, 200},
		"POST /api/v1/samples/{id}/grade":            {per("/api/v1/samples/s-%s/grade"), fixed(`{"grade":"correct"}`), graders, 200},
		"POST /api/v1/samples/draw":                  {fixed("/api/v1/samples/draw"), fixed(`{"day":"2026-11-20"}`), adminOly, 201},
		"GET /api/v1/accuracy":                       {fixed("/api/v1/accuracy?client=acme"), nil, all, 200},
		"POST /api/v1/scopes/proposals":              {fixed("/api/v1/scopes/proposals"), func(auth.Role) string { return proposalBody(t, "acme", "disk.yaml") }, proposers, 201},
		"GET /api/v1/scopes/proposals":               {fixed("/api/v1/scopes/proposals?client=acme"), nil, all, 200},
		"GET /api/v1/scopes/proposals/{id}":          {fixed("/api/v1/scopes/proposals/p-reject-admin"), nil, all, 200},
		"POST /api/v1/scopes/proposals/{id}/approve": {per("/api/v1/scopes/proposals/p-approve-%s/approve"), fixed(`{"note":"ok"}`), approvers, 200},
		"POST /api/v1/scopes/proposals/{id}/reject":  {per("/api/v1/scopes/proposals/p-reject-%s/reject"), fixed(`{"note":"no"}`), approvers, 200},
		"GET /api/v1/scopes/history":                 {fixed("/api/v1/scopes/history?client=acme"), nil, all, 200},
	}
}

// login returns an API token for a new account of role r named name.
func (e *env) person(name string, r auth.Role) string {
	e.t.Helper()
	hash, err := auth.HashPassword(auth.Argon2{Memory: 64, Time: 1, Threads: 1}, password)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateUser(context.Background(), store.User{Name: name, Role: string(r), PasswordHash: hash, CreatedAt: t0}); err != nil {
		e.t.Fatal(err)
	}
	tok, _, err := e.auth.CreateAPIToken(context.Background(), name, "test", 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// TestScopeProposalTwoPeople: a supervisor proposes, the proposer cannot
// approve, a supervisor may not, a governance lead does: the version is
// signed with the scope key, stored, and the client's sites notified.
func TestScopeProposalTwoPeople(t *testing.T) {
	e := newEnv(t)
	ann, lead, lead2 := e.person("ann", auth.RoleGovernanceLead), e.person("lee", auth.RoleGovernanceLead), e.person("liz", auth.RoleGovernanceLead)
	var v api.ProposalView
	code, raw := e.do("POST", "/api/v1/scopes/proposals", ann, proposalBody(t, "acme", "account.yaml", "disk.yaml"), &v)
	if code != 201 || v.Status != "pending" || v.BaseVersion != 0 || v.Widens != 1 || v.TestsRun == 0 || v.TestsFailed != 0 ||
		!strings.Contains(v.TestReport, "running the reference packs' tests") || strings.Contains(v.TestReport, "sitewarden-proposal-") {
		t.Fatalf("propose: %d %s", code, raw)
	}
	var er struct{ Error api.Error }
	if code, _ := e.do("POST", "/api/v1/scopes/proposals/"+v.ID+"/approve", ann, `{}`, &er); code != 403 || er.Error.Code != "second_person_required" {
		t.Errorf("self-approval: %d %+v, want 403 second_person_required", code, er)
	}
	if code, _ := e.do("POST", "/api/v1/scopes/proposals/"+v.ID+"/approve", e.tokens[auth.RoleSupervisor], `{}`, nil); code != 403 {
		t.Errorf("supervisor approval: %d, want 403", code)
	}
	if len(e.notes.Calls()) != 0 {
		t.Fatalf("notified before approval: %v", e.notes.Calls())
	}
	var done api.ProposalView
	if code, raw := e.do("POST", "/api/v1/scopes/proposals/"+v.ID+"/approve", lead, `{"note":"reviewed the widening"}`, &done); code != 200 || done.Status != "approved" || done.Version != 1 || done.DecidedBy != "lee" {
		t.Fatalf("approval: %d %s", code, raw)
	}
	if fmt.Sprint(e.notes.Calls()) != "[acme/ scope 1]" {
		t.Errorf("notifications = %v, want the client's sites told of scope v1", e.notes.Calls())
	}
	sv, err := e.st.LatestScope(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	var b pb.ScopeBundle
	if err := proto.Unmarshal(sv.Bundle, &b); err != nil {
		t.Fatal(err)
	}
	sc, err := policies.Verify(&b, protocol.BundleCheck{Key: scopeKey.Public().(ed25519.PublicKey), Client: "acme", Now: t0})
	if err != nil || sc.Client() != "acme" || len(sc.Agents()) != 2 {
		t.Fatalf("stored bundle: %v (agents %v)", err, sc)
	}
	if code, _ := e.do("POST", "/api/v1/scopes/proposals/"+v.ID+"/approve", lead2, `{}`, &er); code != 409 || er.Error.Code != "not_pending" {
		t.Errorf("second approval: %d %+v", code, er)
	}
	// A change against v1: the disk pack removed (its validation removed
	// is marked WIDENS, so that a person reads it).
	var v2 api.ProposalView
	if code, raw := e.do("POST", "/api/v1/scopes/proposals", ann, proposalBody(t, "acme", "account.yaml"), &v2); code != 201 || v2.BaseVersion != 1 || v2.Narrows != 4 || v2.Widens != 1 ||
		fmt.Sprint(v2.Changes[1]) != "NARROWS agent disk-janitor: agent removed" {
		t.Fatalf("second proposal: %d %s", code, raw)
	}
	// A stale one: made against v1, but v2 lands first.
	var stale api.ProposalView
	e.do("POST", "/api/v1/scopes/proposals", lead2, proposalBody(t, "acme", "disk.yaml", "account.yaml"), &stale)
	if code, raw := e.do("POST", "/api/v1/scopes/proposals/"+v2.ID+"/approve", lead2, `{}`, nil); code != 200 {
		t.Fatalf("approve v2: %d %s", code, raw)
	}
	if code, _ := e.do("POST", "/api/v1/scopes/proposals/"+stale.ID+"/approve", ann, `{}`, &er); code != 409 || !strings.Contains(er.Error.Hint, "propose the change again") {
		t.Errorf("stale approval: %d %+v", code, er)
	}
	if code, _ := e.do("POST", "/api/v1/scopes/proposals/"+stale.ID+"/reject", ann, `{"note":"stale"}`, nil); code != 200 {
		t.Errorf("reject stale: %d", code)
	}
	var h api.HistoryView
	if code, raw := e.do("GET", "/api/v1/scopes/history", e.tokens[auth.RoleClientViewer], "", &h); code != 200 || len(h.Versions) != 2 || len(h.Proposals) != 3 ||
		h.Versions[0].Version != 2 || h.Versions[0].ProposedBy != "ann" || h.Versions[0].ApprovedBy != "liz" || h.Versions[1].ApprovedBy != "lee" ||
		h.Versions[0].Narrows != 4 || !strings.Contains(raw, `"status":"rejected","decided_by":"ann"`) || !strings.Contains(raw, `"changes":[]`) {
		t.Errorf("history: %d %s", code, raw)
	}
	if code, _ := e.do("GET", "/api/v1/scopes/history?client=globex", e.tokens[auth.RoleClientViewer], "", nil); code != 403 {
		t.Errorf("viewer reading another client's history: %d, want 403", code)
	}
}

func TestScopeProposalRefusals(t *testing.T) {
	e := newEnv(t)
	sup, lead := e.tokens[auth.RoleSupervisor], e.tokens[auth.RoleGovernanceLead]
	var er struct{ Error api.Error }
	bad := `{"client":"acme","files":[{"name":"s.yaml","text":"apiVersion: sitewarden.dev/v1\nkind: Scope\nclient: acme\nagents: nope\n"}]}`
	if code, _ := e.do("POST", "/api/v1/scopes/proposals", sup, bad, &er); code != 400 || er.Error.Code != "invalid_scope" || !strings.Contains(er.Error.Message, "s.yaml") {
		t.Errorf("invalid scope: %d %+v", code, er)
	}
	if code, _ := e.do("POST", "/api/v1/scopes/proposals", sup, proposalBody(t, "globex", "disk.yaml")[:0]+strings.Replace(proposalBody(t, "globex", "disk.yaml"), `"client":"globex"`, `"client":"acme"`, 1), &er); code != 400 || !strings.Contains(er.Error.Message, `names client "globex"`) {
		t.Errorf("other client's scope: %d %+v", code, er)
	}
	for _, name := range []string{"../x.yaml", "x.txt", ""} {
		body := fmt.Sprintf(`{"client":"acme","files":[{"name":%q,"text":"x"}]}`, name)
		if code, _ := e.do("POST", "/api/v1/scopes/proposals", sup, body, &er); code != 400 {
			t.Errorf("file name %q: %d, want 400", name, code)
		}
	}
	// Proposed tests that fail block the approval.
	failing := `apiVersion: sitewarden.dev/v1
kind: ScopeTest
scope: [disk.yaml]
cases:
  - name: the janitor may unlock accounts (it may not)
    request: {agent: disk-janitor, workflow: low_disk_space, action: directory.unlock_account}
    expect: {effect: allow}
`
	req := api.ProposalRequest{Client: "acme", Files: []store.ScopeFile{{Name: "disk.yaml", Text: pack(t, "disk.yaml", "acme")}, {Name: "disk_test.yaml", Text: failing}}}
	b, _ := json.Marshal(req)
	var v api.ProposalView
	if code, raw := e.do("POST", "/api/v1/scopes/proposals", sup, string(b), &v); code != 201 || v.TestsRun != 1 || v.TestsFailed != 1 ||
		!strings.Contains(v.TestReport, "running the proposal's tests") || !strings.Contains(v.TestReport, "FAIL disk_test.yaml: the janitor") {
		t.Fatalf("proposal with failing tests: %d %s", code, raw)
	}
	if code, _ := e.do("POST", "/api/v1/scopes/proposals/"+v.ID+"/approve", lead, `{}`, &er); code != 409 || er.Error.Code != "tests_failed" {
		t.Errorf("approving failed tests: %d %+v", code, er)
	}
	// A proposed test may not reach files outside the proposal.
	for _, entry := range []string{"/etc/passwd", "../disk.yaml", "other.yaml"} {
		req.Files[1].Text = strings.Replace(failing, "scope: [disk.yaml]", "scope: ["+entry+"]", 1)
		b, _ := json.Marshal(req)
		var v api.ProposalView
		if code, raw := e.do("POST", "/api/v1/scopes/proposals", sup, string(b), &v); code != 201 || v.TestsFailed != 1 || v.TestsRun != 0 ||
			!strings.Contains(v.TestReport, "name one of the proposal's scope files") || strings.Contains(v.TestReport, "root:") {
			t.Errorf("test naming %s: %d %s", entry, code, raw)
		}
	}
	// A viewer cannot propose, nor see another client's proposal.
	if code, _ := e.do("POST", "/api/v1/scopes/proposals", e.tokens[auth.RoleClientViewer], proposalBody(t, "acme", "disk.yaml"), nil); code != 403 {
		t.Errorf("viewer proposing: %d", code)
	}
	var g api.ProposalView
	e.do("POST", "/api/v1/scopes/proposals", sup, proposalBody(t, "globex", "disk.yaml"), &g)
	if code, _ := e.do("GET", "/api/v1/scopes/proposals/"+g.ID, e.tokens[auth.RoleClientViewer], "", nil); code != 403 {
		t.Errorf("viewer reading globex's proposal: %d, want 403", code)
	}
	var list api.Page[api.ProposalView]
	if code, _ := e.do("GET", "/api/v1/scopes/proposals", e.tokens[auth.RoleClientViewer], "", &list); code != 200 || len(list.Items) != 4 || strings.Contains(fmt.Sprint(list.Items), "globex") {
		t.Errorf("viewer's proposals: %d %+v, want acme's only", code, list)
	}
}
