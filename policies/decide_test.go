package policies

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var testNow = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

func mustCompile(t testing.TB, paths ...string) *Scope {
	t.Helper()
	s, err := CompileFiles(DefaultConfig(), paths...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecide(t *testing.T) {
	s := mustCompile(t, "testdata/decide.yaml")
	type want struct {
		effect Effect
		rule   string
		mode   Mode
		reason string // substring
	}
	tests := []struct {
		name string
		req  Request
		want want
	}{
		{"default deny: unknown agent", Request{Agent: "nobody", Workflow: "w_auto", Action: "p.read"},
			want{Deny, RuleDefaultDeny, "", "agent nobody is not defined in the scope of client acme"}},
		{"default deny: unknown workflow", Request{Agent: "tester", Workflow: "w_other", Action: "p.read"},
			want{Deny, RuleDefaultDeny, "", "does not handle workflow w_other"}},
		{"default deny: undeclared action", Request{Agent: "tester", Workflow: "w_auto", Action: "p.format_disk"},
			want{Deny, RuleDefaultDeny, ModeAutonomous, "no rule allows p.format_disk"}},
		{"default deny: action not allowed in this workflow", Request{Agent: "tester", Workflow: "w_shadow", Action: "q.one"},
			want{Deny, RuleDefaultDeny, ModeShadow, "no rule allows q.one"}},
		{"pattern p.* allows", Request{Agent: "tester", Workflow: "w_auto", Action: "p.admin_reset"},
			want{Allow, "allow-all-p", ModeAutonomous, "allowed by rule allow-all-p: everything of p"}},
		{"deny wins over a pattern allow", Request{Agent: "tester", Workflow: "w_auto", Action: "p.delete"},
			want{Deny, "deny-delete", ModeAutonomous, "denied by rule deny-delete"}},
		{"conditional deny wins", Request{Agent: "tester", Workflow: "w_auto", Action: "p.read", Target: map[string]any{"admin": true}},
			want{Deny, "deny-admin-targets", ModeAutonomous, ""}},
		{"conditional deny does not hold", Request{Agent: "tester", Workflow: "w_auto", Action: "p.read", Target: map[string]any{"admin": false}},
			want{Allow, "allow-all-p", ModeAutonomous, ""}},
		{"approval beats allow", Request{Agent: "tester", Workflow: "w_auto", Action: "p.write", Goal: map[string]any{"risky": true}},
			want{NeedsApproval, "write-risky-needs-approval", ModeAutonomous, "requires a supervisor's approval"}},
		{"deny beats approval", Request{Agent: "tester", Workflow: "w_auto", Action: "p.write", Goal: map[string]any{"risky": true}, Target: map[string]any{"admin": true}},
			want{Deny, "deny-admin-targets", ModeAutonomous, ""}},
		{"approval condition false: allow", Request{Agent: "tester", Workflow: "w_auto", Action: "p.write", Goal: map[string]any{"risky": false}},
			want{Allow, "allow-all-p", ModeAutonomous, ""}},
		{"mode approve turns allow into needs_approval", Request{Agent: "tester", Workflow: "w_approve", Action: "p.read"},
			want{NeedsApproval, "allow-all-p", ModeApprove, "mode approve requires a supervisor's approval"}},
		{"mode shadow is reported", Request{Agent: "tester", Workflow: "w_shadow", Action: "p.read"},
			want{Allow, "allow-all-p", ModeShadow, ""}},
		{"mode off denies", Request{Agent: "tester", Workflow: "w_off", Action: "p.read"},
			want{Deny, RuleModeOff, ModeOff, "workflow w_off is off for agent tester"}},
		{"variables agent, workflow, action", Request{Agent: "tester", Workflow: "w_auto", Action: "q.one"},
			want{Allow, "q-one-for-me", ModeAutonomous, ""}},
		{"variable now: before", Request{Agent: "tester", Workflow: "w_auto", Action: "q.two", Now: testNow},
			want{Allow, "q-two-until-june", ModeAutonomous, ""}},
		{"variable now: after", Request{Agent: "tester", Workflow: "w_auto", Action: "q.two", Now: time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)},
			want{Deny, RuleDefaultDeny, ModeAutonomous, "no allow rule's condition holds for q.two"}},
		{"variable target: int", Request{Agent: "tester", Workflow: "w_auto", Action: "q.three", Target: map[string]any{"count": int64(6)}},
			want{Allow, "q-three-when-count", ModeAutonomous, ""}},
		{"variable target: false", Request{Agent: "tester", Workflow: "w_auto", Action: "q.three", Target: map[string]any{"count": int64(5)}},
			want{Deny, RuleDefaultDeny, ModeAutonomous, ""}},
		{"allow condition error does not allow", Request{Agent: "tester", Workflow: "w_auto", Action: "q.three"},
			want{Deny, RuleDefaultDeny, ModeAutonomous, ""}},
		{"allow condition of the wrong type does not allow", Request{Agent: "tester", Workflow: "w_auto", Action: "q.three", Target: map[string]any{"count": "many"}},
			want{Deny, RuleDefaultDeny, ModeAutonomous, ""}},
		{"deny condition error denies (fail closed)", Request{Agent: "tester", Workflow: "w_auto", Action: "q.four"},
			want{Deny, "deny-four-if-x", ModeAutonomous, "could not be evaluated"}},
		{"deny condition false: allow", Request{Agent: "tester", Workflow: "w_auto", Action: "q.four", Target: map[string]any{"x": "z"}},
			want{Allow, "q-four", ModeAutonomous, ""}},
		{"variable goal and list target", Request{Agent: "tester", Workflow: "w_auto", Action: "q.five",
			Goal: map[string]any{"ticket": "T-1"}, Target: map[string]any{"tags": []any{"x", "y"}}},
			want{Allow, "q-five-goal", ModeAutonomous, ""}},
		{"[]string target works too", Request{Agent: "tester", Workflow: "w_auto", Action: "q.five",
			Goal: map[string]any{"ticket": "T-1"}, Target: map[string]any{"tags": []string{"x", "y"}}},
			want{Allow, "q-five-goal", ModeAutonomous, ""}},
		{"variable goal: false", Request{Agent: "tester", Workflow: "w_auto", Action: "q.five",
			Goal: map[string]any{"ticket": "X-1"}, Target: map[string]any{"tags": []any{"x", "y"}}},
			want{Deny, RuleDefaultDeny, ModeAutonomous, ""}},
		{"oversized target fails closed", Request{Agent: "tester", Workflow: "w_auto", Action: "q.four",
			Target: map[string]any{"x": strings.Repeat("a", MaxAttrString+1)}},
			want{Deny, "deny-four-if-x", ModeAutonomous, "exceeds"}},
		{"unsupported attribute type fails closed", Request{Agent: "tester", Workflow: "w_auto", Action: "q.four",
			Target: map[string]any{"x": struct{}{}}},
			want{Deny, "deny-four-if-x", ModeAutonomous, "unsupported value type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.req.Now.IsZero() {
				tt.req.Now = testNow
			}
			d := s.Decide(tt.req)
			if d.Effect != tt.want.effect || d.Rule != tt.want.rule || d.Mode != tt.want.mode {
				t.Fatalf("Decide = %s by %q in mode %q (%s); want %s by %q in mode %q",
					d.Effect, d.Rule, d.Mode, d.Reason, tt.want.effect, tt.want.rule, tt.want.mode)
			}
			if !strings.Contains(d.Reason, tt.want.reason) {
				t.Fatalf("reason %q does not contain %q", d.Reason, tt.want.reason)
			}
			if d.Reason == "" {
				t.Fatal("empty reason")
			}
			if want := d.Effect == Allow && d.Mode == ModeAutonomous; d.MayRunNow() != want {
				t.Fatalf("MayRunNow = %v, want %v", d.MayRunNow(), want)
			}
		})
	}
}

