package policies

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

const typedScope = `apiVersion: sitewarden.dev/v1
kind: Scope
client: acme
sites: [hq]
maxOfflineValidity: 2d
catalog:
  - name: host
    version: 1.0.0
    sha256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
    actions: [host.disk_usage, host.cleanup]
agents:
  - name: janitor
    workflows:
      low_disk_space: {mode: autonomous, budget: {maxSteps: 5, maxActions: 3, maxWallTime: 1m}}
    allow:
      - id: all
        actions: ["host.*"]
playbooks:
  low_disk_space:
    - name: clean
      steps:
        - action: host.disk_usage
        - action: host.cleanup
          params: CLEANUP
validation:
  low_disk_space:
    action: host.disk_usage
`

// TestTypedPlaybookParams compiles playbooks whose parameters are lists,
// integers and booleans, checked against the shipped host plugin's
// parameter schema, and renders them for a goal with their types kept.
func TestTypedPlaybookParams(t *testing.T) {
	compile := func(cleanup string) (*Scope, error) {
		src := strings.Replace(typedScope, "CLEANUP", cleanup, 1)
		return Compile(DefaultConfig(), Source{Name: "typed.yaml", Data: []byte(src)})
	}
	s, err := compile(`{roots: [/var/tmp, "/srv/{{goal.app}}/cache"], older_than_days: 14, dry_run: false}`)
	if err != nil {
		t.Fatal(err)
	}
	pbs, err := s.Playbooks("low_disk_space", map[string]any{"app": "shop"})
	if err != nil || len(pbs) != 1 || len(pbs[0].Steps) != 2 {
		t.Fatalf("playbooks %+v %v", pbs, err)
	}
	got := pbs[0].Steps[1].Params
	want := map[string]any{"roots": []any{"/var/tmp", "/srv/shop/cache"}, "older_than_days": int64(14), "dry_run": false}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rendered %#v, want %#v", got, want)
	}
	raw, _ := json.Marshal(got)
	if string(raw) != `{"dry_run":false,"older_than_days":14,"roots":["/var/tmp","/srv/shop/cache"]}` {
		t.Fatalf("as JSON: %s", raw)
	}
	// Without the attribute the alternative is skipped, not the playbook.
	if pbs, err := s.Playbooks("low_disk_space", nil); err != nil || pbs[0].Skipped == "" {
		t.Fatalf("without app: %+v %v", pbs, err)
	}

	for _, c := range []struct{ params, want string }{
		{`{roots: [/var/tmp], older_than_days: "14"}`, `older_than_days of host.cleanup: want an integer, got the string "14"; write it without quotes`},
		{`{roots: /var/tmp, older_than_days: 14}`, `roots of host.cleanup: want a list, got the string "/var/tmp"`},
		{`{root: /var/tmp, older_than_days: 14}`, `host.cleanup takes no parameter root; it takes dry_run, older_than_days, roots`},
		{`{roots: [/var/tmp]}`, `host.cleanup needs parameter older_than_days`},
		{`{roots: [/var/tmp], older_than_days: 0}`, `0 is less than the minimum 1`},
		{`{roots: [], older_than_days: 7}`, `0 values, want at least 1`},
		{`{roots: [7], older_than_days: 7}`, `element 0: want a string`},
		{`{roots: [/var/tmp], older_than_days: 7, dry_run: "no"}`, `want true or false`},
		{`{roots: [[/a]], older_than_days: 7}`, `a list inside a list`},
		{`{roots: [/var/tmp], older_than_days: 7, dry_run: {a: 1}}`, `is not a parameter value`},
	} {
		_, err := compile(c.params)
		if !errors.Is(err, ErrInvalidScope) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("params %s: %v, want an invalid scope saying %q", c.params, err, c.want)
		}
	}
	if _, err := Compile(DefaultConfig(), Source{Name: "v.yaml", Data: []byte(strings.Replace(
		strings.Replace(typedScope, "CLEANUP", "{roots: [/var/tmp], older_than_days: 7}", 1),
		"    action: host.disk_usage\n", "    action: host.disk_usage\n    params: {volume: C}\n", 1))}); err == nil ||
		!strings.Contains(err.Error(), "host.disk_usage takes no parameters") {
		t.Errorf("validation step with a parameter the action lacks: %v", err)
	}
	// Without schemas (a third-party plugin) only the value shapes are checked.
	cfg := DefaultConfig()
	cfg.ParamSchemas = nil
	if _, err := Compile(cfg, Source{Name: "t.yaml", Data: []byte(strings.Replace(typedScope, "CLEANUP", `{root: /var/tmp, older_than_days: "14"}`, 1))}); err != nil {
		t.Errorf("no schemas: %v", err)
	}
}

// TestShippedParamSchemas checks the embedded schemas decode and cover the
// shipped plugins' actions.
func TestShippedParamSchemas(t *testing.T) {
	m := ShippedParamSchemas()
	for _, a := range []string{"host.cleanup", "host.disk_usage", "host.restart_service", "directory.find_user", "directory.unlock_account"} {
		var s map[string]any
		if err := json.Unmarshal(m[a], &s); err != nil || s["type"] != "object" {
			t.Errorf("schema of %s: %v %v", a, s, err)
		}
	}
}
