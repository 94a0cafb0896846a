package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sitewarden/sitewarden/plugins/sdk"
	"github.com/sitewarden/sitewarden/policies"
	audit "github.com/sitewarden/sitewarden/protocol/audit"
	"github.com/sitewarden/sitewarden/runner/model"
)

// fakeDirectory stands in for the plugin host in the loop's table tests:
// they exercise the agent's decisions, not LDAP. The end-to-end scenarios
// in e2e/ run the real directory plugin binary against a real slapd.
type fakeDirectory struct {
	mu          sync.Mutex
	users       map[string]*fakeUser
	unlockFails int // the next N unlocks fail
	calls       []string
	creds       []sdk.Credentials
	budgets     []time.Duration // time left on each call's context
}

type fakeUser struct {
	dn, password string
	locked       bool
	groups       []string
}

var _ Actions = (*fakeDirectory)(nil)

func newFakeDirectory() *fakeDirectory {
	return &fakeDirectory{users: map[string]*fakeUser{
		"dana":    {dn: "uid=dana,ou=Staff,dc=acme,dc=test", password: "old-pw", locked: true, groups: []string{"Staff"}},
		"mallory": {dn: "uid=mallory,ou=Staff,dc=acme,dc=test", password: "m", groups: []string{"Staff"}},
		"root":    {dn: "uid=root,ou=Admins,dc=acme,dc=test", password: "r", locked: true, groups: []string{"Domain Admins"}},
	}}
}

const userSchema = `{"type":"object","additionalProperties":false,"required":["user"],"properties":{"user":{"type":"string","minLength":1}}}`

func (f *fakeDirectory) Operation(_ context.Context, action string) (sdk.Operation, error) {
	ops := map[string]sdk.Operation{
		"directory.find_user":          {Risk: sdk.RiskRead},
		"directory.get_account_status": {Risk: sdk.RiskRead},
		"directory.list_groups":        {Risk: sdk.RiskRead},
		"directory.verify_credentials": {Risk: sdk.RiskRead},
		"directory.unlock_account":     {Risk: sdk.RiskWrite, VerifiedBy: "directory.get_account_status", VerifyExpect: map[string]any{"locked": false}},
		"directory.reset_password":     {Risk: sdk.RiskDestructive, VerifiedBy: "directory.verify_credentials", VerifyExpect: map[string]any{"valid": true}},
		"directory.add_to_group": {Risk: sdk.RiskWrite,
			ParamsSchema: json.RawMessage(`{"type":"object","required":["user","group"],"properties":{"user":{"type":"string"},"group":{"type":"string"}}}`)},
	}
	op, ok := ops[action]
	if !ok {
		return sdk.Operation{}, fmt.Errorf("action %s: no plugin declares it", action)
	}
	op.Name, op.Description = action, "fake "+action
	if op.ParamsSchema == nil {
		op.ParamsSchema = json.RawMessage(userSchema)
	}
	return op, nil
}

func (f *fakeDirectory) Execute(ctx context.Context, req sdk.Request) (sdk.Result, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, req.Operation)
	f.creds = append(f.creds, req.Credentials)
	if d, ok := ctx.Deadline(); ok {
		f.budgets = append(f.budgets, time.Until(d))
	}
	if req.Credentials["bind_password"] != "svc-secret" {
		return sdk.Result{}, errors.New("no service credentials")
	}
	var p struct{ User, Group string }
	if err := json.Unmarshal(req.Params, &p); err != nil {
		return sdk.Result{}, err
	}
	u, ok := f.users[p.User]
	if !ok {
		return sdk.Result{}, fmt.Errorf("no such user %q", p.User)
	}
	out := func(m map[string]any) (sdk.Result, error) {
		raw, _ := json.Marshal(m)
		return sdk.Result{Output: raw}, nil
	}
	switch req.Operation {
	case "directory.find_user":
		return out(map[string]any{"dn": u.dn, "login": p.User, "display_name": strings.ToUpper(p.User), "mail": p.User + "@acme.test"})
	case "directory.get_account_status":
		return out(map[string]any{"dn": u.dn, "locked": u.locked})
	case "directory.list_groups":
		var gs []map[string]any
		for _, g := range u.groups {
			gs = append(gs, map[string]any{"name": g, "dn": "cn=" + g})
		}
		return out(map[string]any{"dn": u.dn, "groups": gs})
	case "directory.unlock_account":
		if f.unlockFails > 0 {
			f.unlockFails--
			return sdk.Result{}, errors.New("ldap: busy")
		}
		was := u.locked
		u.locked = false
		return out(map[string]any{"dn": u.dn, "was_locked": was, "locked": false})
	case "directory.reset_password":
		u.password = "N3w-" + strings.Repeat("x", 16)
		u.locked = false
		r, _ := out(map[string]any{"dn": u.dn, "must_change": true, "secret": "password"})
		r.Secrets = map[string]string{"password": u.password}
		return r, nil
	case "directory.verify_credentials":
		valid := req.Credentials[goalSecretPrefix+"password"] == u.password
		return out(map[string]any{"dn": u.dn, "valid": valid})
	case "directory.add_to_group":
		u.groups = append(u.groups, p.Group)
		return out(map[string]any{"dn": u.dn})
	}
	return sdk.Result{}, fmt.Errorf("unknown operation %s", req.Operation)
}

