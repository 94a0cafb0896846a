package policies

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// header is a valid start of a scope document; line numbers in the cases
// below count from it (header is 10 lines).
const header = `apiVersion: sitewarden.dev/v1
kind: Scope
client: acme
maxOfflineValidity: 7d
catalog:
  - name: directory
    version: 1.0.0
    sha256: cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc
    actions: [directory.unlock_account, directory.find_user]
agents:
`

const agentOK = `  - name: helper
    workflows:
      account_unlock: {mode: autonomous, budget: {maxSteps: 3, maxActions: 2, maxWallTime: 5m}}
    allow:
      - id: unlock
        actions: [directory.unlock_account]
`

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		srcs []Source
		want string
	}{
		{"unknown key", []Source{{"a.yaml", []byte(header + agentOK + "    colour: blue\n")}},
			`a.yaml:17:5: invalid scope: unknown field "colour"; remove it or fix its spelling`},
		{"unknown top-level key", []Source{{"a.yaml", []byte("apiVersion: sitewarden.dev/v1\nkind: Scope\nclinet: acme\n")}},
			`a.yaml:3:1: invalid scope: unknown field "clinet"`},
		{"wrong type", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "maxSteps: 3", "maxSteps: three", 1))}},
			`a.yaml:13:`},
		{"wrong type names the fix", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "maxSteps: 3", "maxSteps: three", 1))}},
			`fix the value's type`},
		{"duplicate YAML key", []Source{{"a.yaml", []byte(header + agentOK + "    allow: []\n")}},
			`a.yaml:17:5: invalid scope: mapping key "allow" already defined`},
		{"YAML syntax", []Source{{"a.yaml", []byte(header + "  - name: [unclosed\n")}},
			`a.yaml:11:`},
		{"duplicate agent in one file", []Source{{"a.yaml", []byte(header + agentOK + agentOK)}},
			`a.yaml:17:11: invalid scope: duplicate agent "helper" (first defined at a.yaml:11:9); merge the two definitions or rename one`},
		{"duplicate agent across files", []Source{{"a.yaml", []byte(header + agentOK)}, {"b.yaml", []byte(header + agentOK)}},
			`b.yaml:11:11: invalid scope: duplicate agent "helper" (first defined at a.yaml:11:9)`},
		{"action no plugin declares", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "directory.unlock_account]", "directory.delete_user]", 1))}},
			`a.yaml:16:19: invalid scope: rule unlock: action "directory.delete_user" is not declared by any trusted plugin in the catalog; declared: directory.find_user, directory.unlock_account`},
		{"pattern matching nothing", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "directory.unlock_account]", "host.*]", 1))}},
			`a.yaml:16:19: invalid scope: rule unlock: action "host.*" is not declared`},
		{"CEL not boolean", []Source{{"a.yaml", []byte(header + agentOK + "        when: target.enabled\n")}},
			`a.yaml:17:15: invalid scope: rule unlock: condition does not compile: condition has type dyn, want bool; compare explicitly, e.g. target.enabled == true`},
		{"CEL string result", []Source{{"a.yaml", []byte(header + agentOK + "        when: agent + \"x\"\n")}},
			`condition has type string, want bool`},
		{"CEL undeclared variable", []Source{{"a.yaml", []byte(header + agentOK + "        when: user.name == \"x\"\n")}},
			`a.yaml:17:15: invalid scope: rule unlock: condition does not compile: 1:1: undeclared reference to 'user'`},
		{"CEL syntax", []Source{{"a.yaml", []byte(header + agentOK + "        when: agent ==\n")}},
			`a.yaml:17:15: invalid scope: rule unlock: condition does not compile: `},
		{"CEL type mismatch", []Source{{"a.yaml", []byte(header + agentOK + "        when: agent == 3\n")}},
			`found no matching overload for '_==_' applied to '(string, int)'`},
		{"CEL too costly", []Source{{"a.yaml", []byte(header + agentOK +
			"        when: target.a.all(x, target.a.all(y, target.a.all(z, x == y && y == z)))\n")}},
			`condition may cost up to`},
		{"bad mode", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "mode: autonomous", "mode: yolo", 1))}},
			`a.yaml:13:30: invalid scope: mode "yolo": want off, shadow, approve or autonomous`},
		{"zero budget", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "maxActions: 2", "maxActions: 0", 1))}},
			`a.yaml:13:76: invalid scope: budget.maxActions 0: want 1..1000`},
		{"bad wall time", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "maxWallTime: 5m", "maxWallTime: soon", 1))}},
			`budget.maxWallTime "soon": want a duration from 1s to 24h`},
		{"steps over budget", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "maxSteps: 3", "maxSteps: 5000", 1))}},
			`budget.maxSteps 5000: want 1..1000`},
		{"no client", []Source{{"a.yaml", []byte(strings.Replace(header, "client: acme\n", "", 1) + agentOK)}},
			`a.yaml:1: invalid scope: client is required`},
		{"client mismatch", []Source{{"a.yaml", []byte(header + agentOK)}, {"b.yaml", []byte(strings.Replace(header, "acme", "globex", 1))}},
			`b.yaml:3:9: invalid scope: client "globex", but a.yaml:3:9 says "acme"; one scope serves one client`},
		{"no offline validity", []Source{{"a.yaml", []byte(strings.Replace(header, "maxOfflineValidity: 7d\n", "", 1) + agentOK)}},
			`a.yaml:3:9: invalid scope: maxOfflineValidity is required`},
		{"offline validity conflict", []Source{{"a.yaml", []byte(header + agentOK)}, {"b.yaml", []byte(strings.Replace(header, "7d", "3d", 1))}},
			`b.yaml:4:21: invalid scope: maxOfflineValidity 3d, but a.yaml:4:21 says 7d; state it once`},
		{"offline validity too long", []Source{{"a.yaml", []byte(strings.Replace(header, "7d", "365d", 1) + agentOK)}},
			`maxOfflineValidity 365d: want between 1m and 90d`},
		{"bad sha256", []Source{{"a.yaml", []byte(strings.Replace(header, "cccc", "zz", 1) + agentOK)}},
			`a.yaml:8:13: invalid scope: plugin directory: sha256 must be 64 lowercase hex digits`},
		{"action of another plugin", []Source{{"a.yaml", []byte(strings.Replace(header, "directory.find_user", "host.cleanup", 1) + agentOK)}},
			`a.yaml:9:41: invalid scope: action "host.cleanup": write it as directory.ACTION`},
		{"conflicting plugin builds", []Source{{"a.yaml", []byte(header + agentOK)}, {"b.yaml", []byte(strings.Replace(header, "1.0.0", "1.0.1", 1))}},
			`b.yaml:6:9: invalid scope: plugin directory 1.0.1 (sha256 cccccccccccc…) is also trusted as 1.0.0`},
		{"duplicate rule id", []Source{{"a.yaml", []byte(header + agentOK + "      - id: unlock\n        actions: [directory.find_user]\n")}},
			`a.yaml:17:13: invalid scope: duplicate rule id "unlock" (first used at a.yaml:15:13)`},
		{"rule without id", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "id: unlock", "description: x", 1))}},
			`a.yaml:15:20: invalid scope: rule id "": every rule needs an id`},
		{"rule without actions", []Source{{"a.yaml", []byte(header + agentOK + "      - id: other\n")}},
			`a.yaml:17:11: invalid scope: rule other names no actions`},
		{"rule for an unhandled workflow", []Source{{"a.yaml", []byte(header + agentOK + "        workflows: [password_reset]\n")}},
			`a.yaml:17:21: invalid scope: rule unlock: agent helper does not handle workflow "password_reset"; handled: account_unlock`},
		{"bad approval", []Source{{"a.yaml", []byte(header + agentOK + "        approval: maybe\n")}},
			`a.yaml:17:19: invalid scope: rule unlock: approval "maybe"; the only value is 'required'`},
		{"deny with approval", []Source{{"a.yaml", []byte(header + agentOK + "    deny:\n      - id: d\n        actions: [directory.find_user]\n        approval: required\n")}},
			`a.yaml:20:19: invalid scope: rule d: a deny rule cannot require approval`},
		{"agent without allow", []Source{{"a.yaml", []byte(header + "  - name: idle\n    workflows:\n      w: {mode: off, budget: {maxSteps: 1, maxActions: 1, maxWallTime: 1s}}\n")}},
			`a.yaml:11:11: invalid scope: agent idle has no allow rules`},
		{"agent without workflows", []Source{{"a.yaml", []byte(header + "  - name: idle\n")}},
			`a.yaml:11:9: invalid scope: agent idle handles no workflows`},
		{"bad agent name", []Source{{"a.yaml", []byte(header + strings.Replace(agentOK, "name: helper", "name: Helper!", 1))}},
			`a.yaml:11:11: invalid scope: agent name "Helper!"`},
		{"data kind without attributes", []Source{{"a.yaml", []byte(header + agentOK + "    data: {user: []}\n")}},
			`a.yaml:17:18: invalid scope: data kind user lists no attributes`},
		{"playbook for unknown workflow", []Source{{"a.yaml", []byte(header + agentOK + "playbooks:\n  other: [{name: a, steps: [{action: directory.find_user}]}]\n")}},
			`a.yaml:18:10: invalid scope: playbook for workflow "other", which no agent handles`},
		{"playbook with undeclared action", []Source{{"a.yaml", []byte(header + agentOK + "playbooks:\n  account_unlock:\n    - name: a\n      steps: [{action: directory.nuke}]\n")}},
			`a.yaml:20:24: invalid scope: action "directory.nuke" is not declared by any trusted plugin`},
		{"playbook bad placeholder", []Source{{"a.yaml", []byte(header + agentOK + "playbooks:\n  account_unlock:\n    - name: a\n      steps: [{action: directory.find_user, params: {login: \"{{target.user}}\"}}]\n")}},
			`a.yaml:20:61: invalid scope: parameter login: placeholder {{target.user}}: only {{goal.ATTRIBUTE}} is available`},
		{"playbook unclosed placeholder", []Source{{"a.yaml", []byte(header + agentOK + "playbooks:\n  account_unlock:\n    - name: a\n      steps: [{action: directory.find_user, params: {login: \"{{goal.user\"}}]\n")}},
			`unclosed placeholder`},
		{"duplicate playbook across files", []Source{
			{"a.yaml", []byte(header + agentOK + "playbooks:\n  account_unlock: [{name: a, steps: [{action: directory.find_user}]}]\n")},
			{"b.yaml", []byte(strings.TrimSuffix(header, "agents:\n") + "playbooks:\n  account_unlock: [{name: a, steps: [{action: directory.find_user}]}]\n")}},
			`b.yaml:11:19: invalid scope: duplicate playbook for workflow "account_unlock" (first defined at a.yaml:18:19)`},
		{"validation expecting a list", []Source{{"a.yaml", []byte(header + agentOK + "validation:\n  account_unlock: {action: directory.find_user, expect: {groups: [a]}}\n")}},
			`expect groups: only a string, number or boolean can be expected`},
		{"validation for unknown workflow", []Source{{"a.yaml", []byte(header + agentOK + "validation:\n  other: {action: directory.find_user}\n")}},
			`a.yaml:18:10: invalid scope: validation for workflow "other", which no agent handles`},
		{"wrong apiVersion", []Source{{"a.yaml", []byte(strings.Replace(header, "sitewarden.dev/v1", "sitewarden.dev/v2", 1))}},
			`a.yaml:1:13: invalid scope: apiVersion "sitewarden.dev/v2", want "sitewarden.dev/v1"`},
		{"a test file given as scope", []Source{{"a_test.yaml", []byte("apiVersion: sitewarden.dev/v1\nkind: ScopeTest\n")}},
			`a_test.yaml:2:7: invalid scope: kind ScopeTest is a policy test; run it with 'sitewarden scope test a_test.yaml'`},
		{"wrong kind", []Source{{"a.yaml", []byte("apiVersion: sitewarden.dev/v1\nkind: Policy\n")}},
			`a.yaml:2:7: invalid scope: kind "Policy", want "Scope"`},
		{"empty file", []Source{{"a.yaml", []byte("# nothing\n")}},
			`invalid scope: a.yaml: no documents`},
		{"no sources", nil, `invalid scope: no scope documents given`},
		{"too big", []Source{{"a.yaml", bytes.Repeat([]byte("#"), 2<<20)}},
			`a.yaml: invalid scope: 2097152 bytes, limit 1048576`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(DefaultConfig(), tt.srcs...)
			if !errors.Is(err, ErrInvalidScope) {
				t.Fatalf("err = %v, want ErrInvalidScope", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error\n  %s\ndoes not contain\n  %s", err, tt.want)
			}
		})
	}
}