func TestDecideNilScopeAndEngine(t *testing.T) {
	var e Engine
	d := e.Decide(Request{Agent: "tester", Workflow: "w_auto", Action: "p.read"})
	if d.Effect != Deny || d.Rule != RuleNoScope {
		t.Fatalf("empty engine: %+v", d)
	}
	s := mustCompile(t, "testdata/decide.yaml")
	if old := e.Swap(s); old != nil {
		t.Fatalf("Swap returned %v, want nil", old)
	}
	if d := e.Decide(Request{Agent: "tester", Workflow: "w_auto", Action: "p.read"}); d.Effect != Allow {
		t.Fatalf("after swap: %+v", d)
	}
	if e.Scope() != s || NewEngine(s).Scope() != s {
		t.Fatal("Scope() does not return the scope in use")
	}
}

// TestEngineSwapConcurrent decides while the scope is swapped; run with
// -race. Every decision must come wholly from one of the two scopes.
func TestEngineSwapConcurrent(t *testing.T) {
	a := mustCompile(t, "testdata/decide.yaml")
	b := mustCompile(t, "packs")
	e := NewEngine(a)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				d := e.Decide(Request{Agent: "tester", Workflow: "w_auto", Action: "p.read", Now: testNow})
				if d.Effect == Allow && d.Rule != "allow-all-p" || d.Effect == Deny && d.Rule != RuleDefaultDeny {
					errs <- fmt.Errorf("mixed decision %+v", d)
					return
				}
			}
		}()
	}
	for i := 0; i < 200; i++ {
		if i%2 == 0 {
			e.Swap(b)
		} else {
			e.Swap(a)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestScopeAccessors(t *testing.T) {
	s := mustCompile(t, "testdata/decide.yaml")
	if s.Client() != "acme" || !slices.Equal(s.Sites(), []string{"branch", "hq"}) || s.MaxOfflineValidity() != 48*time.Hour {
		t.Fatalf("client %q sites %v offline %s", s.Client(), s.Sites(), s.MaxOfflineValidity())
	}
	cat := s.Catalog()
	if len(cat) != 2 || cat[0].Name != "p" || cat[0].Version != "1.0.0" || cat[0].SHA256 != strings.Repeat("a", 64) ||
		!slices.Equal(cat[0].Actions, []string{"p.admin_reset", "p.delete", "p.read", "p.write"}) {
		t.Fatalf("catalog %+v", cat)
	}
	cat[0].Actions[0] = "mutated"
	if p, ok := s.Plugin("p"); !ok || p.Actions[0] != "p.admin_reset" {
		t.Fatalf("catalog is not a copy: %+v", p)
	}
	if _, ok := s.Plugin("zz"); ok {
		t.Fatal("unknown plugin found")
	}
	if !slices.Equal(s.Agents(), []string{"tester"}) || s.Rules() != 10 {
		t.Fatalf("agents %v rules %d", s.Agents(), s.Rules())
	}
	a, ok := s.Agent("tester")
	if !ok || a.Name() != "tester" || !slices.Equal(a.Workflows(), []string{"w_approve", "w_auto", "w_off", "w_shadow"}) {
		t.Fatalf("agent %v", a)
	}
	if !a.MayRead("user", "mail") || !a.MayRead("host", "name") || a.MayRead("user", "password") || a.MayRead("group", "name") {
		t.Fatal("MayRead")
	}
	if ds := a.DataScope(); !slices.Equal(ds["user"], []string{"displayName", "mail"}) {
		t.Fatalf("data scope %v", ds)
	}
	w, ok := s.Workflow("tester", "w_auto")
	if !ok || w.Mode() != ModeAutonomous || w.Agent() != "tester" || w.Name() != "w_auto" ||
		w.Budget() != (Budget{MaxSteps: 5, MaxActions: 3, MaxWallTime: 90 * time.Second}) {
		t.Fatalf("workflow %+v", w)
	}
	// p.delete has an unconditional deny; conditional denies keep the action.
	want := []string{"p.admin_reset", "p.read", "p.write", "q.five", "q.four", "q.one", "q.three", "q.two"}
	if got := w.AllowedActions(); !slices.Equal(got, want) {
		t.Fatalf("AllowedActions = %v, want %v", got, want)
	}
	if w, _ := s.Workflow("tester", "w_shadow"); slices.Contains(w.AllowedActions(), "q.one") {
		t.Fatal("q.one is limited to w_auto")
	}
	if _, ok := s.Workflow("nobody", "w_auto"); ok {
		t.Fatal("unknown agent has a workflow")
	}
	if s.Bundle() != (BundleInfo{}) {
		t.Fatal("a scope from files has bundle info")
	}
}

func TestPlaybooks(t *testing.T) {
	s := mustCompile(t, "testdata/decide.yaml")
	pbs, err := s.Playbooks("w_auto", map[string]any{"user": "dana", "ticket": int64(42)})
	if err != nil {
		t.Fatal(err)
	}
	if len(pbs) != 2 || pbs[0].Name != "first" || pbs[1].Name != "second" || pbs[1].Steps[0].Action != "q.one" {
		t.Fatalf("playbooks %+v", pbs)
	}
	p := pbs[0].Steps[0]
	if p.Action != "p.read" || p.Params["id"] != "dana" || p.Params["note"] != "ticket 42 for dana" || p.Params["fixed"] != "yes" {
		t.Fatalf("rendered %+v", p)
	}
	// A missing attribute drops only the alternative that needs it.
	pbs, err = s.Playbooks("w_auto", map[string]any{"user": "dana"})
	if err != nil || len(pbs) != 2 || pbs[0].Steps != nil || !strings.Contains(pbs[0].Skipped, `the goal has no attribute "ticket"`) ||
		pbs[1].Skipped != "" || len(pbs[1].Steps) != 1 {
		t.Fatalf("missing attribute: %+v %v", pbs, err)
	}
	if pbs, err := s.Playbooks("w_shadow", nil); pbs != nil || err != nil {
		t.Fatalf("no playbook: %v %v", pbs, err)
	}
	st, ok, err := s.Validation("w_auto", map[string]any{"user": "dana"})
	if err != nil || !ok || st.Action != "p.read" || st.Params["id"] != "dana" {
		t.Fatalf("validation %+v %v %v", st, ok, err)
	}
	if _, ok, err := s.Validation("w_auto", nil); !ok || !errors.Is(err, ErrTemplate) {
		t.Fatalf("validation without user: %v %v", ok, err)
	}
	if _, ok, _ := s.Validation("w_off", nil); ok {
		t.Fatal("validation for w_off")
	}
}

func TestMatchPattern(t *testing.T) {
	for _, tt := range []struct {
		pat, s string
		want   bool
	}{
		{"directory.*", "directory.unlock_account", true},
		{"directory.*", "directoryx.unlock", false},
		{"directory.unlock_account", "directory.unlock_account", true},
		{"directory.unlock", "directory.unlock_account", false},
		{"*", "host.cleanup", true},
		{"*.restart_*", "host.restart_service", true},
		{"*.restart_*", "host.service_status", false},
		{"host.*_status", "host.service_status", true},
		{"host.*_status", "host.service_status_x", false},
		{"**", "a.b", true},
		{"a.*b*c", "a.xbyc", true},
		{"a.*b*c", "a.xbycd", false},
		{"", "", true},
		{"a", "", false},
		{strings.Repeat("*a", 60) + "b", strings.Repeat("a", 120), false}, // no exponential backtracking
	} {
		if got := matchPattern(tt.pat, tt.s); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tt.pat, tt.s, got, tt.want)
		}
	}
}