func (f *fakeDirectory) user(name string) fakeUser {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.users[name]
}

// memAudit keeps records in memory and can be told to fail.
type memAudit struct {
	mu      sync.Mutex
	records []audit.Record
	failOn  func(audit.Record) bool
}

func (m *memAudit) Append(_ context.Context, r audit.Record) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failOn != nil && m.failOn(r) {
		return 0, errors.New("disk full")
	}
	m.records = append(m.records, r)
	return uint64(len(m.records) - 1), nil
}

func (m *memAudit) kinds() []audit.Kind {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []audit.Kind
	for _, r := range m.records {
		out = append(out, r.Kind)
	}
	return out
}

func (m *memAudit) dump() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	for _, r := range m.records {
		fmt.Fprintf(&b, "%s %s %s\n", r.Kind, r.Actor, r.Payload)
	}
	return b.String()
}

type staticCreds struct{}

func (staticCreds) For(context.Context, string) (sdk.Credentials, error) {
	return sdk.Credentials{"bind_dn": "cn=svc", "bind_password": "svc-secret"}, nil
}

// scriptedPlanner stands in for the local model: it answers with prepared
// steps, in order, then escalates. It records the states it was shown.
type scriptedPlanner struct {
	mu     sync.Mutex
	steps  []model.Step
	errs   []error
	always error // when set, every call fails with it
	states []model.State
}

func (p *scriptedPlanner) Next(_ context.Context, s model.State) (model.Step, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states = append(p.states, s)
	if p.always != nil {
		return model.Step{}, p.always
	}
	if len(p.errs) > 0 {
		err := p.errs[0]
		p.errs = p.errs[1:]
		if err != nil {
			return model.Step{}, err
		}
	}
	if len(p.steps) == 0 {
		return model.Step{Kind: model.StepEscalate, Rationale: "script ended", Meta: model.Meta{Planner: "model:scripted"}}, nil
	}
	st := p.steps[0]
	p.steps = p.steps[1:]
	st.Meta.Planner = "model:scripted"
	return st, nil
}

func action(name, params string) model.Step {
	return model.Step{Kind: model.StepAction, Action: name, Params: json.RawMessage(params), Rationale: "scripted"}
}

// testScope compiles testdata/scope.yaml with edits applied.
func testScope(t testing.TB, edits ...string) *policies.Scope {
	t.Helper()
	srcs, err := policies.ReadSources("testdata/scope.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(edits); i += 2 {
		if !strings.Contains(string(srcs[0].Data), edits[i]) {
			t.Fatalf("edit %q does not apply", edits[i])
		}
		srcs[0].Data = []byte(strings.Replace(string(srcs[0].Data), edits[i], edits[i+1], 1))
	}
	s, err := policies.Compile(policies.DefaultConfig(), srcs...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type fixture struct {
	dir       *fakeDirectory
	audit     *memAudit
	approvals *FileApprovals
	engine    *policies.Engine
	now       time.Time
}

func newFixture(t testing.TB, s *policies.Scope) *fixture {
	t.Helper()
	ap, err := NewFileApprovals(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{dir: newFakeDirectory(), audit: &memAudit{}, approvals: ap, engine: policies.NewEngine(s),
		now: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
}

func (f *fixture) agent(t testing.TB, m model.Planner) *Agent {
	t.Helper()
	a, err := New(DefaultConfig(), Deps{
		Policy: f.engine, Actions: f.dir, Audit: f.audit, Credentials: staticCreds{},
		Approvals: f.approvals, Model: m, Now: func() time.Time { return f.now },
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func goal(workflow, user, ticket string) Goal {
	return Goal{ID: "g-1", Client: "acme", Site: "hq", Agent: "account-helper", Workflow: workflow,
		Requester: "ticket:1", Subject: map[string]string{"user": user}, TicketText: ticket}
}

func statuses(o Outcome) []string {
	var out []string
	for _, s := range o.Steps {
		out = append(out, s.Action+":"+string(s.Status))
	}
	return out
}

func hasKind(kinds []audit.Kind, k audit.Kind) bool { return slices.Contains(kinds, k) }