// TestCompileSplit: a scope split over files and documents, in any order,
// compiles to the same canonical bytes; plugin entries of the same build
// merge their actions.
func TestCompileSplit(t *testing.T) {
	whole := mustCompile(t, "packs")
	var all []Source
	srcs, err := ReadSources("packs")
	if err != nil {
		t.Fatal(err)
	}
	for i := len(srcs) - 1; i >= 0; i-- {
		all = append(all, srcs[i])
	}
	reversed, err := Compile(DefaultConfig(), all...)
	if err != nil {
		t.Fatal(err)
	}
	var joined []byte
	for _, s := range srcs {
		joined = append(joined, "---\n"...)
		joined = append(joined, s.Data...)
	}
	multi, err := Compile(DefaultConfig(), Source{Name: "all.yaml", Data: joined})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(whole.Canonical(), reversed.Canonical()) || !bytes.Equal(whole.Canonical(), multi.Canonical()) {
		t.Fatal("canonical bytes depend on file order or split")
	}
	back, err := DecodePayload(whole.Canonical())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Canonical(), whole.Canonical()) {
		t.Fatal("canonical bytes do not round-trip")
	}
	if len(whole.Agents()) != 4 || whole.Rules() < 15 {
		t.Fatalf("agents %v rules %d", whole.Agents(), whole.Rules())
	}
	host, ok := whole.Plugin("host")
	if !ok || len(host.Actions) != 5 {
		t.Fatalf("host plugin %+v", host)
	}
	// A layout change (comments, flow vs block style, key order) keeps the bytes.
	a := mustCompile(t, "testdata/decide.yaml")
	restyled := `# restyled
kind: Scope
apiVersion: sitewarden.dev/v1
maxOfflineValidity: 48h
sites: [hq, branch, hq]
client: acme
` + strings.SplitN(string(mustRead(t, "testdata/decide.yaml")), "maxOfflineValidity: 2d\n", 2)[1]
	b, err := Compile(DefaultConfig(), Source{Name: "restyled.yaml", Data: []byte(restyled)})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Canonical(), b.Canonical()) {
		t.Fatalf("restyled scope has different canonical bytes:\n%s\n---\n%s", a.Canonical(), b.Canonical())
	}
}

func TestReadSourcesErrors(t *testing.T) {
	if _, err := ReadSources("testdata/nonexistent"); err == nil {
		t.Fatal("missing path accepted")
	}
	if _, err := ReadSources(t.TempDir()); !errors.Is(err, ErrInvalidScope) || !strings.Contains(err.Error(), "no *.yaml scope files") {
		t.Fatalf("empty dir: %v", err)
	}
}