func TestDurations(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"7d", 7 * 24 * time.Hour, "7d"}, {"90s", 90 * time.Second, "1m30s"}, {"10m", 10 * time.Minute, "10m"},
		{"1h", time.Hour, "1h"}, {"48h", 48 * time.Hour, "2d"}, {"1h30m", 90 * time.Minute, "1h30m"},
	} {
		d, err := ParseDuration(tt.in)
		if err != nil || d != tt.want || FormatDuration(d) != tt.out {
			t.Errorf("ParseDuration(%q) = %v, %v; Format = %q, want %v, %q", tt.in, d, err, FormatDuration(d), tt.want, tt.out)
		}
	}
	for _, bad := range []string{"", "7", "d", "-1d", "1.5d", "1w", "99999d"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.MaxCELCost = 0 },
		func(c *Config) { c.MaxExpressionBytes = 0 },
		func(c *Config) { c.MaxDocumentBytes = -1 },
		func(c *Config) { c.MaxRules = 0 },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Validate(%+v) = %v, want ErrInvalidConfig", c, err)
		}
		if _, err := Compile(c, Source{Name: "x", Data: []byte("{}")}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Compile with %+v = %v", c, err)
		}
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestEqualsIgnoreCase(t *testing.T) {
	src := header + `  - name: helper
    workflows:
      account_unlock: {mode: autonomous, budget: {maxSteps: 3, maxActions: 2, maxWallTime: 5m}}
    allow:
      - id: same-user
        actions: [directory.unlock_account]
        when: target.login.equalsIgnoreCase(goal.user)
`
	s, err := Compile(DefaultConfig(), Source{Name: "eq.yaml", Data: []byte(src)})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		login, user any
		want        Effect
	}{
		{"Dana", "dANA", Allow},
		{"Straße", "STRASSE", Deny}, // EqualFold is simple folding, not full case mapping
		{"Σίσυφος", "ΣΊΣΥΦΟΣ", Allow},
		{"dana", "mulder", Deny},
		{int64(1), "1", Deny}, // wrong type: no overload, the allow does not hold
	} {
		d := s.Decide(Request{Agent: "helper", Workflow: "account_unlock", Action: "directory.unlock_account",
			Target: map[string]any{"login": tt.login}, Goal: map[string]any{"user": tt.user}, Now: testNow})
		if d.Effect != tt.want {
			t.Errorf("%v equalsIgnoreCase %v: %s (%s), want %s", tt.login, tt.user, d.Effect, d.Reason, tt.want)
		}
	}
}
